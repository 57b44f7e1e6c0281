#!/usr/bin/env bash
# bench/run.sh: run the allocation benchmarks under several allocators and
# print a markdown table of wall time and peak RSS as ratios to jemalloc.
#
#   bash bench/run.sh [--quick] [--runs N] [--build DIR]
#                     [--workloads a,b,...] [--allocators a,b,...]
#                     [--timeout SECONDS] [--keep]
#
# Each (workload, allocator) pair runs N times (default 3), interleaved
# (A B C, B C A, C A B, ...) to spread machine noise; the table shows the
# median wall time and the median peak RSS (ru_maxrss, via /usr/bin/time).
# Every run's stdout (a checksum) must be identical across allocators and
# runs; the script exits non-zero if any differs or any run fails.
#
# To add a workload or an allocator, add a line to WORKLOADS or ALLOCATORS
# below.  Exit status: 0 all ran and agreed, 1 a run failed or outputs
# differed, 2 usage or setup error.
set -euo pipefail

# ---------------------------------------------------------------------------
# Workloads: "name|command[|allocators]".  The command is split on spaces
# (no quoting); leading VAR=value words set environment for the workload
# only.  The optional third field, a comma-separated list, restricts the
# workload to those allocators (others show n/a).
#   @BIN@    directory holding the compiled workloads (build/bench)
#   @SRC@    the bench/ source directory (scripts)
#   @SCALE@  size in percent: 100 normally, 10 with --quick
# Size each workload so that a jemalloc run takes about 1-3 s at 100.
WORKLOADS=(
	"mixed|@BIN@/mixed @SCALE@"
	"prodcons|@BIN@/prodcons @SCALE@ 2 2"
	"realloc|@BIN@/realloc @SCALE@"
	"python|PYTHONHASHSEED=0 /usr/bin/python3 @SRC@/workload.py @SCALE@"
	"python-malloc|PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 @SRC@/workload.py @SCALE@"
)

# Allocators: "name|LD_PRELOAD value|extra env (VAR=value ...)".  An empty
# LD_PRELOAD means the system allocator.  An allocator whose library file
# is missing is skipped with a note.
#   @JEMALLOC@  Debian's libjemalloc.so.2    @BUILD@  the build directory
ALLOCATORS=(
	"glibc||"
	"jemalloc|@JEMALLOC@|"
	"pacegc|@BUILD@/src/libpacegc.so|"
)
REFERENCE=jemalloc   # ratios are relative to this allocator
TARGET=pacegc        # the allocator checked against the targets below
TARGET_TIME=1.05
TARGET_RSS=1.05

# Compiled workloads: meson targets under bench/ (see bench/meson.build).
BENCH_PROGRAMS=(mixed prodcons realloc)

# ---------------------------------------------------------------------------
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "run.sh: $*" >&2; exit 2; }
note() { echo "run.sh: $*" >&2; }

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$SRC")
BUILD=""
RUNS=3
SCALE=100
TIMEOUT=""
KEEP=0
ONLY_W=""
ONLY_A=""

# The command line as shown above the table: no host paths.
SHOWN_CMD="bash bench/run.sh"
for a in "$@"; do
	case $a in
	/*) SHOWN_CMD+=" $(basename "$a")" ;;
	*) SHOWN_CMD+=" $a" ;;
	esac
done

while [ $# -gt 0 ]; do
	case $1 in
	--quick) SCALE=10 ;;
	--runs) [ $# -ge 2 ] || die "--runs needs a number"; RUNS=$2; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--build) [ $# -ge 2 ] || die "--build needs a directory"; BUILD=$2; shift ;;
	--build=*) BUILD=${1#*=} ;;
	--workloads) [ $# -ge 2 ] || die "--workloads needs a list"; ONLY_W=$2; shift ;;
	--workloads=*) ONLY_W=${1#*=} ;;
	--allocators) [ $# -ge 2 ] || die "--allocators needs a list"; ONLY_A=$2; shift ;;
	--allocators=*) ONLY_A=${1#*=} ;;
	--timeout) [ $# -ge 2 ] || die "--timeout needs seconds"; TIMEOUT=$2; shift ;;
	--timeout=*) TIMEOUT=${1#*=} ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: not a positive number: $RUNS"
[ -n "$TIMEOUT" ] || TIMEOUT=$(( SCALE == 100 ? 600 : 120 ))
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout: not a positive number: $TIMEOUT"

# Build directory: --build, else ./build, else the one beside bench/.
if [ -z "$BUILD" ]; then
	if [ -d build ]; then BUILD=build; else BUILD=$ROOT/build; fi
fi
[ -d "$BUILD" ] && BUILD=$(cd "$BUILD" && pwd)

TIME_BIN=/usr/bin/time
[ -x "$TIME_BIN" ] || die "$TIME_BIN not found (Debian package 'time': apt-get install time)"

# Debian's jemalloc: ldconfig first, then the usual multiarch paths.
find_jemalloc() {
	local p
	p=$(ldconfig -p 2>/dev/null | awk '$1 == "libjemalloc.so.2" && /x86-64|64bit|AArch64/ { print $NF; exit }') || true
	if [ -z "$p" ]; then
		p=$(ldconfig -p 2>/dev/null | awk '$1 == "libjemalloc.so.2" { print $NF; exit }') || true
	fi
	if [ -z "$p" ]; then
		local arch
		arch=$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
		for c in /usr/lib/$arch/libjemalloc.so.2 /lib/$arch/libjemalloc.so.2; do
			[ -f "$c" ] && { p=$c; break; }
		done
	fi
	echo "$p"
}
JEMALLOC=$(find_jemalloc)
[ -n "$JEMALLOC" ] || note "libjemalloc.so.2 not found (Debian package libjemalloc2: apt-get install libjemalloc2)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-bench.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then note "run files kept in $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Build: the bench targets with ninja (and libpacegc.so, best effort); if
# there is no usable meson build, compile the workloads directly with cc.
BIN=""
if [ -f "$BUILD/build.ninja" ]; then
	targets=()
	for p in "${BENCH_PROGRAMS[@]}"; do targets+=("bench/$p"); done
	if ninja -C "$BUILD" "${targets[@]}" >"$WORK/ninja-bench.log" 2>&1; then
		BIN=$BUILD/bench
	else
		note "ninja could not build the bench targets (log below); compiling them with cc"
		tail -n 20 "$WORK/ninja-bench.log" >&2
	fi
	if ! ninja -C "$BUILD" src/libpacegc.so >"$WORK/ninja-lib.log" 2>&1; then
		if [ -f "$BUILD/src/libpacegc.so" ]; then
			note "WARNING: ninja could not rebuild src/libpacegc.so; benchmarking the existing (possibly stale) one"
		else
			note "ninja could not build src/libpacegc.so"
		fi
	fi
else
	note "no meson build in $(basename "$BUILD") (meson setup build); compiling the workloads with cc"
fi
if [ -z "$BIN" ]; then
	BIN=$WORK/bin
	mkdir -p "$BIN"
	for p in "${BENCH_PROGRAMS[@]}"; do
		${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -pthread -o "$BIN/$p" "$SRC/$p.c" ||
			die "could not compile bench/$p.c"
	done
fi

# ---------------------------------------------------------------------------
# Select workloads and allocators.
in_list() { # in_list NAME "a,b,c"
	[ -z "$2" ] && return 0
	case ",$2," in *",$1,"*) return 0 ;; esac
	return 1
}
subst() {
	local s=$1
	s=${s//@BIN@/$BIN}
	s=${s//@SRC@/$SRC}
	s=${s//@SCALE@/$SCALE}
	s=${s//@BUILD@/$BUILD}
	s=${s//@JEMALLOC@/$JEMALLOC}
	echo "$s"
}

W_NAMES=() W_CMDS=() W_ALLOCS=()
for w in "${WORKLOADS[@]}"; do
	IFS='|' read -r name cmd allocs <<<"$w"
	in_list "$name" "$ONLY_W" || continue
	W_NAMES+=("$name")
	W_CMDS+=("$(subst "$cmd")")
	W_ALLOCS+=("$allocs")
done
[ ${#W_NAMES[@]} -gt 0 ] || die "no workload selected"

A_NAMES=() A_PRELOAD=() A_ENV=() NOTES=()
for a in "${ALLOCATORS[@]}"; do
	IFS='|' read -r name preload extra <<<"$a"
	in_list "$name" "$ONLY_A" || continue
	preload=$(subst "$preload")
	if [ "$name" = jemalloc ] && [ -z "$JEMALLOC" ]; then
		NOTES+=("$name skipped: libjemalloc.so.2 not found (apt-get install libjemalloc2)")
		continue
	fi
	if [ -n "$preload" ] && [ ! -f "$preload" ]; then
		NOTES+=("$name skipped: $(basename "$preload") not found (build it: ninja -C build)")
		continue
	fi
	A_NAMES+=("$name")
	A_PRELOAD+=("$preload")
	A_ENV+=("$(subst "$extra")")
done
for n in "${NOTES[@]+"${NOTES[@]}"}"; do note "$n"; done
[ ${#A_NAMES[@]} -gt 0 ] || die "no allocator available"
HAVE_REF=0
for n in "${A_NAMES[@]}"; do [ "$n" = "$REFERENCE" ] && HAVE_REF=1; done
[ $HAVE_REF = 1 ] || note "reference allocator $REFERENCE not run: showing absolute numbers only"

# ---------------------------------------------------------------------------
# Run.  run_one W A R: one timed run; appends "seconds kib" to $WORK/W.A.
FAILED=0
declare -A STATUS   # "w.a" -> ok | FAIL | MISMATCH

run_one() {
	local wi=$1 ai=$2 r=$3
	local w=${W_NAMES[$wi]} a=${A_NAMES[$ai]}
	local base=$WORK/$w.$a.$r
	local -a cmd envs
	read -ra cmd <<<"${W_CMDS[$wi]}"
	read -ra envs <<<"${A_ENV[$ai]}"
	local preload=()
	[ -n "${A_PRELOAD[$ai]}" ] && preload=("LD_PRELOAD=${A_PRELOAD[$ai]}")
	local t0 t1 rc=0
	t0=$(date +%s%N)
	"$TIME_BIN" -f '%e %M' -o "$base.time" \
		timeout -k 5 "$TIMEOUT" \
		env -u LD_PRELOAD "${preload[@]+"${preload[@]}"}" "${envs[@]+"${envs[@]}"}" "${cmd[@]}" \
		</dev/null >"$base.out" 2>"$base.err" || rc=$?
	t1=$(date +%s%N)
	local kib
	kib=$(awk 'END { print $NF }' "$base.time" 2>/dev/null || echo 0)
	if [ $rc -ne 0 ]; then
		STATUS[$w.$a]=FAIL
		FAILED=1
		note "$w under $a: exit status $rc (run $((r + 1))); stderr:"
		tail -n 5 "$base.err" | sed 's/^/    /' >&2 || true
		return
	fi
	echo "$(( (t1 - t0) / 1000 )) $kib" >>"$WORK/$w.$a"
	if [ ! -f "$WORK/$w.expected" ]; then
		cp "$base.out" "$WORK/$w.expected"
		echo "$a" >"$WORK/$w.expected-from"
	elif ! cmp -s "$base.out" "$WORK/$w.expected"; then
		STATUS[$w.$a]=MISMATCH
		FAILED=1
		note "$w under $a (run $((r + 1))): output differs from $(cat "$WORK/$w.expected-from"):"
		{ diff "$WORK/$w.expected" "$base.out" || true; } | head -n 6 | sed 's/^/    /' >&2
	fi
	: "${STATUS[$w.$a]:=ok}"
}

median() { # median of the numbers in column $1 of file $2
	awk -v c="$1" '{ print $c }' "$2" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

nA=${#A_NAMES[@]}
note "workloads: ${W_NAMES[*]}; allocators: ${A_NAMES[*]}; $RUNS runs each, scale $SCALE%"
for wi in "${!W_NAMES[@]}"; do
	w=${W_NAMES[$wi]}
	printf 'run.sh: %-14s' "$w" >&2
	for ((r = 0; r < RUNS; r++)); do
		for ((k = 0; k < nA; k++)); do
			ai=$(( (k + r) % nA ))
			in_list "${A_NAMES[$ai]}" "${W_ALLOCS[$wi]}" || continue
			[ "${STATUS[$w.${A_NAMES[$ai]}]:-}" = FAIL ] && continue
			run_one "$wi" "$ai" "$r"
		done
		printf ' %d' $((r + 1)) >&2
	done
	# One progress line per workload: median seconds and MiB per allocator.
	for a in "${A_NAMES[@]}"; do
		if [ -s "$WORK/$w.$a" ]; then
			printf '  %s %.2fs %.0fMiB' "$a" "$(median 1 "$WORK/$w.$a" | awk '{ print $1 / 1e6 }')" \
				"$(median 2 "$WORK/$w.$a" | awk '{ print $1 / 1024 }')" >&2
		fi
	done
	echo >&2
done

# ---------------------------------------------------------------------------
# Table.
declare -A SEC KIB
for w in "${W_NAMES[@]}"; do
	for a in "${A_NAMES[@]}"; do
		if [ "${STATUS[$w.$a]:-}" = ok ] && [ -s "$WORK/$w.$a" ]; then
			SEC[$w.$a]=$(median 1 "$WORK/$w.$a" | awk '{ printf "%.6f", $1 / 1e6 }')
			KIB[$w.$a]=$(median 2 "$WORK/$w.$a")
		fi
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b }'; }

OTHERS=()
for a in "${A_NAMES[@]}"; do [ "$a" = "$REFERENCE" ] && [ $HAVE_REF = 1 ] || OTHERS+=("$a"); done

echo "## pacegc allocation benchmarks"
echo
echo "- command: \`$SHOWN_CMD\`"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores; $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?'); jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo '?'); $(/usr/bin/python3 --version 2>&1)"
echo "- $RUNS runs per cell, interleaved; median wall time and median peak RSS; scale $SCALE%"
if [ $HAVE_REF = 1 ]; then
	echo "- ratios are to $REFERENCE (lower is better)"
fi
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "- note: $n"; done
echo

hdr="| workload |" sep="|---|"
if [ $HAVE_REF = 1 ]; then
	hdr+=" $REFERENCE time | $REFERENCE RSS |"; sep+="--:|--:|"
fi
for a in "${OTHERS[@]+"${OTHERS[@]}"}"; do
	hdr+=" $a time | $a RSS |"; sep+="--:|--:|"
done
echo "$hdr"
echo "$sep"

declare -A LOGT LOGM CNT
cell_status() { # text for a cell without numbers
	case ${STATUS[$1]:-} in
	FAIL) echo "FAIL" ;; MISMATCH) echo "MISMATCH" ;; *) echo "n/a" ;;
	esac
}
for w in "${W_NAMES[@]}"; do
	row="| $w |"
	ref_s=${SEC[$w.$REFERENCE]:-} ref_k=${KIB[$w.$REFERENCE]:-}
	if [ $HAVE_REF = 1 ]; then
		if [ -n "$ref_s" ]; then
			row+=" $(awk -v s="$ref_s" 'BEGIN { printf "%.2f s", s }') | $(awk -v k="$ref_k" 'BEGIN { printf "%.1f MiB", k / 1024 }') |"
		else
			c=$(cell_status "$w.$REFERENCE"); row+=" $c | $c |"
		fi
	fi
	for a in "${OTHERS[@]+"${OTHERS[@]}"}"; do
		s=${SEC[$w.$a]:-} k=${KIB[$w.$a]:-}
		if [ -z "$s" ]; then
			c=$(cell_status "$w.$a"); row+=" $c | $c |"
		elif [ $HAVE_REF = 1 ] && [ -n "$ref_s" ]; then
			rt=$(ratio "$s" "$ref_s") rm=$(ratio "$k" "$ref_k")
			row+=" ${rt}x | ${rm}x |"
			LOGT[$a]=$(awk -v l="${LOGT[$a]:-0}" -v x="$rt" 'BEGIN { printf "%.9f", l + log(x) }')
			LOGM[$a]=$(awk -v l="${LOGM[$a]:-0}" -v x="$rm" 'BEGIN { printf "%.9f", l + log(x) }')
			CNT[$a]=$(( ${CNT[$a]:-0} + 1 ))
		else
			row+=" $(awk -v s="$s" 'BEGIN { printf "%.2f s", s }') | $(awk -v k="$k" 'BEGIN { printf "%.1f MiB", k / 1024 }') |"
		fi
	done
	echo "$row"
done
if [ $HAVE_REF = 1 ]; then
	row="| **geomean** | | |"
	for a in "${OTHERS[@]+"${OTHERS[@]}"}"; do
		n=${CNT[$a]:-0}
		if [ "$n" -gt 0 ]; then
			gt=$(awk -v l="${LOGT[$a]}" -v n="$n" 'BEGIN { printf "%.3f", exp(l / n) }')
			gm=$(awk -v l="${LOGM[$a]}" -v n="$n" 'BEGIN { printf "%.3f", exp(l / n) }')
			row+=" **${gt}x** | **${gm}x** |"
			if [ "$a" = "$TARGET" ]; then
				TARGET_LINE="$TARGET geomean over $n of ${#W_NAMES[@]} workloads: time ${gt}x (target <= ${TARGET_TIME}x: $(awk -v g="$gt" -v t="$TARGET_TIME" 'BEGIN { print (g <= t) ? "met" : "NOT met" }')), peak RSS ${gm}x (target <= ${TARGET_RSS}x: $(awk -v g="$gm" -v t="$TARGET_RSS" 'BEGIN { print (g <= t) ? "met" : "NOT met" }'))"
			fi
		else
			row+=" n/a | n/a |"
		fi
	done
	echo "$row"
fi
echo
if [ -n "${TARGET_LINE:-}" ]; then
	echo "$TARGET_LINE"
fi
if [ $FAILED = 1 ]; then
	echo "FAILED: a run failed or outputs differed between allocators (see messages above)"
	exit 1
fi
