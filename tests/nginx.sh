#!/bin/bash
# nginx under pacegc: nginx.sh LIBPACEGC
#
# Debian's nginx (package nginx, installed with apt-get if missing and root;
# skipped, exit 77, if it cannot be) in the shape it runs in production:
# a master forking two workers that setuid to nobody (which makes them
# non-dumpable: /proc/self/pagemap is then root's, mode 0400), with gzip,
# large header buffers and its error log on fd 2.  The same client
# (tests/programs/real/nginx_client.py) runs against a plain nginx and
# against preloaded ones:
#   requests  1000 requests over distinct URLs, keep-alive and close,
#             gzip, 0..20 KB headers, 200s and 404s;
#   hold      600 connections each send a partial request with a 6 KB
#             header and wait 1.5 s before completing it: every worker
#             then holds a 64 KiB header buffer per connection, tens of
#             MB in all, far past the 4 MB heap goal, so the workers must
#             run cycles while the memory is live (issue 8, item 17).
# Preloaded runs (PACEGC_GODEBUG=gctrace=1):
#   honor     the default;
#   ignore    PACEGC_FREE=ignore: every request's memory is left to the
#             collector, so workers cycle under ordinary load too;
#   stress    honor with gcstress=500: the master also runs cycles before
#             it forks (its /proc/self/pagemap descriptor is then open
#             when the workers are forked: issue 8, item 2).
# Checks, for each preloaded run:
#   - every response (status, the headers that do not depend on time,
#     SHA-256 of the body) is the plain run's;
#   - the error log (nginx puts it on fd 2, so gctrace lands there) holds
#     no "pacegc:" line and no worker killed by a signal;
#   - gctrace lines came from both workers: the trace carries no pid, but
#     cycle numbers count up per process, so a cycle number printed twice
#     was printed by two processes (the master allocates nothing once
#     the workers run).
# About 40 s on 2 CPUs.  Exits 77 if LIBPACEGC does not exist yet.
# shellcheck source=tests/testlib.sh
. "$(dirname "$0")/testlib.sh"
test_args 1 "LIBPACEGC" "$@"
test_lib "$1"
test_need nginx nginx
test_need python3 python3
client=$(cd "$(dirname "$0")" && pwd)/programs/real/nginx_client.py
nginx=$(command -v nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pacegc-nginx.XXXXXX")
chmod 755 "$tmp"    # the workers (nobody) read the files
master=''
cleanup() {
	if [ -n "$master" ]; then
		pkill -KILL -P "$master" 2>/dev/null || true   # its workers
		kill -KILL "$master" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL nginx: $*"
	exit 1
}

# Content: 200 text files of 20..27 KB, the same for every run.
mkdir -p "$tmp/html"
python3 - "$tmp/html" <<'PY'
import random, sys
rng = random.Random(1)
for i in range(200):
    with open('%s/f%d.txt' % (sys.argv[1], i), 'w') as f:
        f.write(''.join(rng.choice('abcdefghij \n') for _ in range(20000 + i * 37)))
PY
chmod -R a+rX "$tmp/html"
touch -d '2024-01-01 00:00:00 UTC' "$tmp"/html/*   # fixed ETag / Last-Modified

port=$(test_free_port)
cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
error_log $tmp/error.log notice;
pid $tmp/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/body;
	proxy_temp_path $tmp/proxy;
	fastcgi_temp_path $tmp/fastcgi;
	uwsgi_temp_path $tmp/uwsgi;
	scgi_temp_path $tmp/scgi;
	default_type text/plain;
	gzip on;
	gzip_min_length 1;
	gzip_types text/plain;
	large_client_header_buffers 4 64k;
	server {
		listen 127.0.0.1:$port;
		root $tmp/html;
		location / { add_header X-Uri \$uri; }
	}
}
EOF

# run NAME [ENV...]: starts nginx under ENV, runs the client, stops nginx.
run() {
	local name=$1
	shift
	: >"$tmp/error.log"
	env "$@" "$nginx" -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/$name.stderr" &
	master=$!
	test_wait_port "$port" 20 || fail "$name: nginx did not start; $(tail -n 5 "$tmp/$name.stderr")"
	timeout 120 python3 "$client" "$port" requests 1000 >"$tmp/$name.requests" ||
		fail "$name: the requests client failed"
	timeout 120 python3 "$client" "$port" hold 600 1.5 >"$tmp/$name.hold" ||
		fail "$name: the hold client failed"
	kill -QUIT "$master"
	for _ in $(seq 1 100); do
		kill -0 "$master" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$master" 2>/dev/null && fail "$name: nginx did not stop within 10 s"
	wait "$master" || true
	master=''
	cp "$tmp/error.log" "$tmp/$name.error.log"
}

# processes_with_cycles LOG: how many processes printed gctrace lines, at
# least (the largest number of times one cycle number appears).
processes_with_cycles() {
	sed -n 's/^gc \([0-9][0-9]*\) @.*/\1/p' "$1" | sort | uniq -c | sort -rn |
		awk 'NR == 1 { print $1 } END { if (NR == 0) print 0 }'
}

run plain LD_PRELOAD="${LD_PRELOAD:-}"
[ "$(wc -l <"$tmp/plain.requests")" -eq 1000 ] || fail "plain: not 1000 responses"
[ "$(wc -l <"$tmp/plain.hold")" -eq 600 ] || fail "plain: not 600 held responses"

preload=${LD_PRELOAD:+$LD_PRELOAD:}$lib
for mode in honor ignore stress; do
	case $mode in
	honor) env=(PACEGC_GODEBUG=gctrace=1) ;;
	ignore) env=(PACEGC_FREE=ignore PACEGC_GODEBUG=gctrace=1) ;;
	stress) env=("PACEGC_GODEBUG=gctrace=1,gcstress=500") ;;
	esac
	run "$mode" LD_PRELOAD="$preload" "${env[@]}"
	for part in requests hold; do
		if ! cmp -s "$tmp/plain.$part" "$tmp/$mode.$part"; then
			diff -u --label plain --label "$mode" "$tmp/plain.$part" "$tmp/$mode.$part" |
				head -n 20 || true
			fail "$mode: the $part responses differ from the plain run's"
		fi
	done
	log=$tmp/$mode.error.log
	if grep -aq '^pacegc:' "$log" "$tmp/$mode.stderr"; then
		grep -a -A6 '^pacegc:' "$log" "$tmp/$mode.stderr" | head -n 30
		fail "$mode: pacegc reported something"
	fi
	if grep -aq 'exited on signal' "$log"; then
		grep -a 'exited on signal' "$log" | head -n 5
		fail "$mode: a worker was killed by a signal"
	fi
	cycles=$(grep -ac '^gc [0-9]' "$log" || true)
	procs=$(processes_with_cycles "$log")
	[ "$procs" -ge 2 ] ||
		fail "$mode: gctrace lines from $procs process(es), want both workers" \
			"($cycles lines; last: $(grep -a '^gc ' "$log" | tail -n 1))"
	echo "ok: nginx $mode: responses identical to plain nginx (1000 requests," \
		"600 held connections); $cycles cycles in the workers"
done
