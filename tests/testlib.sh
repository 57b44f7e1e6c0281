# shellcheck shell=bash
# shellcheck disable=SC2154  # exe, total_mb, live_mb, tmp: set by the sourcing script
# Sourced by the test scripts: strict mode, a fixed locale, and the
# prologue every one of them shares.
set -eu
export LC_ALL=C TZ=UTC

# test_args N USAGE "$@": exits 2 with "usage: SCRIPT USAGE" unless the
# script got exactly N arguments.
test_args() {
	local n=$1 usage=$2
	shift 2
	if [ $# -ne "$n" ]; then
		echo "usage: $0 $usage" >&2
		exit 2
	fi
}

# test_lib PATH: sets lib to PATH made absolute; exits 77 (meson's
# "skipped") when the library has not been built yet.
test_lib() {
	case $1 in /*) lib=$1 ;; *) lib=$PWD/$1 ;; esac
	if [ ! -e "$lib" ]; then
		echo "SKIP: $lib does not exist (library not built yet)"
		exit 77
	fi
}

# For the scripts that run tests/programs/leak (exe, total_mb, live_mb and
# tmp set; fail() defined by the script):
# leak_run NAME RATE [ENV...]: runs it at RATE MB/s under ENV, saving
# $tmp/NAME.out and .err; fails if it exits non-zero; sets rss_kb to the
# peak RSS it printed.
leak_run() {
	local name=$1 rate=$2 status
	shift 2
	set +e
	env "$@" "$exe" "$total_mb" "$live_mb" "$rate" \
		</dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	status=$?
	set -e
	if [ "$status" -ne 0 ]; then
		tail -n 20 "$tmp/$name.err"
		fail "the $name run exited $status"
	fi
	rss_kb=$(sed -n 's/^leak: peak RSS \([0-9][0-9]*\) KiB$/\1/p' "$tmp/$name.err")
	[ -n "$rss_kb" ] || fail "the $name run printed no peak RSS"
}

# same_stdout NAME: fails unless NAME's stdout (the live set's checksums)
# is the plain run's.
same_stdout() {
	if ! cmp -s "$tmp/plain.out" "$tmp/$1.out"; then
		diff -u --label plain --label "$1" "$tmp/plain.out" "$tmp/$1.out" | head -n 40 || true
		fail "the $1 run's stdout (the live set's checksums) differs"
	fi
}
