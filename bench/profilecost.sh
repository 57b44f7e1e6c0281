#!/usr/bin/env bash
# bench/profilecost.sh: what the heap profile (PACEGC_PROFILE) costs the
# allocation benchmarks, counted in instructions.
#
#   bash bench/profilecost.sh [--scale N] [--build DIR] [--rate BYTES]
#
# Each of bench/run.sh's allocation workloads runs under callgrind twice,
# pacegc without and with the profile (at Go's default rate, or --rate),
# and the table gives instructions executed with the profile over
# without: the whole program, and the sampling's own part (memprof_sample,
# memprof_end and everything they call: the stack walks, the tables).
# Instructions, not seconds: on a virtual machine one run's time varies by
# +-10%, five times the cost measured here; callgrind counts the same
# program the same way every time (the collector's cycles still move with
# scheduling, which the "sampling" column leaves out).  Exit status 0 all
# ran, 1 otherwise, 2 usage.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$SRC/../build
SCALE=3
RATE=
die() { echo "profilecost.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--scale) SCALE=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--rate) RATE=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
LIB=$(cd "$BUILD" && pwd)/src/libpacegc.so
BIN=$(cd "$BUILD" && pwd)/bench
[ -f "$LIB" ] || die "no $LIB (build it: tools/build.sh)"
command -v valgrind >/dev/null || die "valgrind is not installed (Debian: valgrind)"
command -v callgrind_annotate >/dev/null || die "callgrind_annotate is not installed"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-profilecost.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

WORKLOADS=(
	"mixed|$BIN/mixed $SCALE"
	"prodcons|$BIN/prodcons $SCALE 2 2"
	"realloc|$BIN/realloc $SCALE"
	"python-malloc|PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 $SRC/workload.py $SCALE"
)

# run NAME CONFIG [ENV...] -- CMD: callgrind's total, and the sampling's
# inclusive count, into $WORK/NAME.CONFIG.
run() {
	local name=$1 config=$2 out
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	out=$WORK/$name.$config.cg
	env "${envs[@]}" LD_PRELOAD="$LIB" valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$@" >/dev/null 2>"$WORK/$name.$config.err" || {
		echo "profilecost.sh: $name ($config) failed:" >&2
		tail -n 5 "$WORK/$name.$config.err" >&2
		return 1
	}
	local total sampling
	total=$(sed -n 's/^totals: *//p' "$out")
	sampling=$(callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null |
		awk '/memprof\.c:memprof_(sample|end) \[/{ gsub(",", "", $1); s += $1 } END { print s + 0 }')
	echo "$total $sampling" >"$WORK/$name.$config"
}

echo "| workload | instructions, profile / none | sampling's share |"
echo "|---|--:|--:|"
status=0
for w in "${WORKLOADS[@]}"; do
	name=${w%%|*}
	read -ra cmd <<<"${w#*|}"
	vars=()   # leading VAR=value words: the workload's environment
	while [[ ${cmd[0]} == *=* ]]; do vars+=("${cmd[0]}"); cmd=("${cmd[@]:1}"); done
	profile=(PACEGC_PROFILE="$WORK/$name-%p.pb.gz")
	[ -n "$RATE" ] && profile+=(PACEGC_MEMPROFILERATE="$RATE")
	if ! run "$name" none "${vars[@]}" -- "${cmd[@]}" ||
	   ! run "$name" profile "${vars[@]}" "${profile[@]}" -- "${cmd[@]}"; then
		status=1
		continue
	fi
	read -r t0 _ <"$WORK/$name.none"
	read -r t1 s1 <"$WORK/$name.profile"
	awk -v n="$name" -v t0="$t0" -v t1="$t1" -v s="$s1" \
		'BEGIN { printf "| %s | %.3fx | %.2f%% |\n", n, t1 / t0, 100 * s / t1 }'
done
echo
echo "(callgrind, scale $SCALE, rate ${RATE:-524288}; $(basename "$BUILD"))"
exit $status
