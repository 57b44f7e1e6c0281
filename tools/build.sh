#!/usr/bin/env bash
# Configures (once) and builds pacegc: into build/, or with "checks" into
# build-checks/, where the rules of DESIGN.md are asserted (-Dchecks=true)
# and undefined behaviour is trapped (UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
opts=()
if [ "${1:-}" = checks ]; then
  dir=build-checks
  opts=(-Dchecks=true -Db_sanitize=undefined)
fi
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "${opts[@]}" "$dir" >/dev/null
else
  meson setup "${opts[@]}" "$dir" >/dev/null
fi
ninja -C "$dir" >/dev/null
