#!/usr/bin/env bash
# The demo command: installs what is missing, builds, then runs a real,
# unmodified, leaking program (Debian 12's jq 1.6, whose ltrimstr leaks
# 76 bytes per call on non-string input) plainly and under pacegc with
# gctrace on and the heap profile written, compares output and peak
# memory, and shows where the reclaimed leaks were allocated.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh

calls=${1:-2000000}
filter="reduce range($calls) as \$i (0; . + (\$i | ltrimstr(\"x\")))"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== jq -n '$filter'"
/usr/bin/time -f '%M' -o "$tmp/plain.rss" jq -n "$filter" > "$tmp/plain.out"
/usr/bin/time -f '%M' -o "$tmp/pacegc.rss" \
  tools/pacegc --gctrace --profile="$tmp/leaks.pb.gz" -- jq -n "$filter" \
  > "$tmp/pacegc.out" 2> "$tmp/pacegc.err"

echo "-- gctrace (last 5 of $(grep -c '^gc ' "$tmp/pacegc.err" || true) cycles)"
grep '^gc ' "$tmp/pacegc.err" | tail -n 5 || true
grep -v '^gc ' "$tmp/pacegc.err" || true
echo "-- output: plain $(cat "$tmp/plain.out"), pacegc $(cat "$tmp/pacegc.out")"
if cmp -s "$tmp/plain.out" "$tmp/pacegc.out"; then echo "   identical"; else echo "   DIFFERENT"; exit 1; fi
printf -- '-- peak RSS: plain %d MiB, pacegc %d MiB\n' \
  $(( $(cat "$tmp/plain.rss") / 1024 )) $(( $(cat "$tmp/pacegc.rss") / 1024 ))
echo "-- where the reclaimed memory was allocated (--profile, then go tool pprof -top)"
go tool pprof -top -nodecount=8 "$tmp/leaks.pb.gz" 2>/dev/null | sed -n '/flat%/,$p'
