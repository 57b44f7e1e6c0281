#!/bin/bash
# nonroot.sh PROGRAM [ARGS...]: runs PROGRAM as an unprivileged user
# (uid and gid 65534, no groups) when run as root, as itself otherwise.
# The program is copied to a private directory first: the build tree may
# sit under a directory the unprivileged user cannot enter.
set -eu
prog=$1
shift
if [ "$(id -u)" != 0 ]; then
	exec "$prog" "$@"
fi
command -v setpriv >/dev/null || { echo "nonroot.sh: setpriv (util-linux) is missing" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-nonroot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
cp "$prog" "$tmp/"
chmod 755 "$tmp/$(basename "$prog")"
cd "$tmp"
setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/$(basename "$prog")" "$@"
