#!/bin/bash
# What the root set costs: rootcost.sh LIBPACEGC MAX_PAUSE_MS MAX_GLOBALS_MB -- CMD [ARGS...]
#
# Runs CMD (a program of tests/programs that first runs one cycle to set
# the collector up, then builds the roots under test and runs more
# cycles: merged program-first, untouched) plain and with LIBPACEGC
# preloaded and PACEGC_GODEBUG=gctrace=1 added to the environment's
# PACEGC_GODEBUG (PACEGC_FREE and the rest are taken from the
# environment).  Checks:
#   - both runs exit 0 with the same stdout, and the preloaded stderr has
#     no "pacegc:" report (a program's own FAIL line, or its watchdog's,
#     is shown);
#   - every cycle but the first (the set-up cycle: it maps and faults in
#     the collector's own tables, 20-85 ms here) stops the world for at
#     most MAX_PAUSE_MS: gctrace's a+b+c.  The programs' roots are a few
#     MB resident and their heaps a few thousand objects: such cycles take
#     0.1-12 ms on this project's 2-CPU machine, measured under a load
#     average of 15, so a bound of 100 ms has a margin of 8 and still
#     catches a scan of 128 MiB nobody touched (1.5-3 s here today: every
#     read of an untouched page allocates it on this VM; where the kernel
#     maps the shared zero page instead it costs about 25 ms, and
#     untouched.c's page-table bound catches it);
#   - every cycle's "R MB globals" is at most MAX_GLOBALS_MB ("-": not
#     checked), a bound on the program's own non-stack root memory, so
#     that memory that is not the program's (pacegc's object index, merged
#     into one /proc/self/maps line with a program's mapping) shows.
# Prints the preloaded run's gctrace lines on a failure.  Exits 77
# (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
if [ $# -lt 5 ] || [ "$4" != -- ]; then
	echo "usage: $0 LIBPACEGC MAX_PAUSE_MS MAX_GLOBALS_MB -- CMD [ARGS...]" >&2
	exit 2
fi
lib=$1
test_lib "$lib"
max_pause=$2 max_globals=$3
shift 4

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-rootcost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

problems=()
problem() { problems+=("$*"); }
cmdline="$*"
cmd=("$@")

# run NAME [ENV...]: runs the command, saving $tmp/NAME.out, .err, .status.
run() {
	local name=$1 status
	shift
	set +e
	env "$@" "${cmd[@]}" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	status=$?
	set -e
	echo "$status" >"$tmp/$name.status"
}

run plain
if [ "$(cat "$tmp/plain.status")" -ne 0 ]; then
	echo "FAIL rootcost: the plain run exited $(cat "$tmp/plain.status"); its stderr:"
	head -n 40 "$tmp/plain.err"
	exit 1
fi
godebug=${PACEGC_GODEBUG:+$PACEGC_GODEBUG,}gctrace=1
run preload LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" PACEGC_GODEBUG="$godebug"

status=$(cat "$tmp/preload.status")
if [ "$status" -ne 0 ]; then
	if [ "$status" -gt 128 ]; then
		problem "the preloaded run exited $status (signal $((status - 128)))"
	else
		problem "the preloaded run exited $status"
	fi
elif ! cmp -s "$tmp/plain.out" "$tmp/preload.out"; then
	diff -u --label plain --label preload "$tmp/plain.out" "$tmp/preload.out" | head -n 40 || true
	problem "stdout differs"
fi
if grep -aq '^pacegc:' "$tmp/preload.err"; then
	problem "the preloaded run printed a pacegc report"
fi

# gc N @T s P%: A+B+C ms clock, ... K MB stacks, R MB globals, X P
re='^gc ([0-9]+) @[0-9.]+s [0-9]+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock, .* ([0-9]+) MB globals, [0-9]+ P'
cycles=0 worst_pause=0 worst_pause_gc=0 worst_globals=0 worst_globals_gc=0
while IFS= read -r line; do
	[[ $line =~ $re ]] || continue
	n=${BASH_REMATCH[1]}
	pause=$(awk "BEGIN { print ${BASH_REMATCH[2]} + ${BASH_REMATCH[3]} + ${BASH_REMATCH[4]} }")
	globals=${BASH_REMATCH[5]}
	cycles=$((cycles + 1))
	if [ "$n" -gt 1 ] && awk "BEGIN { exit !($pause > $worst_pause) }"; then
		worst_pause=$pause worst_pause_gc=$n
	fi
	if [ "$globals" -gt "$worst_globals" ]; then
		worst_globals=$globals worst_globals_gc=$n
	fi
done <"$tmp/preload.err"

if [ "$status" -eq 0 ] && [ "$cycles" -lt 2 ]; then
	problem "$cycles gctrace lines, want at least 2 (is gctrace printed?)"
fi
if awk "BEGIN { exit !($worst_pause > $max_pause) }"; then
	problem "cycle $worst_pause_gc stopped the world for $worst_pause ms, bound $max_pause ms"
fi
if [ "$max_globals" != - ] && [ "$worst_globals" -gt "$max_globals" ]; then
	problem "cycle $worst_globals_gc scanned $worst_globals MB of globals, bound $max_globals MB"
fi
if [ ${#problems[@]} -gt 0 ]; then
	for p in "${problems[@]}"; do
		echo "FAIL rootcost: $p"
	done
	echo "--- preloaded stderr:"
	head -n 60 "$tmp/preload.err"
	echo "FAIL rootcost: ${cmdline:0:200}"
	exit 1
fi
echo "ok: rootcost: $cycles cycles, worst pause after the first $worst_pause ms" \
	"(bound $max_pause ms), most globals $worst_globals MB (bound $max_globals MB)," \
	"same stdout: ${cmdline:0:200}"
