#!/bin/bash
# Where concurrent marking runs and where it falls back (issue 10):
#   concurrent.sh LIBPACEGC MUTATE_EXE SECCOMP_EXE NONROOT_SH
#
# With PACEGC_GODEBUG=concurrent=2,gctrace=1 and the trace in a file:
#   - tests/programs/mutate (threads moving the only reference to their
#     objects while cycles run back to back) as an unprivileged user
#     (uid 65534 when run as root, through tests/unit/nonroot.sh): it must
#     pass, and the trace must show at least 5 cycles and no line saying
#     concurrent marking is off: userfaultfd works without privilege
#     (UFFD_USER_MODE_ONLY);
#   - tests/programs/seccomp errno and kill: the program installs a
#     filter refusing open and userfaultfd (EPERM, or killing the
#     process) after start-up; it must finish with the plain run's stdout
#     and status, and the trace must hold exactly one "pacegc: concurrent
#     marking is off under a seccomp filter" line, after which every cycle
#     marks with the world stopped (at least 2 cycles follow it).
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 4 "LIBPACEGC MUTATE_EXE SECCOMP_EXE NONROOT_SH" "$@"
test_lib "$1"
mutate=$2 seccomp=$3 nonroot=$4

test_checks concurrent
chmod 777 "$tmp"
off_line='^pacegc: concurrent marking is off'

# Unprivileged, tracking on.  The library is copied where uid 65534 can
# read it.
cp "$lib" "$tmp/libpacegc.so"
chmod 755 "$tmp/libpacegc.so"
touch "$tmp/mutate.trace"
chmod 666 "$tmp/mutate.trace"
set +e
env LD_PRELOAD="$tmp/libpacegc.so" PACEGC_TRACE="$tmp/mutate.trace" \
	PACEGC_GODEBUG=concurrent=2,gctrace=1,gcstress=500 \
	bash "$nonroot" "$mutate" 2 4 >"$tmp/mutate.out" 2>"$tmp/mutate.err"
status=$?
set -e
[ "$status" -eq 0 ] || { tail -n 20 "$tmp/mutate.err"; fail "mutate as an unprivileged user exited $status"; }
grep -q '^mutate: 4096 objects intact$' "$tmp/mutate.out" ||
	fail "mutate printed: $(head -c 200 "$tmp/mutate.out")"
cycles=$(grep -c '^gc ' "$tmp/mutate.trace" || true)
[ "$cycles" -ge 5 ] || fail "mutate ran $cycles cycles, want at least 5"
if grep -q "$off_line" "$tmp/mutate.trace"; then
	fail "concurrent marking was off for an unprivileged user: $(grep "$off_line" "$tmp/mutate.trace")"
fi

# Under a seccomp filter installed after start-up.
for action in errno kill; do
	set +e
	"$seccomp" "$action" >"$tmp/$action.plain" 2>/dev/null
	plain_status=$?
	env LD_PRELOAD="$lib" PACEGC_TRACE="$tmp/$action.trace" \
		PACEGC_GODEBUG=concurrent=2,gctrace=1 \
		"$seccomp" "$action" >"$tmp/$action.out" 2>"$tmp/$action.err"
	status=$?
	set -e
	[ "$status" -eq "$plain_status" ] ||
		{ tail -n 20 "$tmp/$action.err"; fail "seccomp $action exited $status, plain $plain_status"; }
	cmp -s "$tmp/$action.plain" "$tmp/$action.out" || fail "seccomp $action: stdout differs from the plain run's"
	told=$(grep -c "$off_line under a seccomp filter" "$tmp/$action.trace" || true)
	[ "$told" -eq 1 ] || fail "seccomp $action: $told lines saying concurrent marking is off, want 1"
	after=$(sed -n "/$off_line/,\$p" "$tmp/$action.trace" | grep -c '^gc ' || true)
	[ "$after" -ge 2 ] || fail "seccomp $action: $after cycles after the fallback, want at least 2"
done

[ "$failures" -eq 0 ] || exit 1
echo "ok: concurrent marking as uid $(id -u) -> unprivileged ($cycles cycles), fallback under seccomp (errno, kill)"
