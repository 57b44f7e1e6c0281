/* epoll registrations as roots: see kernroots.h. */
#include "kernroots.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "checks.h"
#include "meta.h"
#include "os.h"

/* Open addressing keyed by (epfd, fd).  Invariants: capacity is a power of
 * two; live + dead < capacity * 3/4; a slot is empty (epfd == -1), dead
 * (epfd == -2) or live.  The table carries its capacity, so publishing a
 * new one is a single pointer store that a stop cannot split. */
typedef struct reg { int epfd, fd; uint64_t data; } reg_t;
typedef struct table { size_t cap; reg_t slots[]; } table_t;

static bool is_live(const reg_t *s);

#define EMPTY (-1)
#define DEAD (-2)
#define ALTSTACK (-3)            /* key (ALTSTACK, tid): a thread's alternate stack */
#define EPFD_BITS 65536          /* epoll fds below this are tracked for close() */

static struct {
  pthread_mutex_t lock;
  table_t *_Atomic table;
  size_t live, dead;
  _Atomic size_t nregs;          /* read without the lock by close() */
  _Atomic uint64_t epfds[EPFD_BITS / 64];
} kr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t table_bytes(size_t cap) { return sizeof(table_t) + cap * sizeof(reg_t); }

static size_t hash(int epfd, int fd) {
  uint64_t k = ((uint64_t)(uint32_t)epfd << 32) | (uint32_t)fd;
  k *= 0x9e3779b97f4a7c15ull;
  return (size_t)(k >> 17);
}

static reg_t *find(table_t *t, int epfd, int fd, bool for_insert) {
  size_t mask = t->cap - 1;
  reg_t *tomb = NULL;
  for (size_t i = hash(epfd, fd) & mask;; i = (i + 1) & mask) {
    reg_t *s = &t->slots[i];
    if (s->epfd == epfd && s->fd == fd) return s;
    if (s->epfd == DEAD && !tomb) tomb = s;
    if (s->epfd == EMPTY) return for_insert ? (tomb ? tomb : s) : NULL;
  }
}

/* The new table is filled completely before it is published: a collector
 * that stops this thread half-way scans the old, complete one. */
static bool rehash(size_t cap) {
  table_t *t = meta_map(table_bytes(cap), "pacegc-epoll"), *old = kr.table;
  if (t == NULL) return false;
  t->cap = cap;
  for (size_t i = 0; i < cap; i++) t->slots[i].epfd = EMPTY;
  for (size_t i = 0; old && i < old->cap; i++)
    if (is_live(&old->slots[i])) *find(t, old->slots[i].epfd, old->slots[i].fd, true) = old->slots[i];
  atomic_store(&kr.table, t);
  kr.dead = 0;
  if (old) meta_unmap(old, table_bytes(old->cap));
  return true;
}

static void put(int epfd, int fd, uint64_t data) {
  table_t *t = kr.table;
  if ((!t || (kr.live + kr.dead + 1) * 4 >= t->cap * 3) && !rehash(t ? t->cap * 2 : 256))
    return;                      /* no memory: the pointer is not protected */
  reg_t *s = find(kr.table, epfd, fd, true);
  if (!is_live(s)) {
    if (s->epfd == DEAD) kr.dead--;
    kr.live++;
  }
  s->data = data;                /* data before key: a stopped scan sees one or the other */
  s->fd = fd;
  s->epfd = epfd;
  if (epfd >= 0 && epfd < EPFD_BITS) atomic_fetch_or(&kr.epfds[epfd / 64], (uint64_t)1 << (epfd % 64));
}

static bool is_live(const reg_t *s) { return s->epfd != EMPTY && s->epfd != DEAD; }

static void drop(reg_t *s) {
  s->epfd = DEAD;
  kr.live--;
  kr.dead++;
}

void kernroots_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev) {
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&kr.lock);
  if (op == EPOLL_CTL_DEL) {
    reg_t *s = kr.table ? find(kr.table, epfd, fd, false) : NULL;
    if (s) drop(s);
  } else if (ev != NULL) {
    put(epfd, fd, ev->data.u64);
  }
  atomic_store(&kr.nregs, kr.live);
  pthread_mutex_unlock(&kr.lock);
}

void kernroots_sigaltstack(const stack_t *ss) {
  int tid = os_gettid();
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&kr.lock);
  reg_t *s = kr.table ? find(kr.table, ALTSTACK, tid, false) : NULL;
  if (s) drop(s);
  if (!(ss->ss_flags & SS_DISABLE)) put(ALTSTACK, tid, (uint64_t)(uintptr_t)ss->ss_sp);
  atomic_store(&kr.nregs, kr.live);
  pthread_mutex_unlock(&kr.lock);
}

void kernroots_close(int fd) {
  if (atomic_load_explicit(&kr.nregs, memory_order_relaxed) == 0 || fd < 0 || fd >= EPFD_BITS)
    return;
  uint64_t bit = (uint64_t)1 << (fd % 64);
  if (!(atomic_load_explicit(&kr.epfds[fd / 64], memory_order_relaxed) & bit)) return;
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&kr.lock);
  atomic_fetch_and(&kr.epfds[fd / 64], ~bit);
  table_t *t = kr.table;
  for (size_t i = 0; t && i < t->cap; i++)
    if (t->slots[i].epfd == fd) drop(&t->slots[i]);
  atomic_store(&kr.nregs, kr.live);
  pthread_mutex_unlock(&kr.lock);
}

void kernroots_close_range(unsigned lo, unsigned hi) {
  if (atomic_load_explicit(&kr.nregs, memory_order_relaxed) == 0 || lo >= EPFD_BITS) return;
  if (hi >= EPFD_BITS) hi = EPFD_BITS - 1;
  for (unsigned fd = lo; fd <= hi; fd++)
    if (atomic_load_explicit(&kr.epfds[fd / 64], memory_order_relaxed) & ((uint64_t)1 << (fd % 64)))
      kernroots_close((int)fd);
}

/* ---- POSIX timers ---- */

/* The values read this cycle, in bookkeeping memory kept from cycle to
 * cycle and grown (then the file read again) when more timers exist
 * than fit. */
static struct {
  uintptr_t *values;
  size_t n, cap;
  bool overflow;
} tm;

/* "signal: 34/000055d0c1e2a2c0": the signal and the value, printed %px. */
static bool timer_line(void *arg, const char *line, size_t len) {
  (void)arg;
  static const char key[] = "signal: ";
  if (len < sizeof key || memcmp(line, key, sizeof key - 1) != 0) return true;
  const char *slash = memchr(line, '/', len);
  uintptr_t v;
  if (slash == NULL || parse_hex(line, len, (size_t)(slash - line) + 1, &v) == 0) return true;
  if (tm.n == tm.cap) {
    tm.overflow = true;
    return true;
  }
  tm.values[tm.n++] = v;
  return true;
}

/* A file that cannot be read whole may hide a value: then the cycle
 * reclaims nothing (roots_t.partial).  Without the file (a kernel built
 * without it) timers are not seen. */
static void timers_add_roots(roots_t *r) {
  int fd = os_proc_fd(OS_PROC_TIMERS);
  if (fd < 0) return;
  for (;;) {
    tm.n = 0;
    tm.overflow = false;
    if (!os_read_lines(fd, timer_line, NULL)) {
      r->partial = true;
      break;
    }
    if (!tm.overflow) break;
    if (!meta_reserve((void **)&tm.values, &tm.cap, tm.cap + 1, sizeof *tm.values,
                      "pacegc-timers")) {
      r->partial = true;
      break;
    }
  }
  if (tm.n) roots_add(r, (uintptr_t)tm.values, (uintptr_t)(tm.values + tm.n), ROOT_GLOBAL);
}

void kernroots_add_roots(roots_t *r) {
  table_t *t = atomic_load(&kr.table);
  if (t) roots_add(r, (uintptr_t)t, (uintptr_t)t + table_bytes(t->cap), ROOT_GLOBAL);
  timers_add_roots(r);
}

void kernroots_after_fork_child(void) { pthread_mutex_init(&kr.lock, NULL); }
