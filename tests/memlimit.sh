#!/bin/bash
# The soft memory limit holds: memlimit.sh LIBPACEGC LEAK_EXE gogc|off
#
# Runs tests/programs/leak with 20 MB live and 512 MB allocated in all at
# 128 MB/s (three quarters of it leaked, a quarter freed; about 4 s), with
# PACEGC_GOMEMLIMIT=64MiB and
#   gogc   PACEGC_GOGC=400: without the limit the heap would grow to
#          5 x live (run here as a control);
#   off    PACEGC_GOGC=off: cycles run for the limit alone (without the
#          limit there would be none: the plain run's RSS).
# Checks:
#   - stdout (the live set's checksums) is the plain run's, every run
#     exits 0, and stderr holds nothing but gc lines (gctrace is on, for
#     the record) and the peak-RSS line;
#   - the plain run's peak RSS is above 4 times the bound below (measured
#     450 MB): the program really goes far over the limit on its own;
#   - gogc: the preloaded run without the limit peaks above the bound, so
#     the limit, not GOGC, is what holds the limited run down;
#   - the limited run's peak RSS is below
#         LIMIT + RATE * 40 ms + OVERHEAD
#         = 64 MiB + 128 MB/s * 40 ms + 16 MB = 85 MiB.
#     RATE * 40 ms: the first cycle that finds an object unreachable frees
#     it (no reclaim delay by default since issue 9), so garbage waits up
#     to two cycle intervals (at most 20 ms each: near the limit cycles
#     run back to back, one pause of a 20 MB heap and the mutator's share
#     of the 50% CPU cap): the one it became garbage in, and the next.  With GOGC=off the first cycle comes only when the heap
#     reaches the limit, so this garbage lands on top of it.
#     OVERHEAD, 16 MB: what the limit does not count or cannot reach: the
#     process and its libraries (1 MB plain), the collector's threads'
#     stacks, garbage objects in flight (the program's largest is 1 MiB).
#     Measured with the old 100 ms reclaim delay and GOGC=200: 61.6 to
#     63.4 MB, 70.7 to 72.8 MB with GOGC=off, 136 to 141 MB without the
#     limit; plain 453 MB.  Without it: 60.7 MB with GOGC=off, 61.9 MB
#     with GOGC=400 (138 MB without the limit).
# The program paces itself at RATE, so the bound does not depend on how
# fast the machine is.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 3 "LIBPACEGC LEAK_EXE gogc|off" "$@"
lib=$1 exe=$2 mode=$3
test_lib "$lib"

total_mb=512 live_mb=20 rate=128 limit_mb=64 cycles_ms=40 overhead_mb=16
bound_kb=$(((limit_mb + overhead_mb) * 1024 + rate * cycles_ms * 1024 / 1000))

case $mode in
gogc) gogc=400 ;;
off) gogc=off ;;
*) echo "memlimit.sh: unknown mode $mode" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-memlimit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL memlimit $mode: $*"
	for f in "$tmp"/*.err; do
		echo "--- ${f##*/} (last 8 lines):"
		tail -n 8 "$f"
	done
	exit 1
}

# run NAME RATE [ENV...]: leak_run, then checks stderr and stdout; sets
# rss_kb and ngc (gc lines).
run() {
	leak_run "$@"
	if grep -v -e '^leak: peak RSS ' -e '^gc ' "$tmp/$1.err" | grep -q .; then
		fail "the $1 run printed more than gc lines and its RSS line on stderr"
	fi
	ngc=$(grep -c '^gc ' "$tmp/$1.err" || true)
	[ "$1" = plain ] || same_stdout "$1"
}

pre=LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
# The plain run's output does not depend on the rate: it runs unpaced.
run plain 0
plain_kb=$rss_kb
[ "$plain_kb" -gt $((4 * bound_kb)) ] ||
	fail "plain peak RSS $plain_kb KiB is not above 4 * $bound_kb KiB:" \
		"the program does not go far enough over the limit to prove anything"
control=
if [ "$mode" = gogc ]; then
	run nolimit "$rate" "$pre" PACEGC_GOGC=$gogc PACEGC_GODEBUG=gctrace=1
	nolimit_kb=$rss_kb
	[ "$nolimit_kb" -gt "$bound_kb" ] ||
		fail "without the limit (GOGC=$gogc) peak RSS is $nolimit_kb KiB," \
			"not above the bound $bound_kb KiB: the test proves nothing"
	control=", $nolimit_kb KiB without the limit ($ngc cycles)"
fi
run limited "$rate" "$pre" PACEGC_GOGC=$gogc PACEGC_GOMEMLIMIT=${limit_mb}MiB \
	PACEGC_GODEBUG=gctrace=1
[ "$rss_kb" -lt "$bound_kb" ] ||
	fail "GOGC=$gogc GOMEMLIMIT=${limit_mb}MiB: peak RSS $rss_kb KiB, want" \
		"below $bound_kb KiB ($limit_mb MiB + $rate MB/s * $cycles_ms ms" \
		"+ $overhead_mb MB); $ngc cycles"
[ "$ngc" -gt 0 ] || fail "no gc line: no cycle ran"
echo "ok: memlimit $mode: same checksums; peak RSS $rss_kb KiB with" \
	"GOGC=$gogc GOMEMLIMIT=${limit_mb}MiB ($ngc cycles)$control," \
	"$plain_kb KiB plain (bound: $bound_kb KiB)"
