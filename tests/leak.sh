#!/bin/bash
# Leaks reclaimed: leak.sh LIBPACEGC LEAK_EXE MODE
#
# Runs tests/programs/leak (10 MB live, 1 GiB allocated in all at no more
# than 1 GB/s, three quarters of it leaked, a quarter freed) plain and
# with LIBPACEGC preloaded in MODE:
#   honor, ignore  PACEGC_FREE=MODE: the collector reclaims the leaks;
#   defer          PACEGC_FREE=defer: free only quarantines, and the
#                  collector releases only what was freed (src/sweep.h), so
#                  leaks stay: only the output is checked;
#   dryrun         PACEGC_RECLAIM=off: nothing is reclaimed.
# Checks:
#   - stdout (every round's checksum of the live set) is identical, both
#     runs exit 0, and the preloaded stderr holds nothing but the program's
#     peak-RSS line (no "pacegc:" report);
#   - the plain run's peak RSS is above 4 times the bound below: the plain
#     program really leaks, so staying under the bound proves reclaim;
#   - honor, ignore: the preloaded peak RSS is below
#         4 * LIVE + OVERHEAD   (4 * 10 MB + 8 MB = 48 MB).
#     4 * LIVE: with GOGC=100 the heap grows to twice what the last cycle
#     marked before the next cycle starts, and that cycle reclaims what it
#     finds unreachable at once (the default since issue 9); the other
#     2 * LIVE is room for the sweep, which runs while the program
#     allocates on, and for jemalloc's dirty pages (freed pages are kept
#     for dirty_decay_ms = 10 s, and one size class cannot reuse another's
#     pages: the mix of 16 B to 1 MiB objects spreads over about 40).
#     OVERHEAD, 8 MB: the process and its libraries (1 MB plain), pacegc
#     with jemalloc's metadata and the object index (6 MB at this heap
#     size; 3.5 MB for /bin/true).
#     Measured on 2 CPUs at 1 GB/s: 36 to 38 MB, under 4 * LIVE itself
#     (with reclaimdelay=1: 50 MB; with the old default of 100 ms: 142 to
#     168 MB at 512 MB/s); plain: 825 MB.
#   - dryrun: the preloaded peak RSS is at least half the plain one.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 3 "LIBPACEGC LEAK_EXE honor|ignore|defer|dryrun" "$@"
lib=$1 exe=$2 mode=$3
test_lib "$lib"

total_mb=1024 live_mb=10 rate=1024 overhead_mb=8
bound_kb=$(((4 * live_mb + overhead_mb) * 1024))

case $mode in
honor | ignore | defer) env=("PACEGC_FREE=$mode") ;;
dryrun) env=(PACEGC_RECLAIM=off) ;;
*) echo "leak.sh: unknown mode $mode" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-leak.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL leak $mode: $*"
	for run in plain preload; do
		echo "--- $run stderr:"
		head -n 40 "$tmp/$run.err"
	done
	exit 1
}

# run NAME [ENV...]: leak_run at the script's rate; stderr must hold
# nothing but the RSS line.
run() {
	local name=$1
	shift
	leak_run "$name" "$rate" "$@"
	if grep -v '^leak: peak RSS ' "$tmp/$name.err" | grep -q .; then
		fail "the $name run printed more than its RSS line on stderr"
	fi
}

run plain
plain_kb=$rss_kb
run preload LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" "${env[@]}"
preload_kb=$rss_kb

same_stdout preload
[ "$plain_kb" -gt $((4 * bound_kb)) ] ||
	fail "plain peak RSS $plain_kb KiB is not above 4 * $bound_kb KiB:" \
		"the program does not leak enough to prove anything"
case $mode in
honor | ignore)
	[ "$preload_kb" -lt "$bound_kb" ] ||
		fail "peak RSS $preload_kb KiB, want below $bound_kb KiB" \
			"(4 * $live_mb MB + $overhead_mb MB)" ;;
dryrun)
	[ "$preload_kb" -ge $((plain_kb / 2)) ] ||
		fail "peak RSS $preload_kb KiB with reclaim off, want at least" \
			"half the plain $plain_kb KiB: something was reclaimed" ;;
esac
echo "ok: leak $mode: same checksums; peak RSS $preload_kb KiB preloaded," \
	"$plain_kb KiB plain (bound for reclaim: $bound_kb KiB)"
