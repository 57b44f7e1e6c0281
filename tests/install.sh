#!/bin/bash
# What `meson install` puts in place: install.sh BUILDDIR
#
# Installs the build into a scratch directory (meson install --destdir),
# then builds a program that calls pacegc's API with the flags
# `pkg-config --cflags --libs pacegc` gives (PKG_CONFIG_SYSROOT_DIR points
# them into the scratch tree), runs it against the installed library, and
# checks that the launcher, the library, the header and pacegc.pc are
# where they should be.  The program forces two cycles and reads the
# statistics: num_gc must count them.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 1 "BUILDDIR" "$@"
build=$1
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config is missing"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "FAIL install: $*"
	exit 1
}

meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "meson install failed"; }
pc=$(find "$tmp/root" -name pacegc.pc | head -n 1)
[ -n "$pc" ] || fail "no pacegc.pc installed"
[ -n "$(find "$tmp/root" -path '*/include/pacegc.h')" ] || fail "no include/pacegc.h installed"
[ -n "$(find "$tmp/root" -path '*/bin/pacegc')" ] || fail "no bin/pacegc installed"
plot=$(find "$tmp/root" -path '*/bin/pacegc-plot' | head -n 1)
[ -x "$plot" ] || fail "no bin/pacegc-plot installed (pacegc plot runs it)"

export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs pacegc) || fail "pkg-config --cflags --libs pacegc failed"
libdir=$(pkg-config --variable=libdir pacegc)
case $libdir in "$tmp/root"/*) ;; *) libdir=$tmp/root$libdir ;; esac   # pkgconf adds the sysroot
[ -e "$libdir/libpacegc.so" ] || fail "libpacegc.so is not in the .pc's libdir $libdir"

cat >"$tmp/api.c" <<'PROGRAM'
#include <pacegc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	void *p = malloc(1000);
	pacegc_stats_t before, after;
	pacegc_read_stats(&before);
	pacegc_collect();
	pacegc_collect();
	pacegc_read_stats(&after);
	free(p);
	if (after.num_gc < before.num_gc + 2 || after.num_forced_gc < 2) {
		printf("num_gc %u -> %u, forced %u\n", before.num_gc, after.num_gc,
		       after.num_forced_gc);
		return 1;
	}
	printf("ok\n");
	return 0;
}
PROGRAM
# shellcheck disable=SC2086  # flags is a list of words
cc -o "$tmp/api" "$tmp/api.c" $flags || fail "the API program does not build with: $flags"
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/api") || fail "the API program failed: $out"
[ "$out" = ok ] || fail "the API program printed: $out"
echo "ok: install: header, pacegc.pc ($flags), library and launcher; the API works linked"
