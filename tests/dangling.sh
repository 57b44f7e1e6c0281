#!/bin/bash
# PACEGC_GODEBUG=dangling=1 with PACEGC_FREE=defer (src/provenance.c):
#   dangling.sh LIBPACEGC UAF_EXE
#
# Runs tests/programs/uaf scribble, which frees objects and keeps dangling
# pointers to them in .bss.  Checks: the program runs as without the
# option (exit 0: no object it still points to was reused); freed objects
# still referenced are reported as "pacegc: freed N-byte
# object at 0x... is still referenced; kept" followed by an "allocated
# at:" and a "freed at:" stack, the allocating frame in the uaf program;
# after 100 reports (the program leaves thousands) one line says further
# ones are not shown, and none follows it.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 2 "LIBPACEGC UAF_EXE" "$@"
test_lib "$1"
exe=$2
test_checks dangling

LD_PRELOAD=$lib PACEGC_FREE=defer PACEGC_GODEBUG=dangling=1 "$exe" scribble \
	>"$tmp/out" 2>"$tmp/err" || fail "the program exited $?"
reports=$(grep -c '^pacegc: freed [0-9]*-byte object at 0x[0-9a-f]* is still referenced; kept$' "$tmp/err" || true)
[ "$reports" -gt 0 ] || fail "no report: $(head -3 "$tmp/err")"
[ "$reports" -eq 100 ] || fail "$reports reports, want the first 100"
capped='^pacegc: 100 reports printed; further ones are not shown$'
[ "$(tail -n 1 "$tmp/err")" = "pacegc: 100 reports printed; further ones are not shown" ] ||
	fail "the last line is not the cap's: $(tail -n 1 "$tmp/err")"
other=$(grep '^pacegc: ' "$tmp/err" | grep -v 'is still referenced; kept$' | grep -vc "$capped" || true)
[ "$other" -eq 0 ] || fail "$other other pacegc: lines: $(grep '^pacegc: ' "$tmp/err" | grep -v 'still referenced' | head -3)"
[ "$(grep -c '^  allocated at:$' "$tmp/err")" -eq "$reports" ] || fail "reports without an allocation stack"
[ "$(grep -c '^  freed at:$' "$tmp/err")" -eq "$reports" ] || fail "reports without a free stack"
awk '/^  allocated at:$/ { getline; print }' "$tmp/err" | grep -vq "/uaf+0x\|uaf)" &&
	fail "an allocation stack does not start in the program: $(awk '/^  allocated at:$/ { getline; print; exit }' "$tmp/err")"

[ $failures -eq 0 ] && echo "dangling: $reports reports, all checks passed"
exit $((failures > 0))
