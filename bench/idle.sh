#!/usr/bin/env bash
# bench/idle.sh: the stop benchmark for idle threads (issue 10, item 8).
# bench/idle.c keeps THREADS threads waiting in a condition variable, poll
# or a sleep while its main thread allocates, with a cycle forced every
# 50000 allocations (gcstress), so every stop meets every idle thread.
#
#   bash bench/idle.sh [--threads 10,1000] [--kinds cond,poll,sleep]
#                      [--seconds 5] [--build DIR]
#
# Configs, in one session: jemalloc (the allocation rate without
# collection), pacegc-stopall (PACEGC_GODEBUG=stopblocked=1: every thread
# signalled at every stop, as before src/blocking.c) and pacegc (threads
# inside a blocking call left alone).  The table: each cycle's stop from
# the gctrace line (a+b+c: the world is stopped throughout), p50, p99 and
# max, and the main thread's allocation steps per second as a ratio to
# pacegc-stopall's (jemalloc's row: how much the forced cycles cost at
# all).  Exit status 0 all ran, 1 otherwise, 2 usage.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$SRC/../build
THREADS=10,1000
KINDS=cond,poll,sleep
SECONDS_RUN=5
die() { echo "idle.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--threads) THREADS=$2; shift ;;
	--kinds) KINDS=$2; shift ;;
	--seconds) SECONDS_RUN=$2; shift ;;
	--build) BUILD=$2; shift ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bench/idle
[ -x "$BIN" ] || die "$BIN is missing: build first (ninja -C $BUILD)"
LIB=$BUILD/src/libpacegc.so
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n 1 || true)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-idle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

failed=0
IFS=, read -r -a threads <<<"$THREADS"
IFS=, read -r -a kinds <<<"$KINDS"
for n in "${threads[@]}"; do
	for k in "${kinds[@]}"; do
		for c in jemalloc pacegc-stopall pacegc; do
			case $c in
			jemalloc) [ -n "$JEMALLOC" ] || continue; envs=(LD_PRELOAD="$JEMALLOC") ;;
			pacegc-stopall) envs=(LD_PRELOAD="$LIB"
				PACEGC_GODEBUG=gctrace=1,gcstress=50000,stopblocked=1) ;;
			pacegc) envs=(LD_PRELOAD="$LIB" PACEGC_GODEBUG=gctrace=1,gcstress=50000) ;;
			esac
			base=$WORK/$n.$k.$c
			env "${envs[@]}" "$BIN" "$n" "$k" "$SECONDS_RUN" >"$base.out" 2>"$base.err" ||
				{ echo "idle.sh: $c, $n $k threads failed" >&2; failed=1; }
		done
	done
done

python3 - "$WORK" "$SECONDS_RUN" "$THREADS" "$KINDS" <<'PY' || failed=1
import os, re, sys
work, seconds = sys.argv[1], float(sys.argv[2])
GC = re.compile(r"^gc \d+ @[0-9.]+s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock")
OUT = re.compile(r"^idle: \d+ threads \w+, steps (\d+)")
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else None
print("| threads | waiting in | config | cycles | stop p50 ms | stop p99 ms | stop max ms | steps/s vs pacegc-stopall |")
print("|---|---|---|---|---|---|---|---|")
for n in sys.argv[3].split(","):
    for k in sys.argv[4].split(","):
        steps = {}
        for c in ("jemalloc", "pacegc-stopall", "pacegc"):
            base = os.path.join(work, "%s.%s.%s" % (n, k, c))
            m = OUT.match(open(base + ".out").read()) if os.path.exists(base + ".out") else None
            if m:
                steps[c] = int(m.group(1)) / seconds
        ref = steps.get("pacegc-stopall")
        for c in steps:
            base = os.path.join(work, "%s.%s.%s" % (n, k, c))
            stops = [sum(float(x) for x in g.groups()) for g in
                     (GC.match(l) for l in open(base + ".err", errors="replace")) if g]
            f = lambda v: "%.2f" % v if v is not None else "-"
            print("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
                n, k, c, len(stops), f(pct(stops, 0.5)), f(pct(stops, 0.99)),
                f(max(stops) if stops else None), "%.2fx" % (steps[c] / ref) if ref else "n/a"))
PY
exit $failed
