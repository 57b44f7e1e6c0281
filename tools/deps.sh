#!/usr/bin/env bash
# Installs the Debian 12 packages pacegc needs to build, test and demo.
# Only missing packages are installed; apt needs root (or sudo).
set -euo pipefail

packages=(
  meson ninja-build pkg-config gcc g++ binutils        # build
  libjemalloc-dev libunwind-dev check liburing-dev      # libraries
  zlib1g-dev                                            # unit/pprof inflates pacegc's gzip
  libjemalloc2 time libgc-dev golang-go                 # benchmarks: plain jemalloc, peak RSS, bdwgc peer, Go runtime
  python3 perl sqlite3 git coreutils jq libpython3.11-testsuite # real programs run by the tests and demo
  python3-prometheus-client                             # the metrics test parses PACEGC_METRICS files
  librsvg2-bin                                          # pacegc plot -o x.png renders its SVG
  nginx-light redis-server redis-tools                  # real servers run by the tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
