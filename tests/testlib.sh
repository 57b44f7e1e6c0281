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

# test_checks NAME: for a script that checks several things and reports
# each failure: a scratch directory in tmp (removed at exit, even where
# the test made parts of it read-only), failures=0, and fail MESSAGE,
# which prints "FAIL NAME: MESSAGE" and counts it.
test_checks() {
	test_name=$1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-$1.XXXXXX")
	trap 'chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
	failures=0
}
fail() {
	echo "FAIL $test_name: $*"
	failures=$((failures + 1))
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

# test_need CMD PACKAGE...: makes sure CMD is on PATH; if it is not and
# this is root with apt-get, installs PACKAGE... (Debian's names) quietly;
# if CMD is still missing, exits 77 (meson's "skipped") saying so.
test_need() {
	local cmd=$1
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; } ||
			true
	fi
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "SKIP: $cmd not found and the packages $* could not be installed"
		exit 77
	fi
}

# trace_heap_ratios FILE: over the gctrace lines of FILE whose goal is at
# least 8 MB (the first cycles' goals are too small for the MB-rounded
# figures), the heap at each cycle's start over its goal: prints
# "CYCLES MEAN MAX LINE", LINE being the cycle with the highest.
trace_heap_ratios() {
	awk '
		/^gc [0-9]+ @/ {
			for (i = 1; i <= NF; i++) if ($i == "MB," && $(i + 2) == "MB") {
				split($(i - 1), h, "->"); goal = $(i + 1)
				if (goal >= 8) {
					n++; r = h[1] / goal; sum += r
					if (r > worst) { worst = r; line = $0 }
				}
			}
		}
		END { printf "%d %.2f %.2f %s\n", n, n ? sum / n : 0, worst, line }' "$1"
}

# test_pin_cpu: sets pin to a command prefix (taskset) that runs a
# command on one CPU this script may use, the same every time; exits 77
# (meson's "skipped") where a process cannot be pinned.
test_pin_cpu() {
	local cpu
	cpu=$(taskset -pc $$ 2>/dev/null | sed -n 's/.*: *\([0-9][0-9]*\).*/\1/p')
	if [ -z "$cpu" ] || ! taskset -c "$cpu" true 2>/dev/null; then
		echo "SKIP: cannot pin a process to a CPU (taskset)"
		exit 77
	fi
	pin=(taskset -c "$cpu")
}

# test_spin N: starts N processes that spin on the CPU test_pin_cpu
# chose (busy neighbours); test_unspin stops them, and is safe to call
# again (the scripts call it from their EXIT trap too).
spinners=()
test_spin() {
	local i
	for ((i = 0; i < $1; i++)); do
		"${pin[@]}" sh -c 'while :; do :; done' &
		spinners+=($!)
	done
}
test_unspin() {
	[ ${#spinners[@]} -eq 0 ] || kill "${spinners[@]}" 2>/dev/null || true
	spinners=()
}

# test_free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
test_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# test_wait_port PORT SECONDS: waits until something accepts on
# 127.0.0.1:PORT; returns 1 if nothing does in time.
test_wait_port() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}
