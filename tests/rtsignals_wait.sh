#!/bin/bash
# A thread that blocks every real-time signal and takes them with
# sigtimedwait or from a signalfd, under pacegc (issue 8, item 13):
#
#   rtsignals_wait.sh LIBPACEGC RTSIGNALS MODE      (MODE: sigwait, signalfd)
#
# Runs `RTSIGNALS MODE` plain (it must pass: exit 0), then preloaded.  The
# preloaded run passes when either
#   - the program receives every real-time signal it sends, sees none it
#     did not send, cycles keep running (exit 0), and stderr holds no
#     "pacegc:" line: pacegc shares its stop signal even here; or
#   - exactly one signal never arrives and nothing else goes wrong (exit
#     3), and stderr holds exactly one "pacegc:" line that names that
#     signal (its number, or RTMIN+k / RTMAX-k) and is not the "did not
#     stop" message: pacegc says once that it cannot share this one.
# Anything else fails: signals the program never sent reaching its wait
# (pacegc's stop signal stolen), cycles stalled behind the waiting thread,
# a missing signal without a message, or more than one message.  PACEGC_*
# variables are taken from the environment.  Exits 77 (skipped, for
# meson) if LIBPACEGC does not exist, 2 on bad usage.
set -eu
export LC_ALL=C TZ=UTC

if [ $# -ne 3 ]; then
	echo "usage: $0 LIBPACEGC RTSIGNALS sigwait|signalfd" >&2
	exit 2
fi
lib=$1 prog=$2 mode=$3
case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
if [ ! -e "$lib" ]; then
	echo "SKIP: $lib does not exist (library not built yet)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-rtwait.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

set +e
"$prog" "$mode" </dev/null >"$tmp/plain.out" 2>"$tmp/plain.err"
plain=$?
LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" "$prog" "$mode" \
	</dev/null >"$tmp/out" 2>"$tmp/err"
status=$?
set -e

if [ "$plain" -ne 0 ]; then
	echo "FAIL: the plain run of $prog $mode ended with status $plain:"
	cat "$tmp/plain.out" "$tmp/plain.err"
	exit 1
fi
grep -v ': 3 of 3 received$' "$tmp/out" || true
env | grep '^PACEGC_' | sed 's/^/with /' || true
reports=$(grep -ac '^pacegc:' "$tmp/err" || true)

fail() {
	echo "FAIL: $*"
	echo "preloaded run: exit status $status; stderr:"
	head -n 40 "$tmp/err"
	exit 1
}

case $status in
0)
	[ "$reports" -eq 0 ] || fail "every signal arrived, yet pacegc printed $reports report(s)"
	echo "ok: every real-time signal reached the program's $mode; no pacegc report"
	;;
3)
	line=$(grep -a '^pacegc:' "$tmp/err" || true)
	[ "$reports" -eq 1 ] ||
		fail "one signal never arrived; want exactly one pacegc line saying so, got $reports"
	sig=$(sed -n 's/^.*one signal never arrived: \([0-9]*\) (SIGRTMIN+\([0-9]*\)).*$/\1 \2/p' "$tmp/out")
	num=${sig% *} k=${sig#* }
	[ -n "$num" ] || fail "cannot read the missing signal from the program's output"
	max=$(kill -l RTMAX 2>/dev/null || echo 64)
	if echo "$line" | grep -q 'did not stop'; then
		fail "the one pacegc line is the stop timeout, not a word about the signal"
	fi
	if ! echo "$line" | grep -Eq "(^|[^0-9])$num([^0-9]|$)|RTMIN\+$k([^0-9]|$)|RTMAX-$((max - num))([^0-9]|$)"; then
		fail "the pacegc line does not name signal $num (SIGRTMIN+$k): $line"
	fi
	echo "ok: signal $num kept by pacegc, said once: $line"
	;;
*)
	fail "the program's checks failed (see above)"
	;;
esac
