#!/bin/bash
# The metrics file (PACEGC_METRICS, src/metrics_out.h):
#   metrics.sh LIBPACEGC METRICS_EXE
#
# Runs tests/programs/metrics (leaks 3 MiB over three forced cycles, one
# double free, then prints pacegc_read_stats) preloaded with
# PACEGC_METRICS=DIR/m-%p.prom.  Checks:
#   - exactly one file, named with the program's process id, and no
#     .tmp file left beside it;
#   - it parses with Prometheus's own parser (python3-prometheus-client),
#     every family typed;
#   - its values agree with what the program read from pacegc_read_stats
#     just before it exited (the file is written again at exit): cycles,
#     forced cycles, GOGC, the memory limit, the heap goal; one bad free;
#     at least 2.5 MiB reclaimed; one pause per cycle in the histogram;
#   - with concurrent marking (concurrent=2), two pauses per cycle (its
#     first and final stops), unless write tracking cannot be had here;
#   - bad values (a path too long, a directory that does not exist):
#     exactly one pacegc: line naming PACEGC_METRICS, and the program runs
#     on to the same output.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 2 "LIBPACEGC METRICS_EXE" "$@"
test_lib "$1"
exe=$2
# Debian's python3, whatever python3 PATH finds: the parser is its package.
py=/usr/bin/python3

test_checks metrics

LD_PRELOAD=$lib PACEGC_METRICS="$tmp/m-%p.prom" "$exe" >"$tmp/out" 2>"$tmp/err" ||
	fail "the program exited $?"
files=("$tmp"/m-*.prom)
[ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] || fail "files: ${files[*]}"
[[ ${files[0]} =~ /m-[0-9]+\.prom$ ]] || fail "${files[0]}: no process id in the name"
ls "$tmp"/*.tmp >/dev/null 2>&1 && fail "a .tmp file is left"
grep -vE '^(pacegc: free\(| +#[0-9])' "$tmp/err" | grep -q . && fail "stderr: $(head -3 "$tmp/err")"

# check FILE OUT PAUSES_PER_CYCLE
check() {
"$py" - "$@" <<'PY' || fail "$1 does not agree (above)"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
stats = dict(l.split() for l in open(sys.argv[2]))
fam = {f.name: f for f in text_string_to_metric_families(text)}
def val(name, suffix=""):
    for s in fam[name].samples:
        if s.name == name + suffix and not s.labels:
            return s.value
    raise KeyError(name + suffix)
bad = []
def want(what, got, expect):
    if got != expect:
        bad.append("%s: %r, expected %r" % (what, got, expect))
for f in fam.values():
    if f.type == "unknown":
        bad.append("%s: no TYPE" % f.name)
want("cycles", val("pacegc_gc_cycles", "_total"), float(stats["num_gc"]))
want("forced", val("pacegc_gc_cycles_forced", "_total"), float(stats["num_forced_gc"]))
want("gogc", val("pacegc_gc_gogc_percent"), float(stats["gogc"]))
want("limit", val("pacegc_gc_gomemlimit_bytes"), float(stats["memory_limit"]))
want("goal", val("pacegc_gc_heap_goal_bytes"), float(stats["heap_goal"]))
want("bad frees", val("pacegc_bad_frees", "_total"), 1.0)
want("pauses", val("pacegc_gc_pause_seconds", "_count"), float(stats["num_gc"]) * int(sys.argv[3]))
want("forced >= 3", int(stats["num_forced_gc"]) >= 3, True)
reclaimed = val("pacegc_gc_reclaimed_bytes", "_total")
want("reclaimed >= 2.5 MiB (%d)" % reclaimed, reclaimed >= 2.5 * 2**20, True)
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
}
check "${files[0]}" "$tmp/out" 1

LD_PRELOAD=$lib PACEGC_METRICS="$tmp/c.prom" PACEGC_GODEBUG=concurrent=2,gctrace=1 \
	PACEGC_TRACE="$tmp/c.trace" "$exe" >"$tmp/c.out" 2>"$tmp/c.err" || fail "the concurrent run exited $?"
if grep -q "concurrent marking is off" "$tmp/c.trace"; then
	echo "concurrent: $(grep "concurrent marking is off" "$tmp/c.trace")"
else
	check "$tmp/c.prom" "$tmp/c.out" 2
fi

# Bad values: one line each, the same output.
long=$tmp/$(printf 'x%.0s' $(seq 600))
for value in "$long" "$tmp/no/such/dir/m.prom"; do
	LD_PRELOAD=$lib PACEGC_METRICS="$value" "$exe" >"$tmp/bad.out" 2>"$tmp/bad.err" ||
		fail "exited $? with PACEGC_METRICS=${value:0:60}..."
	n=$(grep -c '^pacegc: PACEGC_METRICS=' "$tmp/bad.err")
	[ "$n" -eq 1 ] || fail "${value:0:60}...: $n PACEGC_METRICS lines: $(cat "$tmp/bad.err")"
	cmp -s <(grep -v '^heap_goal' "$tmp/out") <(grep -v '^heap_goal' "$tmp/bad.out") ||
		fail "${value:0:60}...: the output differs"
done

[ $failures -eq 0 ] && echo "metrics: all checks passed"
exit $((failures > 0))
