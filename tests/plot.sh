#!/bin/bash
# pacegc plot (tools/pacegc-plot) draws pacegc's and Go's traces:
#   plot.sh LIBPACEGC GCTRACE_EXE LAUNCHER
#
# Runs tests/programs/gctrace preloaded with gctrace=1, the trace sent to
# a file, and plots it through the launcher (`pacegc plot`); plots twelve
# lines of a Go 1.19 program's trace (below, as Go printed them) with a
# memory limit.  Checks: exit 0, the SVG parses as XML, one bar of each
# of the three clock phases per cycle, a line per heap series (four, five
# with the limit) and the CPU line, the limit's value on the axis; a file
# with no gctrace line exits 1 with one line; -o x.png writes a PNG of
# the picture's size (rsvg-convert, Debian's librsvg2-bin); an output
# neither .svg nor .png exits 2.
# Exits 77 (skipped) when LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 3 "LIBPACEGC GCTRACE_EXE LAUNCHER" "$@"
test_lib "$1"
gctrace=$2 launcher=$3

test_checks plot

cat >"$tmp/go.trace" <<'GO'
gc 1 @0.019s 3%: 0.038+3.5+0.005 ms clock, 0.077+1.3/0.050/0.40+0.010 ms cpu, 3->4->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 2 @0.038s 2%: 0.012+0.89+0.035 ms clock, 0.024+0.24/0.36/0.26+0.071 ms cpu, 7->7->7 MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 3 @0.060s 2%: 0.016+0.63+0.078 ms clock, 0.033+0.17/0.20/0+0.15 ms cpu, 12->12->12 MB, 14 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 4 @0.111s 1%: 0.016+1.4+0.078 ms clock, 0.032+0.18/0.42/0.68+0.15 ms cpu, 24->24->24 MB, 24 MB goal, 0 MB stacks, 0 MB globals, 2 P
churn: live set filled
gc 5 @0.187s 1%: 0.020+1.1+0.049 ms clock, 0.040+0.13/0.048/0.40+0.098 ms cpu, 41->41->32 MB, 48 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 6 @0.293s 0%: 0.018+1.2+0.078 ms clock, 0.036+0.17/0.092/0.68+0.15 ms cpu, 63->63->32 MB, 65 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 7 @0.305s 0%: 0.014+1.0+0.086 ms clock, 0.029+0.038/0.79/0+0.17 ms cpu, 63->64->32 MB, 65 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 8 @0.317s 0%: 0.018+1.2+0.14 ms clock, 0.036+0.17/0.050/0.74+0.28 ms cpu, 63->64->32 MB, 65 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 9 @0.328s 1%: 0.015+2.0+0.051 ms clock, 0.031+0.035/1.7/0+0.10 ms cpu, 63->64->32 MB, 65 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 10 @0.340s 1%: 0.015+1.9+0.082 ms clock, 0.030+0.036/1.6/0+0.16 ms cpu, 63->64->33 MB, 65 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 11 @0.352s 1%: 0.016+5.7+0.005 ms clock, 0.032+1.0/0.047/0+0.010 ms cpu, 64->66->33 MB, 66 MB goal, 0 MB stacks, 0 MB globals, 2 P
GO

LD_PRELOAD=$lib PACEGC_GODEBUG=gctrace=1 PACEGC_TRACE="$tmp/pacegc.trace" "$gctrace" \
	>/dev/null 2>&1 || fail "gctrace exited $?"

# check SVG TRACE [LIMIT]: the picture agrees with the trace.
check() {
	python3 - "$@" <<'PY'
import re, sys
import xml.etree.ElementTree as ET
svg, trace = sys.argv[1], sys.argv[2]
limit = sys.argv[3] if len(sys.argv) > 3 else None
cycles = sum(1 for l in open(trace) if re.match(r"^gc \d+ @", l))
root = ET.parse(svg).getroot()
ns = "{http://www.w3.org/2000/svg}"
fills = [r.get("fill") for r in root.iter(ns + "rect")]
lines = list(root.iter(ns + "polyline"))
bad = []
for color in ("#d62728", "#aec7e8", "#ff9896"):   # the three phases
    n = fills.count(color) - 1                     # less the legend's swatch
    if n != cycles:
        bad.append("%s: %d bars for %d cycles" % (color, n, cycles))
want = 5 + (1 if limit else 0)
if len(lines) != want:
    bad.append("%d lines, expected %d" % (len(lines), want))
texts = [t.text or "" for t in root.iter(ns + "text")]
if limit and not any(t.startswith(limit + " MB") or "memory limit" in t for t in texts):
    bad.append("no memory limit on the heap panel")
if cycles < 3:
    bad.append("only %d cycles in %s" % (cycles, trace))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
}

"$launcher" plot "$tmp/pacegc.trace" -o "$tmp/pacegc.svg" || fail "plot of pacegc's trace exited $?"
check "$tmp/pacegc.svg" "$tmp/pacegc.trace" || fail "pacegc's plot (above)"
"$launcher" plot "$tmp/go.trace" -o "$tmp/go.svg" --limit 100 --title "Go 1.19" ||
	fail "plot of Go's trace exited $?"
check "$tmp/go.svg" "$tmp/go.trace" 100 || fail "Go's plot (above)"

echo "no cycle here" >"$tmp/empty.trace"
st=0
"$launcher" plot "$tmp/empty.trace" -o "$tmp/empty.svg" 2>"$tmp/empty.err" || st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$tmp/empty.err")" -eq 1 ] || fail "no gctrace line: exit $st, $(cat "$tmp/empty.err")"
"$launcher" plot "$tmp/go.trace" -o "$tmp/go.png" --limit 100 || fail "-o go.png: exit $?"
python3 - "$tmp/go.png" "$tmp/go.svg" <<'PY' || fail "go.png is not the picture (above)"
import struct, sys
import xml.etree.ElementTree as ET
png = open(sys.argv[1], "rb").read()
if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
    sys.exit("  not a PNG")
w, h = struct.unpack(">II", png[16:24])
root = ET.parse(sys.argv[2]).getroot()
if (w, h) != (int(float(root.get("width"))), int(float(root.get("height")))):
    sys.exit("  %dx%d, the SVG is %sx%s" % (w, h, root.get("width"), root.get("height")))
PY
st=0
"$launcher" plot "$tmp/go.trace" -o "$tmp/go.gif" 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "-o go.gif: exit $st"

[ $failures -eq 0 ] && echo "plot: all checks passed"
exit $((failures > 0))
