#!/bin/bash
# The trace's destination (PACEGC_TRACE):
#   tracefile.sh LIBPACEGC GCTRACE_EXE CLOSEFDS_EXE
#
# Runs tests/programs/gctrace (cycles of every kind, a checksum per round
# on stdout, nothing on stderr) and tests/programs/closefds (closes every
# descriptor it did not open, then runs cycles) plain, then preloaded with
# gctrace and scavtrace on and the trace sent elsewhere.  Checks:
#   - PACEGC_TRACE=FILE: stdout as plain, stderr empty as plain; FILE holds
#     only gc lines (each "gc N @...s P%: ...") and scav lines, at least 5
#     gc lines;
#   - PACEGC_TRACE=fd:3 with 3 opened on a file: the same, in that file;
#   - a program that closes every descriptor (closefds, both ways): its
#     cycles after the close still reach the trace (at least 4 gc lines);
#   - with PACEGC_RECLAIM=off, pacegc's own lines about a cycle go to the
#     trace too, and start "pacegc gc N ": every line that starts "gc "
#     is a cycle's (parsers of Go's trace read it unchanged);
#   - bad values (fd:x, a descriptor not open, a path that cannot be
#     opened): exactly one pacegc: line on stderr naming PACEGC_TRACE, and
#     the trace on stderr as without the variable.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 3 "LIBPACEGC GCTRACE_EXE CLOSEFDS_EXE" "$@"
test_lib "$1"
gctrace=$2 closefds=$3

test_checks tracefile

gc_line='gc [1-9][0-9]* @[0-9]+\.[0-9]{3}s [0-9]+%: .* ms clock, .* ms cpu, [0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, [0-9]+ MB stacks, [0-9]+ MB globals, [0-9]+ P( \(forced\))?'
scav_line='scav [0-9]+ KiB work \(bg\), [0-9]+ KiB work \(eager\), [0-9]+ KiB now, [0-9]+% util( \(forced\))?'
own_line='pacegc gc [1-9][0-9]* (reclaim off|deferred frees): .*'

# run NAME EXE [ENV...]: runs EXE plain (NAME.plain.*) once per EXE, and
# preloaded under ENV (NAME.out, NAME.err); fails on a non-zero exit.
run() {
	local name=$1 exe=$2 st
	shift 2
	local base
	base=$(basename "$exe")
	if [ ! -e "$tmp/$base.plain.out" ]; then
		"$exe" </dev/null >"$tmp/$base.plain.out" 2>"$tmp/$base.plain.err" ||
			fail "$base exited $? plain"
	fi
	set +e
	env LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" "$@" "$exe" </dev/null \
		>"$tmp/$name.out" 2>"$tmp/$name.err"
	st=$?
	set -e
	[ "$st" -eq 0 ] || fail "$name: exited $st"
	cmp -s "$tmp/$base.plain.out" "$tmp/$name.out" || fail "$name: stdout differs from the plain run"
}

# trace_ok NAME FILE MIN: FILE holds only trace lines, at least MIN gc lines.
trace_ok() {
	local name=$1 file=$2 min=$3 n
	[ -e "$file" ] || { fail "$name: no trace file"; return; }
	if grep -E -v -x -e "$gc_line" -e "$scav_line" -e "$own_line" "$file" | grep -q .; then
		grep -E -v -x -e "$gc_line" -e "$scav_line" -e "$own_line" "$file" | head -n 5
		fail "$name: the trace holds other lines"
	fi
	n=$(grep -E -c -x -e "$gc_line" "$file" || true)
	[ "$n" -ge "$min" ] || fail "$name: $n gc lines in the trace; want at least $min"
}

# stderr_clean NAME: the preloaded stderr is the plain one.
stderr_clean() {
	[ ! -s "$tmp/$1.err" ] || { head -n 5 "$tmp/$1.err"; fail "$1: stderr is not empty"; }
}

debug=PACEGC_GODEBUG=gctrace=1,scavtrace=1

run file "$gctrace" "$debug" PACEGC_TRACE="$tmp/file.trace"
stderr_clean file
trace_ok file "$tmp/file.trace" 5

: >"$tmp/fd.trace"
exec 3>>"$tmp/fd.trace"
run fd "$gctrace" "$debug" PACEGC_TRACE=fd:3
exec 3>&-
stderr_clean fd
trace_ok fd "$tmp/fd.trace" 5

run closefds-file "$closefds" "$debug" PACEGC_TRACE="$tmp/closefds-file.trace"
stderr_clean closefds-file
trace_ok closefds-file "$tmp/closefds-file.trace" 4

: >"$tmp/closefds-fd.trace"
exec 3>>"$tmp/closefds-fd.trace"
run closefds-fd "$closefds" "$debug" PACEGC_TRACE=fd:3
exec 3>&-
stderr_clean closefds-fd
trace_ok closefds-fd "$tmp/closefds-fd.trace" 4

run dryrun "$gctrace" "$debug" PACEGC_RECLAIM=off PACEGC_TRACE="$tmp/dryrun.trace"
stderr_clean dryrun
trace_ok dryrun "$tmp/dryrun.trace" 5
grep -E -q -x -e "$own_line" "$tmp/dryrun.trace" ||
	fail "dryrun: no 'pacegc gc N reclaim off' line in the trace"

# Bad values: one line, and the trace where it would have been.
for bad in fd:x fd:57 "$tmp/no/such/dir/trace"; do
	run bad "$gctrace" "$debug" PACEGC_TRACE="$bad"
	n=$(grep -c '^pacegc: ' "$tmp/bad.err" || true)
	[ "$n" -eq 1 ] || fail "PACEGC_TRACE=$bad: $n pacegc: lines; want 1"
	grep -q '^pacegc: PACEGC_TRACE="' "$tmp/bad.err" ||
		fail "PACEGC_TRACE=$bad: the line does not name PACEGC_TRACE"
	grep -v '^pacegc: ' "$tmp/bad.err" >"$tmp/bad.trace" || true
	trace_ok "PACEGC_TRACE=$bad" "$tmp/bad.trace" 5
done

[ "$failures" -eq 0 ] || exit 1
echo "ok: tracefile: file, fd:3, after close_range, dry-run lines, bad values"
