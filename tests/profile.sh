#!/bin/bash
# The heap profile (PACEGC_PROFILE, src/profile_out.h, src/memprof.h):
#   profile.sh LIBPACEGC LEAKSITES_EXE
#
# Runs tests/programs/leaksites (two sites leaking 3:1, one that frees,
# one that keeps) preloaded with PACEGC_PROFILE and reads the profile with
# `go tool pprof` (Debian's golang-go), as a user would.  Checks:
#   - the program's output is the plain run's, stderr stays empty, and no
#     .tmp file is left;
#   - `pprof -top` (reclaimed bytes, the default) lists leak_three, then
#     leak_one (static functions: named from the executable's .symtab),
#     each within 10% of the bytes it leaked, and nothing else;
#   - in-use bytes: keep_forever, within 15% of what it kept; allocated
#     bytes: keep_and_free too, exactly with PACEGC_MEMPROFILERATE=1;
#   - fork with "%p" in the path: a profile for parent and child, each
#     with its half of the leaks;
#   - PACEGC_PROFILE_INTERVAL: the file is there while the program runs;
#   - bad values of every variable: one pacegc: line each, same output.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 2 "LIBPACEGC LEAKSITES_EXE" "$@"
test_lib "$1"
exe=$2
test_need go golang-go
test_checks profile
rounds=200000
# A sample every 4 KiB: 50000 samples, 800 of them kept, so 10% is many
# times the sampling error (and the unswept garbage at exit is under 4%).
rate=4096

"$exe" $rounds >"$tmp/plain.out" || fail "the plain run exited $?"
three=$(sed -n 's/^three //p' "$tmp/plain.out")
one=$(sed -n 's/^one //p' "$tmp/plain.out")
kept=$(sed -n 's/^kept //p' "$tmp/plain.out")

# top FILE [pprof options]: "BYTES NAME" per line of pprof -top, by flat.
top() {
	local file=$1
	shift
	HOME=$tmp go tool pprof -top -unit=B "$@" "$file" 2>"$tmp/pprof.err" |
		awk '/^ *flat/ { on = 1; next } on && $1 != "0" { sub(/B$/, "", $1); print $1, $6 }'
}

# near NAME GOT WANT PERCENT
near() {
	awk -v g="$2" -v w="$3" -v p="$4" 'BEGIN { exit !(g >= w * (1 - p / 100) && g <= w * (1 + p / 100)) }' ||
		fail "$1: $2 bytes, want $3 within $4%"
}

LD_PRELOAD=$lib PACEGC_PROFILE="$tmp/leaks.pb.gz" PACEGC_MEMPROFILERATE=$rate \
	"$exe" $rounds >"$tmp/prof.out" 2>"$tmp/prof.err" || fail "the profiled run exited $?"
cmp -s "$tmp/plain.out" "$tmp/prof.out" || fail "the output differs: $(cat "$tmp/prof.out")"
[ -s "$tmp/prof.err" ] && fail "stderr: $(head -3 "$tmp/prof.err")"
ls "$tmp"/*.tmp >/dev/null 2>&1 && fail "a .tmp file is left"
[ -f "$tmp/leaks.pb.gz" ] || fail "no profile written"
gzip -t "$tmp/leaks.pb.gz" || fail "not a gzip file"

top "$tmp/leaks.pb.gz" >"$tmp/reclaimed"
grep -q 'Type: reclaimed_space' <(HOME=$tmp go tool pprof -top "$tmp/leaks.pb.gz" 2>/dev/null) ||
	fail "reclaimed_space is not the default sample type"
echo "reclaimed: $(tr '\n' ' ' <"$tmp/reclaimed")"
[ "$(cut -d' ' -f2 "$tmp/reclaimed" | tr '\n' ' ')" = "leak_three leak_one " ] ||
	fail "reclaimed sites: $(cat "$tmp/reclaimed" "$tmp/pprof.err")"
near leak_three "$(awk '$2 == "leak_three" { print $1 }' "$tmp/reclaimed")" "$three" 10
near leak_one "$(awk '$2 == "leak_one" { print $1 }' "$tmp/reclaimed")" "$one" 10

top "$tmp/leaks.pb.gz" -sample_index=inuse_space >"$tmp/inuse"
near keep_forever "$(awk '$2 == "keep_forever" { print $1 }' "$tmp/inuse")" "$kept" 15
top "$tmp/leaks.pb.gz" -sample_index=alloc_space >"$tmp/alloc"
near keep_and_free "$(awk '$2 == "keep_and_free" { print $1 }' "$tmp/alloc")" "$one" 10

# PACEGC_MEMPROFILERATE=1 samples every allocation: the allocated bytes
# are exact, unscaled.
LD_PRELOAD=$lib PACEGC_PROFILE="$tmp/all.pb.gz" PACEGC_MEMPROFILERATE=1 \
	"$exe" 20000 >/dev/null 2>"$tmp/all.err" || fail "the rate-1 run exited $?"
got=$(top "$tmp/all.pb.gz" -sample_index=alloc_space | awk '$2 == "keep_and_free" { print $1 }')
[ "${got:-0}" = $((20000 * 256)) ] || fail "rate 1: keep_and_free allocated ${got:-0} bytes, not $((20000 * 256))"

# fork: the child's profile is its own.
LD_PRELOAD=$lib PACEGC_PROFILE="$tmp/f-%p.pb.gz" PACEGC_MEMPROFILERATE=$rate \
	"$exe" $rounds fork >"$tmp/fork.out" 2>"$tmp/fork.err" || fail "the fork run exited $?"
files=("$tmp"/f-*.pb.gz)
[ ${#files[@]} -eq 2 ] || fail "fork: ${#files[@]} profiles: ${files[*]}"
for f in "${files[@]}"; do
	got=$(top "$f" | awk '$2 == "leak_three" { print $1 }')
	near "fork $(basename "$f") leak_three" "${got:-0}" $((three / 2)) 12
done

# The interval: written while the program runs, not only at exit.
LD_PRELOAD=$lib PACEGC_PROFILE="$tmp/i.pb.gz" PACEGC_PROFILE_INTERVAL=50ms \
	"$exe" 1000 wait "$tmp/i.pb.gz" >"$tmp/interval.out" 2>"$tmp/interval.err" ||
	fail "the interval run exited $?"
grep -q 'written while running: yes' "$tmp/interval.out" || fail "no profile while running"

# Bad values: one line each, and the program runs on unchanged.
while IFS='|' read -r var value want; do
	env LD_PRELOAD="$lib" PACEGC_PROFILE="$tmp/b.pb.gz" "$var=$value" "$exe" $rounds \
		>"$tmp/bad.out" 2>"$tmp/bad.err" || fail "$var=$value: exited $?"
	n=$(grep -c "^pacegc: " "$tmp/bad.err" || true)
	[ "$n" -eq 1 ] && grep -q "$want" "$tmp/bad.err" ||
		fail "$var=$value: want one line with '$want', got: $(cat "$tmp/bad.err")"
	cmp -s "$tmp/plain.out" "$tmp/bad.out" || fail "$var=$value: the output differs"
done <<EOF2
PACEGC_MEMPROFILERATE|lots|PACEGC_MEMPROFILERATE="lots": not a number of bytes; using 524288
PACEGC_PROFILE_INTERVAL|10 minutes|PACEGC_PROFILE_INTERVAL="10 minutes": not a duration
PACEGC_PROFILE|$tmp/no/such/dir/p.pb.gz|cannot write
EOF2

[ $failures -eq 0 ] && echo "profile: all checks passed"
exit $((failures > 0))
