#!/bin/bash
# gctrace and scavtrace lines in Go's exact format:
#   gctrace_format.sh LIBPACEGC GCTRACE_EXE
#
# Runs tests/programs/gctrace (48 MB live, garbage, a pacegc_collect()
# every fourth round and pacegc_free_os_memory() at the end) plain, and
# preloaded with PACEGC_GODEBUG=gctrace=1,scavtrace=1.  Checks:
#   - stdout is the plain run's and both runs exit 0;
#   - every stderr line is a "gc " or a "scav " line (no "pacegc:" report);
#   - EVERY line starting with "gc " matches Go's format (runtime/mgc.go,
#     gcMarkTermination):
#       gc N @S.sss s P%: a+b+c ms clock, A+As/Ab/Ai+C ms cpu,
#          h0->h1->h2 MB, G MB goal, K MB stacks, R MB globals, X P[ (forced)]
#     where @ is seconds with exactly 3 decimals (itoaDiv(ms, 3)), every
#     time in ms is Go's fmtNSAsMS: whole ms from 10 ms up ("12"), else two
#     significant digits with at most 3 decimals ("0", "0.005", "0.099",
#     "0.38", "2.0", "9.9"; never "0.100", "10.0", "0.0", "1.25"), and
#     heap sizes, P% and X are plain integers; there are at least 5 such
#     lines (measured 14 to 24) and at least 3 of them end in " (forced)"
#     (one per pacegc_collect() and one for pacegc_free_os_memory(): 4).
#     The program's heap makes every form of fmtNSAsMS appear (measured:
#     "0", "0.0xx", "0.xx", "x.x" and ">=10" each 2 to 57 times a run);
#   - every line starting with "scav " matches Go 1.21's format
#     (runtime/mgcscavenge.go, printScavTrace):
#       scav B KiB work (bg), E KiB work (eager), N KiB now, U% util[ (forced)]
#     there is at least one (a missing scav line fails the test with its
#     own message, after the gc checks have run), and at least one ends in
#     " (forced)": pacegc_free_os_memory(), like Go's debug.FreeOSMemory,
#     scavenges at once and says so (measured 15 to 23 scav lines, 1
#     forced);
#   - the same gc regex matches every "gc " line of a real Go program run
#     with GODEBUG=gctrace=1 (built here with a temporary GOCACHE, calling
#     runtime.GC() for forced lines), and with Go 1.21 or later the scav
#     regex matches its GODEBUG=scavtrace=1 lines: so the regex is Go's
#     format, not just pacegc's.  Skipped (this part only) when `go` is not
#     installed;
#   - the regexes themselves accept and reject a list of samples.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 2 "LIBPACEGC GCTRACE_EXE" "$@"
lib=$1 exe=$2
test_lib "$lib"

# Go's fmtNSAsMS.
ms='(0|0\.0(0[1-9]|[1-9][0-9])|0\.[1-9][0-9]|[1-9]\.[0-9]|[1-9][0-9]+)'
n='(0|[1-9][0-9]*)'
gc_re="gc [1-9][0-9]* @$n\.[0-9]{3}s $n%: $ms\+$ms\+$ms ms clock, $ms\+$ms/$ms/$ms\+$ms ms cpu, $n->$n->$n MB, $n MB goal, $n MB stacks, $n MB globals, [1-9][0-9]* P( \(forced\))?"
scav_re="scav $n KiB work \(bg\), $n KiB work \(eager\), $n KiB now, $n% util( \(forced\))?"

test_checks gctrace_format

# matches RE: reads lines on stdin; true when every one matches RE whole.
matches() { ! grep -E -v -x -e "$1" | grep -q .; }

# Regex self-test.
for s in 0 0.001 0.005 0.010 0.099 0.10 0.38 0.99 1.0 2.0 9.9 10 12 999 12345; do
	echo "$s" | matches "$ms" || fail "the ms regex rejects $s (Go prints it)"
done
for s in 00 0.0 0.000 0.100 0.0099 0.380 1.00 1.25 10.0 09 9 .5 1e3 -1 ''; do
	if echo "$s" | grep -E -x -q -e "$ms"; then
		fail "the ms regex accepts '$s' (Go never prints it)"
	fi
done
good='gc 45 @0.962s 4%: 0.081+0.14+0 ms clock, 0.16+0/0.13/0+0 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 2 MB globals, 2 P'
echo "$good" | matches "$gc_re" || fail "the gc regex rejects: $good"
echo "$good (forced)" | matches "$gc_re" || fail "the gc regex rejects: $good (forced)"
for bad in "${good/@0.962s/@0.96s}" "${good/0.081+/0.0810+}" \
	"${good/ 2 P/ 2 P }" "${good/ms cpu/ms  cpu}" "${good/4->4->0/4->4.5->0}" \
	"$good (forced) " "${good/ 4%:/ 4.0%:}" "${good/gc 45/gc 0}"; do
	if echo "$bad" | grep -E -x -q -e "$gc_re"; then
		fail "the gc regex accepts: $bad"
	fi
done
echo 'scav 0 KiB work (bg), 1024 KiB work (eager), 3256 KiB now, 99% util' |
	matches "$scav_re" || fail "the scav regex rejects a good line"
for bad in 'scav 0 KiB work, 2232 KiB total, 99% util' \
	'scav 0 KiB work (bg), 1 KiB work (eager), 2 KiB now, 99.5% util'; do
	if echo "$bad" | grep -E -x -q -e "$scav_re"; then
		fail "the scav regex accepts: $bad"
	fi
done

# pacegc.
set +e
"$exe" </dev/null >"$tmp/plain.out" 2>"$tmp/plain.err"
st_plain=$?
LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" PACEGC_GODEBUG=gctrace=1,scavtrace=1 \
	"$exe" </dev/null >"$tmp/pre.out" 2>"$tmp/pre.err"
st_pre=$?
set -e
[ "$st_plain" -eq 0 ] || fail "the plain run exited $st_plain"
[ "$st_pre" -eq 0 ] || fail "the preloaded run exited $st_pre"
if ! cmp -s "$tmp/plain.out" "$tmp/pre.out"; then
	diff -u --label plain --label preloaded "$tmp/plain.out" "$tmp/pre.out" |
		head -n 20 || true
	fail "stdout differs from the plain run"
fi
[ ! -s "$tmp/plain.err" ] || fail "the plain run wrote on stderr"
if grep -v -e '^gc ' -e '^scav ' "$tmp/pre.err" | grep -q .; then
	grep -v -e '^gc ' -e '^scav ' "$tmp/pre.err" | head -n 20
	fail "stderr holds lines other than gc and scav lines"
fi
grep '^gc ' "$tmp/pre.err" >"$tmp/gc" || true
grep '^scav ' "$tmp/pre.err" >"$tmp/scav" || true
ngc=$(wc -l <"$tmp/gc")
nforced=$(grep -c ' (forced)$' "$tmp/gc" || true)
nscav=$(wc -l <"$tmp/scav")
if ! matches "$gc_re" <"$tmp/gc"; then
	echo "--- gc lines not in Go's format:"
	grep -E -v -x -e "$gc_re" "$tmp/gc" | head -n 10
	fail "$(grep -E -v -x -c -e "$gc_re" "$tmp/gc") of $ngc gc lines are not in Go's format"
fi
[ "$ngc" -ge 5 ] || fail "only $ngc gc lines; want at least 5"
[ "$nforced" -ge 3 ] ||
	fail "$nforced gc lines end in (forced); want at least 3 (pacegc_collect)"
if [ "$nscav" -eq 0 ]; then
	fail "no scav line with PACEGC_GODEBUG=scavtrace=1 (the scavenger's" \
		"trace line is missing)"
elif ! matches "$scav_re" <"$tmp/scav"; then
	echo "--- scav lines not in Go's format:"
	grep -E -v -x -e "$scav_re" "$tmp/scav" | head -n 10
	fail "$(grep -E -v -x -c -e "$scav_re" "$tmp/scav") of $nscav scav lines are not in Go's format"
fi
nscavforced=$(grep -c ' (forced)$' "$tmp/scav" || true)
[ "$nscav" -eq 0 ] || [ "$nscavforced" -ge 1 ] ||
	fail "no scav line ends in (forced): pacegc_free_os_memory() should" \
		"scavenge at once and say so, as Go's debug.FreeOSMemory does"
# Which of fmtNSAsMS's forms the run printed (for the record).
forms=$(sed -E 's/^[^:]*: //; s/ ms cpu.*//; s/ ms clock, /+/; s#[+/]# #g' "$tmp/gc" |
	tr ' ' '\n' | sed -E 's/^0$/zero/; s/^0\.0[0-9]+$/0.0xx/; s/^0\.[1-9][0-9]$/0.xx/; s/^[1-9]\.[0-9]$/x.x/; s/^[1-9][0-9]+$/>=10/' |
	sort | uniq -c | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
summary="pacegc: $ngc gc lines ($nforced forced; ms forms: $forms), $nscav scav lines ($nscavforced forced)"

# Real Go.
if ! command -v go >/dev/null 2>&1; then
	summary+="; go not installed: Go's own lines not checked"
else
	mkdir "$tmp/go"
	cat >"$tmp/go/main.go" <<'EOF'
package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

func main() {
	live := make([][]byte, 0, 1<<15)
	for i := 0; i < 1<<15; i++ {
		live = append(live, make([]byte, 512))
	}
	sum := 0
	for r := 0; r < 200; r++ {
		for i := 0; i < 1000; i++ {
			b := make([]byte, 1024+i)
			b[0] = byte(i)
			sum += int(b[0])
		}
		if r%50 == 49 {
			runtime.GC()
		}
	}
	debug.FreeOSMemory()
	runtime.KeepAlive(live)
	fmt.Println(sum)
}
EOF
	goenv=(env -u GOROOT GOENV=off GOCACHE="$tmp/go/cache" GOPATH="$tmp/go/path"
		GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GO111MODULE= CGO_ENABLED=0
		HOME="$tmp/go")
	gover=$("${goenv[@]}" go env GOVERSION 2>/dev/null || echo unknown)
	if ! (cd "$tmp/go" && "${goenv[@]}" go build -o prog main.go) >"$tmp/go/build.log" 2>&1; then
		head -n 20 "$tmp/go/build.log"
		fail "could not build the Go program with $gover"
	else
		set +e
		(cd "$tmp/go" && GODEBUG=gctrace=1,scavtrace=1 ./prog) \
			>"$tmp/go/out" 2>"$tmp/go/err"
		st=$?
		set -e
		[ "$st" -eq 0 ] || fail "the Go program exited $st"
		grep '^gc ' "$tmp/go/err" >"$tmp/go/gc" || true
		grep '^scav ' "$tmp/go/err" >"$tmp/go/scav" || true
		gongc=$(wc -l <"$tmp/go/gc")
		goforced=$(grep -c ' (forced)$' "$tmp/go/gc" || true)
		if [ "$gongc" -lt 3 ] || [ "$goforced" -lt 1 ]; then
			fail "$gover printed $gongc gc lines, $goforced forced; want at least 3 and 1"
		fi
		if ! matches "$gc_re" <"$tmp/go/gc"; then
			grep -E -v -x -e "$gc_re" "$tmp/go/gc" | head -n 10
			fail "the gc regex rejects lines of real $gover (the regex is wrong)"
		fi
		summary+="; $gover: $gongc gc lines ($goforced forced) match"
		# printScavTrace took its (bg)/(eager) form in Go 1.21.
		minor=$(echo "$gover" | sed -n -E 's/^go1\.([0-9]+).*/\1/p')
		if [ -n "$minor" ] && [ "$minor" -ge 21 ]; then
			goscav=$(wc -l <"$tmp/go/scav")
			if [ "$goscav" -gt 0 ] && ! matches "$scav_re" <"$tmp/go/scav"; then
				grep -E -v -x -e "$scav_re" "$tmp/go/scav" | head -n 10
				fail "the scav regex rejects lines of real $gover (the regex is wrong)"
			fi
			summary+=", $goscav scav lines match"
		else
			summary+=" (its scav lines are the pre-1.21 format: not compared)"
		fi
	fi
fi

if [ "$failures" -gt 0 ]; then
	echo "$summary"
	echo "--- preloaded stderr (first 10 lines):"
	head -n 10 "$tmp/pre.err"
	exit 1
fi
echo "ok: gctrace_format: $summary"
