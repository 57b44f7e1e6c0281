#!/bin/bash
# Bad frees under pacegc: badfree.sh LIBPACEGC BADFREE_EXE CASE
#
# Runs `BADFREE_EXE CASE` with LIBPACEGC preloaded (never plain: glibc
# aborts on these) and checks that
#   - the program exits 0 and prints its "program continued" line;
#   - stderr holds exactly one line starting "pacegc: " (none for CASE
#     "none"), directly followed by at least one stack line (whitespace,
#     then '#'), and nothing else;
#   - a stack line names the function that made the bad call, bad_CASE.
# A CASE named *_defer or *_defer_* runs with PACEGC_FREE=defer (freed
# objects stay indexed until a cycle finds them unreachable); the others
# with PACEGC_FREE as the environment has it.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 3 "LIBPACEGC BADFREE_EXE CASE" "$@"
lib=$1 exe=$2 case=$3
test_lib "$lib"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-badfree.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

case $case in *_defer | *_defer_*) export PACEGC_FREE=defer ;; esac

set +e
LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" "$exe" "$case" \
	</dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
set -e

fail() {
	echo "FAIL badfree $case: $*"
	echo "--- exit status: $status"
	echo "--- stdout:"
	cat "$tmp/out"
	echo "--- stderr:"
	cat "$tmp/err"
	exit 1
}

[ "$status" -eq 0 ] || fail "exit status $status, want 0"
grep -aqx "badfree $case: program continued, data intact" "$tmp/out" ||
	fail "the program did not continue to its end"

reports=$(grep -ac '^pacegc: ' "$tmp/err" || true)
want=1
[ "$case" = none ] && want=0
[ "$reports" -eq "$want" ] ||
	fail "$reports lines start with 'pacegc: ', want $want"
if [ "$want" -eq 0 ]; then
	[ ! -s "$tmp/err" ] || fail "unexpected stderr output"
	echo "ok: badfree $case: no report, program ran to its end"
	exit 0
fi

# Shape: the report line first, then stack lines only.
first=$(head -n 1 "$tmp/err")
case $first in pacegc:\ *) ;; *) fail "stderr does not start with the report" ;; esac
stack=$(tail -n +2 "$tmp/err")
[ -n "$stack" ] || fail "no call stack after the report line"
if printf '%s\n' "$stack" | grep -aqv '^[[:space:]][[:space:]]*#'; then
	fail "stderr has lines that are neither the report nor stack lines"
fi
printf '%s\n' "$stack" | grep -aEq "bad_${case}([^[:alnum:]_]|\$)" ||
	fail "the call stack does not name the caller bad_$case"

echo "ok: badfree $case: one report, stack names bad_$case, program continued"
echo "    $first"
