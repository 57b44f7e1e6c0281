#!/usr/bin/env bash
# bench/run.sh: run the allocation (and collector) benchmarks under several
# allocators and print a markdown table of wall time and peak RSS as ratios
# to jemalloc (to bdwgc for GC-only programs).
#
#   bash bench/run.sh [--suite alloc|gc|go|delay|all] [--quick] [--runs N]
#                     [--build DIR] [--workloads a,b,...]
#                     [--allocators a,b,...] [--timeout SECONDS] [--keep]
#
# --suite alloc (the default) runs the allocation benchmarks: programs that
# free what they allocate.  --suite gc runs the collector benchmarks: the
# same no-leak programs, leaky C programs and GC-only C programs (never
# free) under glibc, jemalloc, pacegc and the bdwgc peer
# (bench/peers/bdwgc_shim.c), with GC pause times (max, p99) from pacegc's
# gctrace and bdwgc's GC_PRINT_STATS lines.  --suite go compares pacegc's
# pacing with the Go runtime's (golang-go): bench/churn.c under pacegc and
# its twin bench/go/churn.go, both with gctrace, for each of GO_CONFIGS.
# --suite delay runs the leaky programs under pacegc at reclaim delays of
# 0 (the default), 1, 10 and 100 ms (PACEGC_GODEBUG=reclaimdelay), against
# jemalloc, which leaks.  --suite all runs alloc and gc, and go when `go`
# is installed.
#
# Each (workload, allocator) pair runs N times (default 3), interleaved
# (A B C, B C A, C A B, ...) to spread machine noise; the table shows the
# median wall time and the median peak RSS (ru_maxrss, via /usr/bin/time).
# Every run's stdout (a checksum) must be identical across allocators and
# runs; the script exits non-zero if any differs or any run fails.
#
# To add a workload or an allocator, add a line to WORKLOADS or ALLOCATORS
# (GC_WORKLOADS, GC_ALLOCATORS for --suite gc) below.  Exit status: 0 all
# ran and agreed, 1 a run failed or outputs differed, 2 usage or setup
# error.
set -euo pipefail

# ---------------------------------------------------------------------------
# Workloads: "name|command[|allocators[|section]]".  The command is split on spaces
# (no quoting); leading VAR=value words set environment for the workload
# only.  The optional third field, a comma-separated list, restricts the
# workload to those allocators (others show n/a).
#   @BIN@    directory holding the compiled workloads (build/bench)
#   @SRC@    the bench/ source directory (scripts)
#   @SCALE@  size in percent: 100 normally, 10 with --quick
#   @SCALE:N@  N percent of that (at least 1)
# Size each workload so that a jemalloc run takes about 1-3 s at 100.
WORKLOADS=(
	"mixed|@BIN@/mixed @SCALE@"
	"prodcons|@BIN@/prodcons @SCALE@ 2 2"
	"realloc|@BIN@/realloc @SCALE@"
	"larson|@BIN@/larson @SCALE@ 2"
	"cachescratch|@BIN@/cachescratch @SCALE@ 2"
	"python|PYTHONHASHSEED=0 /usr/bin/python3 @SRC@/workload.py @SCALE@"
	"python-malloc|PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 @SRC@/workload.py @SCALE@"
)

# Allocators: "name|LD_PRELOAD value|extra env (VAR=value ...)".  An empty
# LD_PRELOAD means the system allocator.  An allocator whose library file
# is missing is skipped with a note.
#   @JEMALLOC@  Debian's libjemalloc.so.2    @BUILD@  the build directory
#   @WORK@      the run's scratch directory
# pacegc-profile is pacegc with the heap profile on at Go's default rate:
# what allocation-site sampling costs.
ALLOCATORS=(
	"glibc||"
	"jemalloc|@JEMALLOC@|"
	"pacegc|@BUILD@/src/libpacegc.so|"
	"pacegc-profile|@BUILD@/src/libpacegc.so|PACEGC_PROFILE=@WORK@/profile-%p.pb.gz"
)
REFERENCE=jemalloc   # ratios are relative to this allocator
TARGET=pacegc        # the allocator checked against the targets below
TARGET_TIME=1.05
TARGET_RSS=1.05

# ---------------------------------------------------------------------------
# --suite gc.  Workloads: "name|command|allocators|section"; the section
# (a key of GC_SECTIONS) gives the heading and the allocator the ratios are
# to.  The no-leak programs run smaller than in the alloc suite, to keep the
# whole gc suite near 3 minutes on 2 cores.
GC_WORKLOADS=(
	"mixed|@BIN@/mixed @SCALE:25@|jemalloc,pacegc,bdwgc|noleak"
	"prodcons|@BIN@/prodcons @SCALE:25@ 2 2|jemalloc,pacegc,bdwgc|noleak"
	"realloc|@BIN@/realloc @SCALE:25@|jemalloc,pacegc,bdwgc|noleak"
	"larson|@BIN@/larson @SCALE:25@ 2|jemalloc,pacegc,bdwgc|noleak"
	"python|PYTHONHASHSEED=0 /usr/bin/python3 @SRC@/workload.py @SCALE:20@|jemalloc,pacegc|noleak"
	"python-malloc|PYTHONHASHSEED=0 PYTHONMALLOC=malloc /usr/bin/python3 @SRC@/workload.py @SCALE:20@|jemalloc,pacegc|noleak"
	"leak-list|@BIN@/leaky @SCALE@ list||leaky"
	"leak-tree|@BIN@/leaky @SCALE@ tree||leaky"
	"leak-mt|@BIN@/leaky @SCALE@ mt 2||leaky"
	"gcbench|PACEGC_FREE=ignore GCSHIM_IGNORE_FREE=1 @BIN@/gctrees @SCALE@ gcbench|pacegc,bdwgc|gconly"
	"binarytrees|PACEGC_FREE=ignore GCSHIM_IGNORE_FREE=1 @BIN@/gctrees @SCALE@ binarytrees 2|pacegc,bdwgc|gconly"
)
# Sections: "key|heading|reference allocator".
GC_SECTIONS=(
	"noleak|no-leak programs (free everything; pacegc PACEGC_FREE=honor, bdwgc frees with GC_free)|jemalloc"
	"leaky|leaky C programs (glibc and jemalloc leak; pacegc honor and bdwgc reclaim)|jemalloc"
	"gconly|GC-only C programs, never free (pacegc PACEGC_FREE=ignore, bdwgc GCSHIM_IGNORE_FREE=1)|bdwgc"
)
# Both collectors log every cycle; the pause of a cycle is the sum of the
# three clock fields of a gctrace line (stop + mark + restart) for pacegc,
# and "World-stopped marking took N ms M ns" (stop + mark + restart) for
# bdwgc.
GC_ALLOCATORS=(
	"glibc||"
	"jemalloc|@JEMALLOC@|"
	"pacegc|@BUILD@/src/libpacegc.so|PACEGC_GODEBUG=gctrace=1"
	"bdwgc|@BIN@/libbdwgc_shim.so|GC_PRINT_STATS=1"
)
GC_COLLECTORS=(pacegc bdwgc) # allocators with pause columns
PAUSE_REFERENCE=bdwgc        # pause ratios are to this allocator
NOLEAK_TARGET_TIME=1.05      # pacegc vs jemalloc on the no-leak section

# ---------------------------------------------------------------------------
# --suite delay: what the reclaim delay costs in memory and time.
DELAY_WORKLOADS=(
	"leak-list|@BIN@/leaky @SCALE@ list"
	"leak-tree|@BIN@/leaky @SCALE@ tree"
	"leak-mt|@BIN@/leaky @SCALE@ mt 2"
)
DELAY_ALLOCATORS=(
	"jemalloc|@JEMALLOC@|"
	"pacegc|@BUILD@/src/libpacegc.so|"
	"pacegc-1ms|@BUILD@/src/libpacegc.so|PACEGC_GODEBUG=reclaimdelay=1"
	"pacegc-10ms|@BUILD@/src/libpacegc.so|PACEGC_GODEBUG=reclaimdelay=10"
	"pacegc-100ms|@BUILD@/src/libpacegc.so|PACEGC_GODEBUG=reclaimdelay=100"
)

# ---------------------------------------------------------------------------
# --suite go: "name|GOGC|GOMEMLIMIT|threads" (--workloads selects by name),
# each run as the Go program (GOGC, GOMEMLIMIT; threads goroutines) and as
# the C program under pacegc (PACEGC_GOGC, PACEGC_GOMEMLIMIT; threads
# pthreads), each thread with its part of the live set and of the bytes.  With GO_LIVE_MIB = 32 MiB live, GOGC=100
# alone gives Go a heap goal of 65-90 MB and a peak RSS near 125 MiB, so
# both limits bind.  Go counts its whole footprint against the limit, and
# with 1-4 KiB objects replaced at random 12-15 MiB of it is not heap
# (partly empty spans, free spans not yet returned, runtime metadata):
# 64 MiB holds Go's goal near 52 MB, about 1.6x live, a limit that binds
# with headroom left; 48 MiB holds it at the live heap itself, the tight
# regime where the collector runs every few MB allocated (Go: about 1500
# cycles for 4 GiB).
GO_CONFIGS=(
	"gogc100|100|off|1"
	"gogc200|200|off|1"
	"limit64|100|64MiB|1"
	"limit48|100|48MiB|1"
	"gogc100-4t|100|off|4"
	"limit64-4t|100|64MiB|4"
)
GO_LIVE_MIB=32       # live heap of churn
GO_TOTAL_MIB=4096    # bytes churn allocates at scale 100
# The default reclaim delay (none): garbage goes at the first cycle that
# finds it, as in Go.
GO_PACEGC_GODEBUG=gctrace=1

# Compiled workloads: meson targets under bench/ (see bench/meson.build).
BENCH_PROGRAMS=(mixed prodcons realloc larson cachescratch leaky gctrees churn)
# The bdwgc peer: built when libgc-dev is installed.
BDWGC_SHIM=libbdwgc_shim.so

# ---------------------------------------------------------------------------
usage() { sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
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
SUITE=alloc

# The command line as shown above the table: no host paths.
ALL_ARGS=("$@")
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
	--suite) [ $# -ge 2 ] || die "--suite needs alloc, gc, go, delay or all"; SUITE=$2; shift ;;
	--suite=*) SUITE=${1#*=} ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
	shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs: not a positive number: $RUNS"
case $SUITE in
alloc) ;;
gc)
	WORKLOADS=("${GC_WORKLOADS[@]}")
	ALLOCATORS=("${GC_ALLOCATORS[@]}")
	;;
delay)
	WORKLOADS=("${DELAY_WORKLOADS[@]}")
	ALLOCATORS=("${DELAY_ALLOCATORS[@]}")
	TARGET=           # no target: the table is the measurement
	;;
all)
	# Both tables, one after the other: the same arguments, each suite.
	args=()
	skip=0
	for a in "${ALL_ARGS[@]+"${ALL_ARGS[@]}"}"; do
		if [ $skip = 1 ]; then skip=0; continue; fi
		case $a in --suite) skip=1 ;; --suite=*) ;; *) args+=("$a") ;; esac
	done
	rc=0
	bash "${BASH_SOURCE[0]}" --suite alloc "${args[@]+"${args[@]}"}" || rc=$?
	echo
	bash "${BASH_SOURCE[0]}" --suite gc "${args[@]+"${args[@]}"}" || { r=$?; [ $rc -ne 0 ] || rc=$r; }
	if command -v go >/dev/null; then
		echo
		bash "${BASH_SOURCE[0]}" --suite go "${args[@]+"${args[@]}"}" || { r=$?; [ $rc -ne 0 ] || rc=$r; }
	else
		note "suite go skipped: go not found (apt-get install golang-go)"
	fi
	exit $rc
	;;
go) command -v go >/dev/null || die "--suite go needs the Go toolchain (apt-get install golang-go)" ;;
*) die "--suite: alloc, gc, go, delay or all, not $SUITE" ;;
esac
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
		if [ "$SUITE" = gc ] && ! ninja -C "$BUILD" "bench/$BDWGC_SHIM" >"$WORK/ninja-shim.log" 2>&1; then
			note "no bench/$BDWGC_SHIM target: is libgc-dev installed? (apt-get install libgc-dev; meson setup --reconfigure $(basename "$BUILD"))"
		fi
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
	if [ "$SUITE" = gc ]; then
		${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -fPIC -shared -fvisibility=hidden -pthread \
			-o "$BIN/$BDWGC_SHIM" "$SRC/peers/bdwgc_shim.c" -lgc -ldl 2>"$WORK/cc-shim.log" ||
			note "could not compile bench/peers/bdwgc_shim.c (libgc-dev installed?)"
	fi
fi

# ---------------------------------------------------------------------------
# Select workloads and allocators.
in_list() { # in_list NAME "a,b,c"
	[ -z "$2" ] && return 0
	case ",$2," in *",$1,"*) return 0 ;; esac
	return 1
}
subst() {
	local s=$1 n
	while [[ $s =~ @SCALE:([0-9]+)@ ]]; do
		n=$(( SCALE * BASH_REMATCH[1] / 100 ))
		[ $n -ge 1 ] || n=1
		s=${s//${BASH_REMATCH[0]}/$n}
	done
	s=${s//@BIN@/$BIN}
	s=${s//@SRC@/$SRC}
	s=${s//@SCALE@/$SCALE}
	s=${s//@BUILD@/$BUILD}
	s=${s//@JEMALLOC@/$JEMALLOC}
	s=${s//@WORK@/$WORK}
	echo "$s"
}

# ---------------------------------------------------------------------------
# --suite go: the same churn, in Go under the Go runtime and in C under
# pacegc, each config with gctrace on; bench/gctrace_summary.py reads the
# traces and prints the table.
go_build() { # builds bench/go/churn.go into $BIN/churn-go, offline
	local gdir=$BIN/go
	mkdir -p "$gdir"
	(cd "$SRC/go" && env GOCACHE="$gdir/cache" GOPATH="$gdir/path" GO111MODULE=off \
		GOFLAGS= GOPROXY=off CGO_ENABLED=0 go build -o "$BIN/churn-go" churn.go) ||
		die "go build of bench/go/churn.go failed"
}

# go_run CONFIG-INDEX RUNTIME RUN: one timed run; appends its manifest line.
go_run() {
	local ci=$1 rt=$2 r=$3 name gogc limit threads
	IFS='|' read -r name gogc limit threads <<<"${GO_CONFIGS[$ci]}"
	local base=$WORK/go.$ci.$rt.$r rc=0
	local -a envs cmd
	if [ "$rt" = go ]; then
		envs=(GOGC="$gogc" GOMEMLIMIT="$limit" GOMAXPROCS="$GO_PROCS" GODEBUG=gctrace=1)
		cmd=("$BIN/churn-go")
	else
		envs=(LD_PRELOAD="$BUILD/src/libpacegc.so" PACEGC_GOGC="$gogc" PACEGC_GOMEMLIMIT="$limit"
			PACEGC_GOMAXPROCS="$GO_PROCS" PACEGC_GODEBUG="$GO_PACEGC_GODEBUG")
		cmd=("$BIN/churn")
	fi
	"$TIME_BIN" -f '%e %M %U %S' -o "$base.time" timeout -k 5 "$TIMEOUT" \
		env -u LD_PRELOAD -u GODEBUG -u PACEGC_FREE -u PACEGC_RECLAIM "${envs[@]}" \
		"${cmd[@]}" "$GO_TOTAL" "$GO_LIVE_MIB" "$threads" </dev/null >"$base.out" 2>"$base.err" || rc=$?
	if [ $rc -ne 0 ]; then
		FAILED=1
		note "$name under $rt: exit status $rc (run $((r + 1))); stderr:"
		grep -v '^gc ' "$base.err" | tail -n 5 | sed 's/^/    /' >&2 || true
		return
	fi
	if [ ! -f "$WORK/go.expected.$threads" ]; then
		cp "$base.out" "$WORK/go.expected.$threads"
	elif ! cmp -s "$base.out" "$WORK/go.expected.$threads"; then
		FAILED=1
		note "$name under $rt (run $((r + 1))): checksum differs: $(cat "$base.out") vs $(cat "$WORK/go.expected.$threads")"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$gogc" "$limit" "$rt" "$base.err" "$base.time" \
		>>"$WORK/go.manifest"
}

go_suite() {
	[ -f "$BUILD/src/libpacegc.so" ] || die "no $(basename "$BUILD")/src/libpacegc.so (build it: ninja -C build)"
	go_build
	GO_PROCS=$(nproc)
	GO_TOTAL=$(( GO_TOTAL_MIB * SCALE / 100 ))
	[ "$GO_TOTAL" -ge 1 ] || GO_TOTAL=1
	local -a sel=()
	local ci name r k rt
	for ci in "${!GO_CONFIGS[@]}"; do
		IFS='|' read -r name _ <<<"${GO_CONFIGS[$ci]}"
		in_list "$name" "$ONLY_W" && sel+=("$ci")
	done
	[ ${#sel[@]} -gt 0 ] || die "no config selected (configs: GO_CONFIGS in bench/run.sh)"
	FAILED=0
	local rts=(go pacegc)
	note "churn: $GO_LIVE_MIB MiB live, $GO_TOTAL MiB allocated; $RUNS runs per cell, GOMAXPROCS $GO_PROCS"
	for ci in "${sel[@]}"; do
		IFS='|' read -r name _ <<<"${GO_CONFIGS[$ci]}"
		printf 'run.sh: %-24s' "$name" >&2
		for ((r = 0; r < RUNS; r++)); do
			for ((k = 0; k < 2; k++)); do # alternate which runs first
				rt=${rts[$(( (k + r) % 2 ))]}
				go_run "$ci" "$rt" "$r"
			done
			printf ' %d' $((r + 1)) >&2
		done
		echo >&2
	done
	go_table
	if [ $FAILED = 1 ]; then
		echo "FAILED: a run failed or the checksums differed (see messages above)"
		exit 1
	fi
}

go_table() {
	echo "## pacegc pacing vs the Go runtime"
	echo
	echo "- command: \`$SHOWN_CMD\`"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores; $(go version | awk '{ print $3 }'); $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?'); jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo '?')"
	echo "- workload: bench/churn.c under pacegc (PACEGC_GODEBUG=$GO_PACEGC_GODEBUG), bench/go/churn.go under Go; $GO_LIVE_MIB MiB live in 1-4 KiB objects, $GO_TOTAL MiB allocated (half replacing live objects at random, half short-lived), by 1 or 4 threads (configs ending in -4t: goroutines under Go) each with its part of both; GOMAXPROCS = PACEGC_GOMAXPROCS = $GO_PROCS"
	echo "- $RUNS runs per cell, interleaved; each figure is the median over the runs. GCs: cycles per run; steady GCs and the h0/h1/h2/goal columns: cycles after the live set is full (h0 heap at cycle start, h1 at mark end, h2 marked live, goal, all in gctrace's whole MB). mean h0/h2 in brackets: 1+GOGC/100. GC CPU %: the last gctrace line's figure. Ratio rows: pacegc ÷ go"
	echo
	if [ -s "$WORK/go.manifest" ]; then
		python3 "$SRC/gctrace_summary.py" "$WORK/go.manifest"
	else
		echo "no run succeeded"
	fi
}

if [ "$SUITE" = go ]; then
	go_suite
	exit 0
fi

W_NAMES=() W_CMDS=() W_ALLOCS=() W_SECTION=()
for w in "${WORKLOADS[@]}"; do
	IFS='|' read -r name cmd allocs section <<<"$w"
	in_list "$name" "$ONLY_W" || continue
	W_NAMES+=("$name")
	W_CMDS+=("$(subst "$cmd")")
	W_ALLOCS+=("$allocs")
	W_SECTION+=("$section")
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
		if [ "$(basename "$preload")" = "$BDWGC_SHIM" ]; then
			NOTES+=("$name skipped: $BDWGC_SHIM not built (apt-get install libgc-dev; meson setup --reconfigure build; ninja -C build)")
		else
			NOTES+=("$name skipped: $(basename "$preload") not found (build it: ninja -C build)")
		fi
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
[ $HAVE_REF = 1 ] || [ "$SUITE" != alloc ] || note "reference allocator $REFERENCE not run: showing absolute numbers only"

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
	if [ "$SUITE" = gc ]; then
		gc_pauses <"$base.err" >"$base.pauses"
		cat "$base.pauses" >>"$WORK/$w.$a.pauses"
		wc -l <"$base.pauses" >>"$WORK/$w.$a.gcs"
	fi
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

# Stop-the-world pauses in ms, one a line, from a run's stderr: pacegc's
# gctrace lines ("gc N @Ts P%: a+b+c ms clock, ...": a+b+c) and bdwgc's
# GC_PRINT_STATS lines ("World-stopped marking took N ms M ns ...").
gc_pauses() {
	awk '
	/^gc [0-9]+ @[0-9.]+s [0-9]+%: [0-9.]+\+[0-9.]+\+[0-9.]+ ms clock/ {
		split($5, t, "+"); printf "%.6f\n", t[1] + t[2] + t[3]; next
	}
	/^World-stopped marking took [0-9]+ ms [0-9]+ ns/ { printf "%.6f\n", $4 + $6 / 1e6 }'
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

# ---------------------------------------------------------------------------
# The --suite gc table: sections of rows, each with its own reference
# allocator; the reference's cells hold absolute numbers, the others ratios.
fmt_s() { awk -v s="$1" 'BEGIN { printf "%.2f s", s }'; }
fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.2f", v }'; }
pause_stats() { # "max p99" (nearest rank) of the pauses in file $1
	sort -g "$1" | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit; k = int(0.99 * NR); if (k < 0.99 * NR) k++; if (k < 1) k = 1
		      printf "%.6f %.6f\n", v[NR], v[k] }'
}
declare -A GL GN # geomeans: sum of logs and count, by "section.allocator.metric"
geo_add() { GL[$1]=$(awk -v l="${GL[$1]:-0}" -v x="$2" 'BEGIN { printf "%.9f", l + log(x) }'); GN[$1]=$(( ${GN[$1]:-0} + 1 )); }
geo() { awk -v l="${GL[$1]}" -v n="${GN[$1]}" 'BEGIN { printf "%.3f", exp(l / n) }'; }

gc_table() {
	local -a colls=()
	local c a w sec
	for c in "${GC_COLLECTORS[@]}"; do
		for a in "${A_NAMES[@]}"; do [ "$a" = "$c" ] && colls+=("$c"); done
	done
	echo "## pacegc collector benchmarks"
	echo
	echo "- command: \`$SHOWN_CMD\`"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores; $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?'); jemalloc $(dpkg-query -W -f='${Version}' libjemalloc2 2>/dev/null || echo '?'); libgc $(dpkg-query -W -f='${Version}' libgc1 2>/dev/null || echo '?'); $(/usr/bin/python3 --version 2>&1)"
	echo "- $RUNS runs per cell, interleaved; median wall time and median peak RSS; scale $SCALE%"
	echo "- each section's reference allocator shows absolute numbers, the others ratios to it (lower is better); – = not run"
	echo "- pauses: stop-the-world pause per cycle over all runs of a cell, max / p99 in ms (pacegc: gctrace a+b+c; bdwgc: \"World-stopped marking took\"); GCs: cycles per run (median); in brackets: pacegc ÷ $PAUSE_REFERENCE"
	for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "- note: $n"; done
	echo

	local hdr="| workload |" sep="|---|" fill=""
	for a in "${A_NAMES[@]}"; do hdr+=" $a time | $a RSS |"; sep+="--:|--:|"; fill+=" | |"; done
	for c in "${colls[@]+"${colls[@]}"}"; do hdr+=" $c GCs | $c pause max / p99 |"; sep+="--:|--:|"; fill+=" | |"; done
	echo "$hdr"
	echo "$sep"

	local line key heading ref wi row s k rs rk rt rm st ref_st pmax pp99 rmax rp99 gcs
	for line in "${GC_SECTIONS[@]}"; do
		IFS='|' read -r key heading ref <<<"$line"
		local -a rows=()
		for wi in "${!W_NAMES[@]}"; do [ "${W_SECTION[$wi]}" = "$key" ] && rows+=("$wi"); done
		[ ${#rows[@]} -gt 0 ] || continue
		echo "| **$heading; vs $ref** |$fill"
		for wi in "${rows[@]}"; do
			w=${W_NAMES[$wi]}
			row="| $w |"
			rs=${SEC[$w.$ref]:-} rk=${KIB[$w.$ref]:-}
			for a in "${A_NAMES[@]}"; do
				s=${SEC[$w.$a]:-} k=${KIB[$w.$a]:-}
				if ! in_list "$a" "${W_ALLOCS[$wi]}"; then
					row+=" – | – |"
				elif [ -z "$s" ]; then
					c=$(cell_status "$w.$a"); row+=" $c | $c |"
				elif [ "$a" = "$ref" ] || [ -z "$rs" ]; then
					row+=" $(fmt_s "$s") | $(fmt_mib "$k") |"
				else
					rt=$(ratio "$s" "$rs") rm=$(ratio "$k" "$rk")
					row+=" ${rt}x | ${rm}x |"
					geo_add "$key.$a.time" "$rt"
					geo_add "$key.$a.rss" "$rm"
				fi
			done
			ref_st=""
			[ -f "$WORK/$w.$PAUSE_REFERENCE.pauses" ] && ref_st=$(pause_stats "$WORK/$w.$PAUSE_REFERENCE.pauses")
			for c in "${colls[@]+"${colls[@]}"}"; do
				if [ ! -f "$WORK/$w.$c.gcs" ] || [ "${STATUS[$w.$c]:-}" != ok ]; then
					row+=" – | – |"
					continue
				fi
				gcs=$(median 1 "$WORK/$w.$c.gcs")
				st=$(pause_stats "$WORK/$w.$c.pauses")
				if [ -z "$st" ]; then
					row+=" $gcs | – |"
					continue
				fi
				read -r pmax pp99 <<<"$st"
				row+=" $gcs | $(fmt_ms "$pmax") / $(fmt_ms "$pp99") ms"
				if [ "$c" != "$PAUSE_REFERENCE" ] && [ -n "$ref_st" ]; then
					read -r rmax rp99 <<<"$ref_st"
					rt=$(ratio "$pmax" "$rmax") rm=$(ratio "$pp99" "$rp99")
					if [ -n "$rt" ] && [ -n "$rm" ] && [ "$rt" != 0.000 ] && [ "$rm" != 0.000 ]; then
						row+=" (${rt}x / ${rm}x)"
						geo_add "$key.$c.pmax" "$rt"
						geo_add "$key.$c.p99" "$rm"
					fi
				fi
				row+=" |"
			done
			echo "$row"
		done
		row="| *geomean* |"
		for a in "${A_NAMES[@]}"; do
			if [ -n "${GN[$key.$a.time]:-}" ]; then
				row+=" *$(geo "$key.$a.time")x* | *$(geo "$key.$a.rss")x* |"
			else
				row+=" | |"
			fi
		done
		for c in "${colls[@]+"${colls[@]}"}"; do
			if [ -n "${GN[$key.$c.pmax]:-}" ]; then
				row+=" | *($(geo "$key.$c.pmax")x / $(geo "$key.$c.p99")x)* |"
			else
				row+=" | |"
			fi
		done
		echo "$row"
	done
	echo
	if [ -n "${GN[noleak.$TARGET.time]:-}" ]; then
		local g per=""
		g=$(geo "noleak.$TARGET.time")
		for wi in "${!W_NAMES[@]}"; do
			w=${W_NAMES[$wi]}
			[ "${W_SECTION[$wi]}" = noleak ] && [ -n "${SEC[$w.$TARGET]:-}" ] && [ -n "${SEC[$w.jemalloc]:-}" ] &&
				per+=" $w $(ratio "${SEC[$w.$TARGET]}" "${SEC[$w.jemalloc]}")x,"
		done
		echo "$TARGET on the no-leak programs, collector active: geomean time ${g}x jemalloc (target <= ${NOLEAK_TARGET_TIME}x: $(awk -v g="$g" -v t="$NOLEAK_TARGET_TIME" 'BEGIN { print (g <= t) ? "met" : "NOT met" }'));${per%,}"
	fi
}

cell_status() { # text for a cell without numbers
	case ${STATUS[$1]:-} in
	FAIL) echo "FAIL" ;; MISMATCH) echo "MISMATCH" ;; *) echo "n/a" ;;
	esac
}

if [ "$SUITE" = gc ]; then
	gc_table
	if [ $FAILED = 1 ]; then
		echo "FAILED: a run failed or outputs differed between allocators (see messages above)"
		exit 1
	fi
	exit 0
fi

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
