#!/bin/bash
# Run a command only with a library preloaded (for programs whose plain run
# is meant to go wrong, such as use after free):
#
#   preloaded.sh LIBPACEGC -- CMD [ARGS...]
#
# Passes when CMD exits 0 and its stderr holds no "pacegc:" line; prints
# CMD's stdout.  PACEGC_* variables are taken from the environment.  Exits
# 77 (skipped, for meson) if LIBPACEGC does not exist, 2 on bad usage.
set -eu
export LC_ALL=C TZ=UTC

if [ $# -lt 3 ] || [ "$2" != -- ]; then
	echo "usage: $0 LIBPACEGC -- CMD [ARGS...]" >&2
	exit 2
fi
lib=$1
shift 2
case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
if [ ! -e "$lib" ]; then
	echo "SKIP: $lib does not exist (library not built yet)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-preloaded.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

set +e
LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
set -e

cat "$tmp/out"
env | grep '^PACEGC_' | sed 's/^/with /' || true
if [ "$status" -ne 0 ] || grep -aq '^pacegc:' "$tmp/err"; then
	echo "FAIL: exit status $status (want 0); stderr:"
	head -n 60 "$tmp/err"
	exit 1
fi
echo "ok: exit status 0, no pacegc report: $*"
