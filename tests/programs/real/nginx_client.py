#!/usr/bin/env python3
"""HTTP/1.1 client for tests/nginx.sh: a fixed request sequence whose
responses it prints one line each, so that a plain nginx run and a
preloaded one can be compared byte for byte.

  nginx_client.py PORT requests N     N requests, keep-alive and close
                                      mixed, gzip, 0 B..20 KB headers,
                                      200s and 404s over distinct URLs
  nginx_client.py PORT hold N SECS    N connections each send a partial
                                      request with a 6 KB header (nginx
                                      holds a large header buffer for
                                      each), wait SECS, then complete them

Each response line: index, status, the headers that do not depend on
time (Content-Type, Content-Length, Content-Encoding, ETag, X-Uri) and
the SHA-256 of the body (de-chunked, still compressed).  Deterministic:
fixed seed, one request at a time per connection."""
import hashlib
import random
import socket
import sys
import time

KEEP = (b'content-type', b'content-length', b'content-encoding', b'etag', b'x-uri')


def read_response(f):
    status = f.readline()
    if not status:
        raise EOFError('connection closed before a response')
    headers, length, chunked = {}, None, False
    while True:
        line = f.readline()
        if line in (b'\r\n', b''):
            break
        k, _, v = line.partition(b':')
        k, v = k.strip().lower(), v.strip()
        headers[k] = v
        if k == b'content-length':
            length = int(v)
        if k == b'transfer-encoding' and v.lower() == b'chunked':
            chunked = True
    body = b''
    if chunked:
        while True:
            size = int(f.readline().split(b';')[0], 16)
            body += f.read(size)
            f.readline()
            if size == 0:
                break
    elif length is not None:
        body = f.read(length)
    kept = b' '.join(k + b'=' + headers[k] for k in KEEP if k in headers)
    return status.split(b' ')[1], kept, hashlib.sha256(body).hexdigest()


def request(path, close, big):
    h = b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\n'
    if big:
        h += b'X-Big: ' + b'z' * big + b'\r\n'
    if close:
        h += b'Connection: close\r\n'
    return h + b'\r\n'


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def run_requests(port, n):
    rng = random.Random(8)
    s = f = None
    for i in range(n):
        close = rng.random() < 0.4
        k = rng.randrange(260)
        if k < 200:
            path = '/f%d.txt?q=%d' % (k, rng.randrange(10 ** 9))
        else:
            path = '/missing/%d/%s' % (k, 'p' * rng.randrange(2000))
        big = rng.choice([0, 0, 500, 3000, 20000])
        if s is None:
            s = connect(port)
            f = s.makefile('rb')
        s.sendall(request(path, close, big))
        status, kept, digest = read_response(f)
        sys.stdout.write('%d %s %s %s\n' % (i, status.decode(), kept.decode(), digest))
        if close:
            f.close()
            s.close()
            s = f = None
    if s is not None:
        f.close()
        s.close()


def run_hold(port, n, secs):
    conns = []
    for i in range(n):
        s = connect(port)
        s.sendall(b'GET /f%d.txt HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\nX-Big: ' % (i % 200)
                  + b'y' * 6000)
        conns.append(s)
    time.sleep(secs)
    for s in conns:
        s.sendall(b'\r\nConnection: close\r\n\r\n')
    for i, s in enumerate(conns):
        f = s.makefile('rb')
        status, kept, digest = read_response(f)
        sys.stdout.write('hold %d %s %s %s\n' % (i, status.decode(), kept.decode(), digest))
        f.close()
        s.close()


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == 'requests':
        run_requests(port, int(sys.argv[3]))
    elif mode == 'hold':
        run_hold(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit('usage: nginx_client.py PORT requests N | hold N SECS')


if __name__ == '__main__':
    main()
