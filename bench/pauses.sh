#!/usr/bin/env bash
# bench/pauses.sh: the pause benchmark (issue 10).  bench/pauses.c (a live
# heap of linked 64-byte nodes and a share of 4 KiB buffers, churned by
# relinking) and its twin bench/go/pauses.go, with the pauses measured two
# ways: from the gctrace lines (each cycle's stops: the "a" and "c" clocks,
# all three when the world stops throughout)
# and as the late wake-ups of a thread sleeping 200 us in a loop.
#
#   bash bench/pauses.sh [--live 100,1024] [--seconds 10] [--threads 1]
#                        [--runs 1] [--build DIR] [--configs a,b,...]
#
# Configs, each run in the same session, interleaved per run:
#   glibc, jemalloc   the C program freeing what it unlinks: the plain
#                     run's wake-ups, the baseline for late wake-ups;
#   pacegc-stw        dropping it, under pacegc marking with the world
#                     stopped (PACEGC_GODEBUG=concurrent=0);
#   pacegc            dropping it, under pacegc marking beside it
#                     (PACEGC_GODEBUG=concurrent=1);
#   go                the Go twin under the Go runtime (golang-go), with
#                     GOMAXPROCS as pacegc's.
# The table: pauses from the trace (p99, max), late wake-ups (p99, max),
# churn steps per second as a ratio to pacegc-stw, peak RSS.  Every run's
# stdout (a checksum of the live set) must agree.  Exit status 0 all ran
# and agreed, 1 otherwise, 2 usage.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$SRC/../build
LIVE=100,1024
SECONDS_RUN=10
THREADS=1
RUNS=1
CONFIGS=glibc,jemalloc,pacegc-stw,pacegc,go
die() { echo "pauses.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--live) LIVE=$2; shift ;;
	--seconds) SECONDS_RUN=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--configs) CONFIGS=$2; shift ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bench
[ -x "$BIN/pauses" ] || die "$BIN/pauses is missing: build first (ninja -C $BUILD)"
LIB=$BUILD/src/libpacegc.so
JEMALLOC=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n 1 || true)
PROCS=$(nproc)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-pauses.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

IFS=, read -r -a configs <<<"$CONFIGS"
IFS=, read -r -a lives <<<"$LIVE"
if [[ ",$CONFIGS," == *,go,* ]]; then
	if command -v go >/dev/null; then
		(cd "$SRC/go" && env GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GO111MODULE=off \
			GOFLAGS= GOPROXY=off CGO_ENABLED=0 go build -o "$WORK/pauses-go" pauses.go) ||
			die "go build of bench/go/pauses.go failed"
	else
		echo "pauses.sh: go not found (apt-get install golang-go): no go column" >&2
		configs=("${configs[@]/go}")
	fi
fi

# run CONFIG LIVE RUN: one run; writes $WORK/CONFIG.LIVE.RUN.{out,err,time}.
run() {
	local c=$1 live=$2 r=$3 base=$WORK/$1.$2.$3
	local -a envs=() cmd=("$BIN/pauses" "$live" "$SECONDS_RUN" "$THREADS" drop)
	case $c in
	glibc) cmd[4]=free ;;
	jemalloc) [ -n "$JEMALLOC" ] || return 0; envs=(LD_PRELOAD="$JEMALLOC"); cmd[4]=free ;;
	pacegc-stw) envs=(LD_PRELOAD="$LIB" PACEGC_GODEBUG=gctrace=1,concurrent=0) ;;
	pacegc) envs=(LD_PRELOAD="$LIB" PACEGC_GODEBUG=gctrace=1,concurrent=1) ;;
	go) envs=(GODEBUG=gctrace=1 GOMAXPROCS="$PROCS"); cmd[0]=$WORK/pauses-go ;;
	"") return 0 ;;
	*) die "unknown config $c" ;;
	esac
	/usr/bin/time -f '%e %M' -o "$base.time" env -u LD_PRELOAD -u PACEGC_GODEBUG -u GODEBUG \
		"${envs[@]}" "${cmd[@]}" >"$base.out" 2>"$base.err" </dev/null ||
		{ echo "pauses.sh: $c at $live MiB failed; stderr:" >&2; tail -n 5 "$base.err" >&2; return 1; }
}

failed=0
for live in "${lives[@]}"; do
	for ((r = 0; r < RUNS; r++)); do
		n=${#configs[@]}
		for ((i = 0; i < n; i++)); do
			run "${configs[(i + r) % n]}" "$live" "$r" || failed=1
		done
	done
done

python3 - "$WORK" "$SECONDS_RUN" "$CONFIGS" "$LIVE" "$RUNS" <<'EOF' || failed=1
import glob, os, re, statistics, sys
work, seconds, configs, lives, runs = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(','), sys.argv[4].split(','), int(sys.argv[5])
GC = re.compile(r"^gc \d+ @[0-9.]+s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock")
PL = re.compile(r"^pauses: wakeups (\d+) late max (\d+) us p99 (\d+) us p50 (\d+) us, steps (\d+)")
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else None
def ms(x):
    return "n/a" if x is None else ("%.2f" % x if x < 10 else "%.0f" % x)
bad = False
for live in lives:
    rows, sums = {}, set()
    for c in configs:
        if not c:
            continue
        stats = []
        for r in range(runs):
            base = os.path.join(work, "%s.%s.%d" % (c, live, r))
            if not os.path.exists(base + ".out"):
                continue
            sums.add(open(base + ".out").read())
            pauses, pl = [], None
            for line in open(base + ".err", errors="replace"):
                m = GC.match(line)
                if m and c == "pacegc-stw":
                    pauses.append(float(m.group(1)) + float(m.group(2)) + float(m.group(3)))
                elif m:
                    pauses += [float(m.group(1)), float(m.group(3))]
                m = PL.match(line)
                if m:
                    pl = [int(x) for x in m.groups()]
            t = open(base + ".time").read().split()
            if pl:
                stats.append(dict(p99=pct(pauses, 0.99), max=max(pauses) if pauses else None,
                                  late_p99=pl[2] / 1000, late_max=pl[1] / 1000,
                                  steps=pl[4] / seconds, rss=int(t[1]) / 1024))
        if stats:
            med = lambda k: (statistics.median([s[k] for s in stats if s[k] is not None])
                             if any(s[k] is not None for s in stats) else None)
            rows[c] = {k: med(k) for k in stats[0]}
    if len(sums) > 1:
        print("pauses.sh: checksums differ at %s MiB" % live, file=sys.stderr)
        bad = True
    ref = rows.get("pacegc-stw", {}).get("steps")
    print("\n%s MiB live, %g s, median of %d run(s)\n" % (live, seconds, runs))
    print("| config | pause p99 ms | pause max ms | late wake-up p99 ms | late wake-up max ms | steps/s vs pacegc-stw | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for c, s in rows.items():
        ratio = "%.2fx" % (s["steps"] / ref) if ref else "n/a"
        print("| %s | %s | %s | %s | %s | %s | %.0f |" % (c, ms(s["p99"]), ms(s["max"]), ms(s["late_p99"]),
              ms(s["late_max"]), ratio, s["rss"]))
sys.exit(1 if bad else 0)
EOF
exit $failed
