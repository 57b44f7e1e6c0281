#!/bin/bash
# Run a command plain and with a library preloaded; compare byte for byte.
#
#   compare.sh [options] LIBPACEGC [options] -- CMD [ARGS...]
#
# CMD runs twice: first plain (any LD_PRELOAD already set is kept), then
# with LIBPACEGC appended to LD_PRELOAD.  Each run starts from the same
# state at the same path: a fresh working directory BASE/run/cwd (a copy of
# what --setup made), a fresh HOME (BASE/run/home) and TMPDIR
# (BASE/run/tmp), LC_ALL=C, TZ=UTC, stdin from /dev/null or --stdin.
# Because the paths are the same in both runs, output that mentions them
# (git init, compiler messages) compares equal.  CMD and file arguments
# should be absolute paths (or CMD found in PATH): the runs do not start
# in the caller's directory.
#
# Compared: stdout, stderr, exit status; with --files also the tree the run
# leaves in its working directory.  Any difference prints a unified diff
# and exits 1.  A "pacegc:" line in the preloaded run's stderr is a failure
# of its own, named as such.  Exits 77 (skipped, for meson) if LIBPACEGC
# does not exist, 2 on bad usage.
#
# Options:
#   --setup SHELLCMD  run once (plain, sh -c, in the working directory)
#                     before the runs; what it leaves there is the
#                     starting state of both runs
#   --stdin FILE      feed FILE to CMD on stdin
#   --files           also compare the working directory trees afterwards
#   --status N        the exit status the plain run must have (default 0;
#                     "any" accepts all), so that a test broken in both
#                     runs the same way does not pass
#   --told REGEX      the preloaded run must print exactly one "pacegc:"
#                     line, and it must match REGEX (a case where pacegc
#                     has to tell the user something); stderr is compared
#                     without it
#   --keep            keep the temporary directory (its path is printed)
set -eu
set -o pipefail
export LC_ALL=C TZ=UTC

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

setup='' stdin=/dev/null files=0 keep=0 lib='' want_status=0 told=
while [ $# -gt 0 ]; do
	case $1 in
	--setup) [ $# -ge 2 ] || usage; setup=$2; shift 2 ;;
	--stdin) [ $# -ge 2 ] || usage; stdin=$2; shift 2 ;;
	--files) files=1; shift ;;
	--status) [ $# -ge 2 ] || usage; want_status=$2; shift 2 ;;
	--told) [ $# -ge 2 ] || usage; told=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--) shift; break ;;
	-h|--help) usage ;;
	-*) echo "compare.sh: unknown option $1" >&2; usage ;;
	*) [ -z "$lib" ] || usage; lib=$1; shift ;;
	esac
done
if [ -z "$lib" ] || [ $# -eq 0 ]; then usage; fi

case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
case $stdin in /*) ;; *) stdin=$PWD/$stdin ;; esac
if [ ! -e "$lib" ]; then
	echo "SKIP: $lib does not exist (library not built yet)"
	exit 77
fi
# A relative command path is taken from the caller's directory.
case $1 in /*) ;; */*) set -- "$PWD/$1" "${@:2}" ;; esac
if ! command -v "$1" >/dev/null 2>&1; then
	echo "FAIL: command not found: $1 (is its package installed?)"
	exit 1
fi
[ -r "$stdin" ] || { echo "FAIL: cannot read --stdin $stdin"; exit 1; }

base=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-compare.XXXXXX")
if [ "$keep" -eq 1 ]; then
	echo "compare.sh: keeping $base"
else
	trap 'chmod -R u+rwX "$base" 2>/dev/null; rm -rf "$base"' EXIT
fi

fresh_run_dir() {
	if [ -e "$base/run" ]; then
		chmod -R u+rwX "$base/run" 2>/dev/null || true
		rm -rf "$base/run"
	fi
	mkdir -p "$base/run/home" "$base/run/tmp"
}

# The starting state of the working directory.
fresh_run_dir
mkdir "$base/run/cwd"
if [ -n "$setup" ]; then
	if ! (cd "$base/run/cwd" && HOME=$base/run/home TMPDIR=$base/run/tmp \
		sh -c "$setup" </dev/null >"$base/setup.log" 2>&1); then
		echo "FAIL: --setup command failed: $setup"
		cat "$base/setup.log"
		exit 1
	fi
fi
mv "$base/run/cwd" "$base/seed"

# run_one MODE PRELOAD CMD...: MODE is plain or preload.
run_one() {
	local mode=$1 preload=$2 status
	shift 2
	fresh_run_dir
	cp -a "$base/seed" "$base/run/cwd"
	set +e
	(
		cd "$base/run/cwd" || exit 125
		export HOME=$base/run/home TMPDIR=$base/run/tmp
		if [ -n "$preload" ]; then
			export LD_PRELOAD=$preload
		fi
		exec "$@" <"$stdin" >"$base/$mode.stdout" 2>"$base/$mode.stderr"
	)
	status=$?
	set -e
	echo "exit status $status" >"$base/$mode.status"
	if [ "$files" -eq 1 ]; then
		mv "$base/run/cwd" "$base/$mode.tree"
	fi
}

run_one plain "${LD_PRELOAD:-}" "$@"
run_one preload "${LD_PRELOAD:+$LD_PRELOAD:}$lib" "$@"

ok=1
if [ -n "$told" ]; then
	mv "$base/preload.stderr" "$base/preload.stderr.all"
	grep -av '^pacegc:' "$base/preload.stderr.all" >"$base/preload.stderr" || true
	grep -a '^pacegc:' "$base/preload.stderr.all" >"$base/told" || true
	if [ "$(wc -l <"$base/told")" -ne 1 ] || ! grep -aEq -- "$told" "$base/told"; then
		ok=0
		echo "FAIL: want exactly one pacegc: line matching '$told'; the preloaded run printed:"
		head -n 20 "$base/told"
	fi
fi
for part in status stdout stderr; do
	if ! cmp -s "$base/plain.$part" "$base/preload.$part"; then
		ok=0
		echo "DIFF in $part (- plain, + preloaded):"
		diff -a -u --label "plain/$part" --label "preload/$part" \
			"$base/plain.$part" "$base/preload.$part" |
			head -n 120 || true
	fi
done
if [ "$files" -eq 1 ] &&
	! diff -r --no-dereference "$base/plain.tree" "$base/preload.tree" \
		>"$base/tree.diff" 2>&1; then
	ok=0
	echo "DIFF in the files left in the working directory:"
	head -n 60 "$base/tree.diff"
fi
if grep -aq '^pacegc:' "$base/preload.stderr"; then
	ok=0
	echo "FAIL: the preloaded run printed pacegc reports on stderr:"
	grep -a -A8 '^pacegc:' "$base/preload.stderr" | head -n 60 || true
fi

if [ "$want_status" != any ] &&
	[ "$(cat "$base/plain.status")" != "exit status $want_status" ]; then
	ok=0
	echo "FAIL: the plain run ended with $(cat "$base/plain.status")," \
		"want $want_status; its stderr:"
	head -n 40 "$base/plain.stderr"
fi

cmdline="$*"
if [ "$ok" -eq 1 ]; then
	echo "ok: same stdout ($(wc -c <"$base/plain.stdout") bytes)," \
		"stderr ($(wc -c <"$base/plain.stderr") bytes)" \
		"and $(cat "$base/plain.status") plain and preloaded: ${cmdline:0:200}"
	exit 0
fi
echo "FAIL: plain and preloaded runs differ: ${cmdline:0:200}"
exit 1
