/* Pointers in transit through pipes and sockets: see transit.h. */
#include "transit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "heap.h"
#include "meta.h"
#include "os.h"

/* ---- what each descriptor is ---- */

/*
 * A two-level table indexed by descriptor: chunks are mapped on first
 * use and never unmapped, so a reader needs no lock, and a stop that
 * parks a writer half-way leaves every entry whole (one atomic word).
 * An entry holds the kind, and for a TCP socket what cycles learnt of
 * it: its local port (0: not known yet) and whether its peer is a socket
 * of this process.  Both stay true until the descriptor is closed or
 * made again, which writes the entry anew.
 */
#define CHUNK_FDS 16384
#define CHUNKS 64                    /* descriptors below 1M are tracked */
#define ENTRY_KIND_MASK 0xffu
#define ENTRY_PORT_SHIFT 8
#define ENTRY_PORT_MASK (0xffffu << ENTRY_PORT_SHIFT)
#define ENTRY_PEER_OURS (1u << 24)
#define ENTRY_PEER_FOREIGN (1u << 25)

static struct {
  _Atomic(_Atomic uint32_t *) chunks[CHUNKS];
  _Atomic int top;                   /* every tracked descriptor is below */
} fds;

static _Atomic uint32_t *entry(int fd, bool make) {
  if (fd < 0 || fd >= CHUNK_FDS * CHUNKS) return NULL;
  _Atomic(_Atomic uint32_t *) *slot = &fds.chunks[fd / CHUNK_FDS];
  _Atomic uint32_t *c = atomic_load_explicit(slot, memory_order_acquire);
  if (c == NULL && make) {
    _Atomic uint32_t *fresh = meta_map(CHUNK_FDS * sizeof *fresh, "pacegc-transit-fds");
    if (fresh == NULL) return NULL;
    if (atomic_compare_exchange_strong(slot, &c, fresh)) c = fresh;
    else meta_unmap(fresh, CHUNK_FDS * sizeof *fresh);
  }
  return c ? &c[fd % CHUNK_FDS] : NULL;
}

void transit_note(int fd, transit_kind_t kind) {
  _Atomic uint32_t *e = entry(fd, kind != TRANSIT_NONE);
  if (e == NULL) return;
  atomic_store_explicit(e, kind, memory_order_release);
  int top = atomic_load_explicit(&fds.top, memory_order_relaxed);
  while (kind != TRANSIT_NONE && fd >= top &&
         !atomic_compare_exchange_weak(&fds.top, &top, fd + 1)) {
  }
}

void transit_note_socket(int fd, int domain, int type) {
  type &= 0xf;                       /* without SOCK_NONBLOCK, SOCK_CLOEXEC */
  if (domain == AF_UNIX) transit_note(fd, TRANSIT_UNIX);
  else if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM)
    transit_note(fd, TRANSIT_TCP);
  else transit_note(fd, TRANSIT_NONE);
}

/* What the kernel says fd is. */
static transit_kind_t classify(int fd) {
  struct stat st;
  if (os_syscall2(SYS_fstat, fd, &st) != 0) return TRANSIT_NONE;
  if (S_ISFIFO(st.st_mode)) {
    long fl = os_syscall2(SYS_fcntl, fd, F_GETFL);
    return fl >= 0 && (fl & O_ACCMODE) != O_WRONLY ? TRANSIT_PIPE : TRANSIT_NONE;
  }
  if (!S_ISSOCK(st.st_mode)) return TRANSIT_NONE;
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (os_syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    return TRANSIT_NONE;
  len = sizeof type;
  if (os_syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return TRANSIT_NONE;
  if (domain == AF_UNIX) return TRANSIT_UNIX;
  return (domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM ? TRANSIT_TCP
                                                                          : TRANSIT_NONE;
}

void transit_note_like(int fd, int from) {
  _Atomic uint32_t *e = entry(from, false);
  uint32_t kind = e ? atomic_load_explicit(e, memory_order_acquire) & ENTRY_KIND_MASK : 0;
  transit_note(fd, kind != TRANSIT_NONE ? (transit_kind_t)kind : classify(fd));
}

void transit_close(int fd) {
  _Atomic uint32_t *e = entry(fd, false);
  if (e) atomic_store_explicit(e, TRANSIT_NONE, memory_order_release);
}

void transit_close_range(unsigned lo, unsigned hi) {
  unsigned top = (unsigned)atomic_load(&fds.top);
  for (unsigned fd = lo; fd <= hi && fd < top; fd++) transit_close((int)fd);
}

static long note_inherited(void *dir, long fd) {
  if (fd != *(int *)dir) transit_note((int)fd, classify((int)fd));
  return 0;
}

void transit_init(void) {
  int dir = os_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
  if (dir < 0) return;
  os_dir_numbers(dir, note_inherited, &dir);
  os_close(dir);
}

/* ---- reading the queues, with the world stopped ---- */

#define CHUNK ((size_t)256 << 10)     /* read at a time */
#define CARRY (sizeof(uintptr_t) - 1) /* bytes kept from one read to the next */

/* The first CARRY bytes of a queue read this cycle (n: fewer if it held
 * fewer): a record a thread read in pieces goes on there from the last
 * bytes it received (landing.h). */
typedef struct queue_head {
  unsigned char b[CARRY];
  unsigned char n;
} queue_head_t;

/* A thread's record, read as one stream into the scratch bytes. */
_Static_assert(2 * LANDING_KEEP <= CHUNK, "a landed record fits the scratch bytes");

/* Scratch kept from cycle to cycle, in bookkeeping memory (which is no
 * root): descriptors to poll, one read's bytes, and the words found. */
static struct {
  struct pollfd *polls;               /* by descriptor, ascending */
  queue_head_t *heads;                /* polls[i]'s queue's first bytes */
  size_t polls_cap, heads_cap, npolls;
  queue_head_t *head;                 /* of the queue being read; NULL */
  unsigned char *bytes;               /* CARRY + CHUNK */
  uintptr_t *words;
  size_t nwords, words_cap;
  size_t read;                        /* bytes read this cycle */
  int pipe_r, pipe_w;                 /* the private pipe, this cycle; -1 */
  uint64_t ports[65536 / 64];         /* local ports of this process's TCP sockets */
} ts = { .pipe_r = -1, .pipe_w = -1 };

/* Keeps the words at b[0], b[1], ... b[n - 1] (each read whole, so
 * b[n + 6] must be readable) that fall in the heap's window; false if
 * there is no room for them. */
static bool keep_words(const unsigned char *b, size_t n) {
  uintptr_t lo = heap.start, span = atomic_load(&heap.unused) - lo;
  for (size_t i = 0; i < n; i++) {
    uintptr_t w;
    memcpy(&w, b + i, sizeof w);
    if (likely(w - lo >= span)) continue;
    if (ts.nwords == ts.words_cap &&
        !meta_reserve((void **)&ts.words, &ts.words_cap, ts.nwords + 1, sizeof(uintptr_t),
                      "pacegc-transit-words"))
      return false;
    ts.words[ts.nwords++] = w;
  }
  return true;
}

/*
 * One read's bytes, [ts.bytes, ts.bytes + CARRY + n): the first CARRY are
 * the previous read's last (zero at the start of a queue), so a word
 * split between two reads is seen whole.  Every byte offset is a word:
 * the stream's own alignment is not the reader's.
 */
static bool scan_bytes(size_t n) {
  queue_head_t *h = ts.head;
  if (h != NULL && h->n < CARRY) {
    size_t k = n < CARRY - h->n ? n : CARRY - h->n;
    memcpy(h->b + h->n, ts.bytes + CARRY, k);
    h->n = (unsigned char)(h->n + k);
  }
  if (!keep_words(ts.bytes, n)) return false;
  memmove(ts.bytes, ts.bytes + n, CARRY);
  ts.read += n;
  return ts.read <= TRANSIT_BUDGET;
}

/* Reads fd's copy of a queue (the private pipe) to its end. */
static bool drain(int fd) {
  memset(ts.bytes, 0, CARRY);
  for (;;) {
    long got = os_syscall3(SYS_read, fd, ts.bytes + CARRY, CHUNK);
    if (got == -EAGAIN || got == 0) return true;
    if (got < 0 || !scan_bytes((size_t)got)) return false;
  }
}

static bool private_pipe(void) {
  if (ts.pipe_r >= 0) return true;
  int p[2];
  if (os_syscall2(SYS_pipe2, p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  ts.pipe_r = p[0];
  ts.pipe_w = p[1];
  return true;
}

static void private_pipe_close(void) {
  if (ts.pipe_r < 0) return;
  os_close(ts.pipe_r);
  os_close(ts.pipe_w);
  ts.pipe_r = ts.pipe_w = -1;
}

/* A pipe: its bytes duplicated into the private pipe, which must hold
 * them all (tee cannot skip what it copied before). */
static bool read_pipe(int fd) {
  int queued = 0;
  if (os_syscall3(SYS_ioctl, fd, FIONREAD, &queued) != 0) return true;   /* not a pipe now */
  if (queued <= 0) return true;
  if (!private_pipe()) return false;
  long size = os_syscall2(SYS_fcntl, ts.pipe_w, F_GETPIPE_SZ);
  if (size < queued && os_syscall3(SYS_fcntl, ts.pipe_w, F_SETPIPE_SZ, queued) < queued)
    return false;
  long copied = os_syscall4(SYS_tee, fd, ts.pipe_w, (size_t)queued, SPLICE_F_NONBLOCK);
  if (copied == -EINVAL) return true;                /* not a pipe any more */
  return copied >= queued && drain(ts.pipe_r);
}

static long peek(int fd) {
  return os_syscall6(SYS_recvfrom, fd, (long)(ts.bytes + CARRY), CHUNK, MSG_PEEK | MSG_DONTWAIT,
                     0, 0);
}

/*
 * A socket: its queue peeked from the start.  With SO_PEEK_OFF at 0 each
 * peek goes on where the last one ended, across datagrams and past the
 * messages that carry descriptors (where a stream peek stops); the
 * program's own peek offset (-1: none) is put back.  Without it, one peek
 * must return everything queued, which only a stream can do.
 */
static bool read_socket(int fd) {
  int queued = 0, saved = -1, zero = 0;
  if (os_syscall3(SYS_ioctl, fd, SIOCINQ, &queued) != 0) return true;   /* not a socket now */
  socklen_t len = sizeof saved;
  bool walk = os_syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_PEEK_OFF, &saved, &len) == 0 &&
              os_syscall5(SYS_setsockopt, fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) == 0;
  memset(ts.bytes, 0, CARRY);
  bool ok = true;
  long got;
  if (!walk) {
    got = peek(fd);
    int type = 0;
    len = sizeof type;
    os_syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len);
    return got == -EAGAIN || (got >= 0 && got >= queued && type == SOCK_STREAM &&
                              (size_t)got < CHUNK && scan_bytes((size_t)got));
  }
  /* The walk ends at EAGAIN.  A datagram of no bytes peeks as 0 once and
   * is skipped after; at the end of a stream 0 comes back each time. */
  for (int zeros = 0; ok && zeros < 2;) {
    got = peek(fd);
    if (got < 0) {
      ok = got == -EAGAIN;
      break;
    }
    zeros = got == 0 ? zeros + 1 : 0;
    ok = got == 0 || scan_bytes((size_t)got);
  }
  os_syscall5(SYS_setsockopt, fd, SOL_SOCKET, SO_PEEK_OFF, &saved, sizeof saved);
  return ok;
}

static int name_port(int fd, long call) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  if (os_syscall3(call, fd, &a, &len) != 0) return 0;
  if (a.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&a)->sin_port);
  if (a.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
  return 0;
}

static bool port_is_ours(unsigned port) {
  return port != 0 && (ts.ports[port / 64] & (uint64_t)1 << (port % 64));
}

/*
 * Walks the table once: the descriptors to poll, in ts.polls, and the
 * local ports of this process's TCP sockets, in ts.ports (each asked of
 * the kernel once, when first known).  False if there is no room.
 */
static bool gather(size_t *npolls) {
  memset(ts.ports, 0, sizeof ts.ports);
  size_t n = 0;
  int top = atomic_load(&fds.top);
  for (int fd = 0; fd < top; fd++) {
    _Atomic uint32_t *e = entry(fd, false);
    if (e == NULL) {
      fd |= CHUNK_FDS - 1;
      continue;
    }
    uint32_t v = atomic_load_explicit(e, memory_order_relaxed);
    if ((v & ENTRY_KIND_MASK) == TRANSIT_NONE) continue;
    if ((v & ENTRY_KIND_MASK) == TRANSIT_TCP) {
      unsigned port = (v & ENTRY_PORT_MASK) >> ENTRY_PORT_SHIFT;
      if (port == 0 && (port = (unsigned)name_port(fd, SYS_getsockname)) != 0)
        atomic_store_explicit(e, v | port << ENTRY_PORT_SHIFT, memory_order_relaxed);
      if (port != 0) ts.ports[port / 64] |= (uint64_t)1 << (port % 64);
    }
    if ((n == ts.polls_cap &&
         !meta_reserve((void **)&ts.polls, &ts.polls_cap, n + 1, sizeof *ts.polls,
                       "pacegc-transit-polls")) ||
        (n == ts.heads_cap &&
         !meta_reserve((void **)&ts.heads, &ts.heads_cap, n + 1, sizeof *ts.heads,
                       "pacegc-transit-heads")))
      return false;
    ts.heads[n].n = 0;
    ts.polls[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
  }
  *npolls = n;
  return true;
}

/* Whether a TCP socket's peer is a socket of this process (its port is
 * one of ts.ports: rarely, a process elsewhere with the same port, which
 * costs a read for nothing), decided once it is connected. */
static bool tcp_peer_is_ours(int fd, _Atomic uint32_t *e) {
  uint32_t v = atomic_load_explicit(e, memory_order_relaxed);
  if (v & (ENTRY_PEER_OURS | ENTRY_PEER_FOREIGN)) return (v & ENTRY_PEER_OURS) != 0;
  int listening = 0;
  socklen_t len = sizeof listening;
  int peer = name_port(fd, SYS_getpeername);
  if (peer == 0 &&
      (os_syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
       !listening))
    return false;                                /* not connected yet: asked again */
  bool ours = port_is_ours((unsigned)peer);
  atomic_store_explicit(e, v | (ours ? ENTRY_PEER_OURS : ENTRY_PEER_FOREIGN), memory_order_relaxed);
  return ours;
}

/*
 * A TCP connection within this process: its receive queue is peeked, and
 * bytes written but not sent yet (held back by Nagle or corking, in the
 * sender's queue where no peek reaches) make the cycle reclaim nothing.
 */
static bool read_tcp(int fd, _Atomic uint32_t *e, bool readable) {
  if (!tcp_peer_is_ours(fd, e)) return true;
  int unsent = 0;
  if (os_syscall3(SYS_ioctl, fd, SIOCOUTQNSD, &unsent) == 0 && unsent > 0) return false;
  return !readable || read_socket(fd);
}

static bool read_queue(int fd, short revents) {
  _Atomic uint32_t *e = entry(fd, false);
  bool readable = (revents & POLLIN) != 0;
  switch (atomic_load_explicit(e, memory_order_relaxed) & ENTRY_KIND_MASK) {
  case TRANSIT_PIPE: return !readable || read_pipe(fd);
  case TRANSIT_UNIX: return !readable || read_socket(fd);
  case TRANSIT_TCP: return read_tcp(fd, e, readable);
  default: return true;
  }
}

static bool scratch_bytes(void) {
  return ts.bytes != NULL || (ts.bytes = meta_map(CARRY + CHUNK, "pacegc-transit-bytes")) != NULL;
}

static bool read_queues(void) {
  size_t n = 0;
  if (!gather(&n)) return false;
  if (n == 0) return true;
  if (!scratch_bytes()) return false;
  ts.npolls = n;
  struct timespec now = {0, 0};
  long ready = os_syscall4(SYS_ppoll, ts.polls, n, &now, NULL);
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    /* If poll itself failed (more descriptors than RLIMIT_NOFILE allows
     * now), every queue is read. */
    short got = ready < 0 ? POLLIN : ts.polls[i].revents;
    ts.head = &ts.heads[i];
    if (got & POLLNVAL) transit_close(ts.polls[i].fd);
    else ok = read_queue(ts.polls[i].fd, got);
  }
  ts.head = NULL;
  private_pipe_close();
  return ok;
}

/* The first bytes of fd's queue as this cycle read them; NULL if it read
 * none. */
static const queue_head_t *queue_head(int fd) {
  size_t lo = 0, hi = ts.npolls;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ts.polls[mid].fd < fd) lo = mid + 1;
    else hi = mid;
  }
  bool found = lo < ts.npolls && ts.polls[lo].fd == fd && ts.heads[lo].n > 0;
  return found ? &ts.heads[lo] : NULL;
}

/* ---- bytes just received (landing.h) ---- */

bool transit_may_carry(int fd) {
  _Atomic uint32_t *e = entry(fd, false);
  if (e == NULL) return false;
  uint32_t v = atomic_load_explicit(e, memory_order_relaxed);
  return (v & ENTRY_KIND_MASK) != TRANSIT_NONE && !(v & ENTRY_PEER_FOREIGN);
}

/* The part of s from its start that mappings readable now cover, and
 * only memory a root may be (private, or shared memory that is no
 * ordinary file's: never a device's, where a read may do something): a
 * record may name a buffer the program has unmapped since. */
static span_t readable_part(const maps_t *m, span_t s) {
  uintptr_t end = s.lo;
  for (size_t i = maps_find(m, s.lo); i < m->n && end < s.hi; i++) {
    const map_entry_t *e = &m->e[i];
    if (e->lo > end || !e->readable || e->special || !(e->private_ || e->shared_mem)) break;
    end = e->hi;
  }
  return (span_t){ s.lo, end < s.hi ? end : s.hi };
}

/*
 * The bytes a thread received last, read as one stream in the order they
 * came (a word may straddle two of its buffers), followed by the first
 * bytes still queued on the descriptor they came from (a record read in
 * pieces).  Parts no longer readable read as zeros.  Where the park could
 * not tell how much the latest receive got (l->open), the queue may go on
 * after any byte of it: the words across each such end are read too.
 */
static bool keep_landed(const landed_t *l, const maps_t *m) {
  if (l->n == 0) return true;
  if (!scratch_bytes()) return false;
  unsigned char *b = ts.bytes;
  size_t n = 0, open_at = SIZE_MAX;
  for (unsigned i = 0; i < l->n; i++) {
    if (i == l->open) open_at = n;
    /* At most 2 * LANDING_KEEP in all (landing.c); the cut keeps a torn
     * record inside the scratch bytes all the same. */
    size_t len = l->s[i].hi - l->s[i].lo;
    span_t want = { l->s[i].lo, l->s[i].lo + (len < CHUNK - n ? len : CHUNK - n) };
    span_t s = readable_part(m, want);
    memcpy(b + n, (const void *)s.lo, s.hi - s.lo);
    memset(b + n + (s.hi - s.lo), 0, want.hi - s.hi);
    n += want.hi - want.lo;
  }
  const queue_head_t *h = queue_head(l->fd);
  unsigned char head[CARRY] = { 0 };
  if (h != NULL) memcpy(head, h->b, h->n);
  memcpy(b + n, head, CARRY);
  if (!keep_words(b, n)) return false;
  if (h == NULL || open_at == SIZE_MAX) return true;
  unsigned char across[2 * CARRY];
  memcpy(across + CARRY, head, CARRY);
  for (size_t end = open_at > 0 ? open_at : 1; end < n; end++) {
    size_t k = end < CARRY ? end : CARRY;
    memset(across, 0, CARRY - k);
    memcpy(across + CARRY - k, b + end - k, k);
    if (!keep_words(across, CARRY)) return false;
  }
  return true;
}

bool transit_add_roots(roots_t *r, const world_t *w, const maps_t *m) {
  ts.nwords = ts.read = ts.npolls = 0;
  bool ok = read_queues();
  landed_t self;
  landing_capture(&self, NULL);
  ok = keep_landed(&self, m) && ok;
  for (size_t i = 0; i < w->nthreads && ok; i++) ok = keep_landed(&w->threads[i].landed, m);
  if (ts.nwords) roots_add(r, (uintptr_t)ts.words, (uintptr_t)(ts.words + ts.nwords), ROOT_GLOBAL);
  return ok;
}
