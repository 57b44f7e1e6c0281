#!/bin/bash
# redis under pacegc: redis.sh LIBPACEGC
#
# Debian's redis-server links Debian's libjemalloc.so.2, a second jemalloc
# in the process (issue 8, items 1 and 14).  Installed with apt-get
# (redis-server, redis-tools) if missing and this is root; skipped (exit
# 77) if it cannot be.  The same data and queries go to a plain redis and
# to a preloaded one (PACEGC_GODEBUG=gctrace=1):
#   load     60000 SETs of 150..450-byte values (about 20 MB live, so the
#            heap passes its 4 MB goal several times), a third of them
#            overwritten (garbage for honor mode's frees), lists, hashes,
#            sets, sorted sets, a stream, HyperLogLog, bitmaps, geo;
#   queries  deterministic reads: GET/MGET, LRANGE, HGETALL (small
#            hashes: insertion order), SORT (of sets too: SMEMBERS' order
#            depends on a per-process hash seed), ZRANGE WITHSCORES,
#            XRANGE, PFCOUNT, BITCOUNT, GEODIST, DBSIZE, DEBUG DIGEST (a
#            digest of the whole data set, order-independent).
# Checks on the preloaded run:
#   - the query output is the plain run's, byte for byte;
#   - it ran at least one cycle, and every cycle's gctrace line has
#     "globals" at most 64 MB and a goal at most 256 MB: the 25 GiB object
#     index must never be scanned as a root, even when the kernel merges
#     its /proc/self/maps line with the second jemalloc's mappings (today:
#     ~25627 MB globals, a 25 GB goal, so no second cycle);
#   - the first cycle's pause (a+b+c) is under REDIS_MAX_PAUSE_MS (100 ms);
#   - INFO memory's allocator_allocated (what mallctl "stats.allocated"
#     says) is within 0.5..2 times used_memory (redis's own count of what
#     malloc gave it): mallctl must describe the allocator that serves
#     malloc (today it reaches libjemalloc.so.2, which holds ~28 KB);
#   - no "pacegc:" line on stderr.
# A watchdog kills the preloaded redis if its RSS passes 1 GiB (on
# kernels that commit a page on a read fault, scanning the index commits
# it) or the run takes over 120 s; the maps lines of 100 MB and more are
# printed then.  About 20 s when it passes.  Exits 77 if LIBPACEGC does
# not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 1 "LIBPACEGC" "$@"
test_lib "$1"
test_need redis-server redis-server
test_need redis-cli redis-tools
test_need python3 python3
max_pause_ms=${REDIS_MAX_PAUSE_MS:-100}
rss_limit_kb=$((1024 * 1024))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-redis.XXXXXX")
server=''
watchdog=''
cleanup() {
	if [ -n "$watchdog" ]; then kill "$watchdog" 2>/dev/null || true; fi
	if [ -n "$server" ]; then kill -KILL "$server" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=()
fail_later() { failures+=("$*"); }
finish() {
	if [ ${#failures[@]} -gt 0 ]; then
		printf 'FAIL redis: %s\n' "${failures[@]}"
		exit 1
	fi
}

# The data (RESP for redis-cli --pipe) and the queries (one per line).
python3 - "$tmp" <<'PY'
import random, sys
d = sys.argv[1]
rng = random.Random(14)
def resp(*args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out
with open(d + '/load.resp', 'wb') as f:
    for i in range(60000):
        f.write(resp('SET', 'k:%d' % i, ('v%d-' % i) + 'x' * rng.randrange(150, 450)))
    for i in range(0, 60000, 3):
        f.write(resp('SET', 'k:%d' % i, ('w%d-' % i) + 'y' * rng.randrange(150, 450)))
    for l in range(50):
        f.write(resp('RPUSH', 'list:%d' % l, *['e%d-%d' % (l, j) for j in range(rng.randrange(10, 300))]))
    for h in range(200):
        f.write(resp('HSET', 'hash:%d' % h, *sum([['f%d' % j, 'val%d' % rng.randrange(10 ** 6)]
                                                  for j in range(rng.randrange(5, 100))], [])))
    for s in range(40):
        f.write(resp('SADD', 'set:%d' % s, *['m%d' % rng.randrange(5000) for _ in range(rng.randrange(5, 400))]))
    for z in range(40):
        f.write(resp('ZADD', 'zset:%d' % z, *sum([[str(rng.randrange(10 ** 6)), 'z%d' % j]
                                                  for j in range(rng.randrange(5, 300))], [])))
    for j in range(1, 2001):
        f.write(resp('XADD', 'stream', '%d-1' % j, 'n', str(j), 'sq', str(j * j)))
    f.write(resp('PFADD', 'hll', *['u%d' % rng.randrange(100000) for _ in range(5000)]))
    for j in range(0, 100000, 7):
        f.write(resp('SETBIT', 'bits', j, 1))
    f.write(resp('GEOADD', 'geo', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania'))
    for i in range(0, 60000, 5):
        f.write(resp('APPEND', 'k:%d' % i, '-appended'))
    for i in range(0, 60000, 11):
        f.write(resp('DEL', 'k:%d' % i))
with open(d + '/queries.txt', 'w') as f:
    for i in range(0, 60000, 97):
        f.write('GET k:%d\n' % i)
    f.write('MGET %s\n' % ' '.join('k:%d' % i for i in range(1000, 1100)))
    for l in range(50):
        f.write('LRANGE list:%d 0 -1\nLLEN list:%d\nLINDEX list:%d 3\n' % (l, l, l))
    for h in range(0, 200, 3):
        f.write('HGETALL hash:%d\nHLEN hash:%d\n' % (h, h))
    for s in range(40):
        f.write('SORT set:%d ALPHA\nSCARD set:%d\n' % (s, s))
    f.write('SUNIONSTORE su set:1 set:2 set:3\nSORT su ALPHA LIMIT 0 100\n')
    for z in range(40):
        f.write('ZRANGE zset:%d 0 -1 WITHSCORES\nZCARD zset:%d\n' % (z, z))
    f.write('ZUNIONSTORE zu 3 zset:1 zset:2 zset:3\nZRANGE zu 0 50 WITHSCORES\n')
    f.write('SORT list:7 ALPHA DESC\nXLEN stream\nXRANGE stream 100-1 140-1\nPFCOUNT hll\n')
    f.write('BITCOUNT bits\nGEODIST geo Palermo Catania km\nSTRLEN k:5\nGETRANGE k:10 0 20\n')
    f.write('INCRBY counter 5\nINCRBY counter 7\nDBSIZE\nDEBUG DIGEST\n')
PY

# start NAME [ENV...]: starts redis-server under ENV; sets server and port.
start() {
	local name=$1
	shift
	port=$(test_free_port)
	env "$@" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$tmp" --enable-debug-command local --logfile "$tmp/$name.log" \
		>"$tmp/$name.stdout" 2>"$tmp/$name.stderr" &
	server=$!
	test_wait_port "$port" 20 || { fail_later "$name: redis did not start"; finish; }
}

# stop: shuts redis down (or finds it killed by the watchdog).
stop() {
	timeout 20 redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
	for _ in $(seq 1 100); do
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=''
}

# exercise NAME: loads the data, runs the queries, reads INFO memory.
exercise() {
	local name=$1
	timeout 120 redis-cli -p "$port" --pipe <"$tmp/load.resp" >"$tmp/$name.pipe" 2>&1 ||
		fail_later "$name: loading the data failed: $(tail -n 2 "$tmp/$name.pipe")"
	timeout 120 redis-cli -p "$port" <"$tmp/queries.txt" >"$tmp/$name.out" 2>&1 ||
		fail_later "$name: the queries failed"
	timeout 20 redis-cli -p "$port" INFO memory >"$tmp/$name.info" 2>&1 || true
}

# The watchdog: kills the server if its RSS passes the limit or it runs
# too long, saving its large maps lines first.
watch_server() {
	local pid=$1 deadline=$((SECONDS + 120)) rss
	while kill -0 "$pid" 2>/dev/null; do
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		if [ "${rss:-0}" -gt "$rss_limit_kb" ] || [ "$SECONDS" -gt "$deadline" ]; then
			python3 - "$pid" >"$tmp/killed.maps" 2>&1 <<'PY' || true
import sys
for line in open('/proc/%s/maps' % sys.argv[1]):
    lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
    if hi - lo >= 100 << 20:
        print('%10d MiB  %s' % ((hi - lo) >> 20, line.rstrip()))
PY
			echo "RSS ${rss} KiB after $((SECONDS - deadline + 120)) s" >"$tmp/killed.why"
			kill -KILL "$pid"
			return
		fi
		sleep 0.1
	done
}

start plain LD_PRELOAD="${LD_PRELOAD:-}"
exercise plain
stop
finish
grep -q '^OK$\|^[0-9]' "$tmp/plain.out" || { fail_later "plain: no query output"; finish; }

start pacegc LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib" PACEGC_GODEBUG=gctrace=1
watch_server "$server" &
watchdog=$!
exercise pacegc
stop
kill "$watchdog" 2>/dev/null || true
wait "$watchdog" 2>/dev/null || true
watchdog=''

if [ -e "$tmp/killed.why" ]; then
	fail_later "the preloaded redis was killed by the watchdog ($(cat "$tmp/killed.why"));" \
		"its maps lines of 100 MB and more:" $'\n'"$(cat "$tmp/killed.maps")"
fi
if ! cmp -s "$tmp/plain.out" "$tmp/pacegc.out"; then
	fail_later "the query output differs from the plain run's:"$'\n'"$(diff -u --label plain \
		--label pacegc "$tmp/plain.out" "$tmp/pacegc.out" | head -n 12 | cut -c 1-100)"
fi
if grep -aq '^pacegc:' "$tmp/pacegc.stderr"; then
	fail_later "pacegc reported:"$'\n'"$(grep -a -A6 '^pacegc:' "$tmp/pacegc.stderr" | head -n 20)"
fi

# gc N @Ts P%: A+B+C ms clock, ..., S->E->L MB, G MB goal, K MB stacks, R MB globals, X P
grep -a '^gc [0-9]' "$tmp/pacegc.stderr" >"$tmp/gctrace" || true
ncycles=$(wc -l <"$tmp/gctrace")
if [ "$ncycles" -eq 0 ]; then
	fail_later "no cycle ran (the heap passed 4 MB several times)"
else
	bad=$(awk '{ for (i = 1; i <= NF; i++) {
			if ($i == "globals," && $(i - 2) + 0 > 64) { print; next }
			if ($i == "goal," && $(i - 2) + 0 > 256) { print; next } } }' "$tmp/gctrace")
	[ -z "$bad" ] || fail_later "cycles scanned over 64 MB of globals or set a goal over" \
		"256 MB:"$'\n'"$(echo "$bad" | head -n 5)"
	pause=$(head -n 1 "$tmp/gctrace" | sed -n 's/.*%: \([0-9.]*\)+\([0-9.]*\)+\([0-9.]*\) ms clock.*/\1 \2 \3/p' |
		awk '{ printf "%.3f", $1 + $2 + $3 }')
	awk -v p="${pause:-1e9}" -v m="$max_pause_ms" 'BEGIN { exit !(p < m) }' ||
		fail_later "the first cycle stopped the world ${pause} ms, want under $max_pause_ms ms:" \
			"$(head -n 1 "$tmp/gctrace")"
fi

used=$(sed -n 's/^used_memory:\([0-9]*\).*/\1/p' "$tmp/pacegc.info")
alloc=$(sed -n 's/^allocator_allocated:\([0-9]*\).*/\1/p' "$tmp/pacegc.info")
if [ -n "$used" ] && [ -n "$alloc" ]; then
	if [ "$alloc" -lt $((used / 2)) ] || [ "$alloc" -gt $((used * 2)) ]; then
		fail_later "INFO memory: allocator_allocated $alloc, used_memory $used: mallctl" \
			"\"stats.allocated\" does not describe the allocator that serves malloc" \
			"(plain: $(sed -n 's/^allocator_allocated:\([0-9]*\).*/\1/p' "$tmp/plain.info")" \
			"of $(sed -n 's/^used_memory:\([0-9]*\).*/\1/p' "$tmp/plain.info"))"
	fi
else
	fail_later "INFO memory could not be read from the preloaded redis"
fi

finish
echo "ok: redis: query output identical to plain redis ($(wc -l <"$tmp/plain.out") lines);" \
	"$ncycles cycles, first pause $pause ms; allocator_allocated $alloc of used_memory $used"
