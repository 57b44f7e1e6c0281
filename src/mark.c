/*
 * Marking: see mark.h.
 *
 * Several markers work at once: the collecting thread and up to
 * GOMAXPROCS-1 helpers (markers.c).  Root ranges are cut into chunks that
 * markers claim with an atomic cursor; each marker drains its own stack,
 * and hands half of it to a shared pool when another marker is idle.
 *
 * Invariant while marking: every marked allocation has been scanned, is on
 * some marker's stack or in the shared pool — except after an overflow,
 * when some marked allocations were dropped from a stack; the overflow
 * pass then rescans every marked allocation until a pass drops nothing.
 *
 * A concurrent mark (mark_ranges with concurrent set) runs beside the
 * program: memory outside the heap may be unmapped under it, so root
 * ranges are copied out with process_vm_readv, which fails where a page
 * is gone instead of faulting; the heap's used part stays mapped for the
 * process's life (range.h), so allocations are read in place, up to
 * heap.unused, since a size read from a page entry the program is
 * rewriting may be stale.
 */
#include "mark.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "heap.h"
#include "markers.h"
#include "meta.h"
#include "os.h"
#include "resident.h"

#define MARK_STACK_INITIAL ((size_t)1 << 14)   /* entries */
/* Allocations larger than this are scanned run by run of the pages that
 * may hold pointers (resident.h): a large calloc'd table is often
 * touched only in part, and reading the rest would fault it in.  Root
 * ranges are resident runs already. */
#define SPARSE_SCAN_MIN ((size_t)1 << 20)
/* Root ranges are handed out in chunks of at most this many bytes. */
#define ROOT_CHUNK ((size_t)256 << 10)
#define SHARE_MIN 64                           /* keep at least this many */
/* A concurrent marker asks markers_pace() whether to pause after this
 * many bytes scanned. */
#define MARK_PACE_BYTES ((size_t)256 << 10)

typedef struct mark_stack {
  uintptr_t *items;
  size_t n, cap;
  bool overflowed;
} mark_stack_t;

typedef struct marker {
  mark_stack_t stack;
  mark_stack_t unborn;           /* see consider_stack_word */
  mark_result_t result;
  uintptr_t *copy;               /* ROOT_CHUNK bytes: a root range copied out */
  size_t paced;                  /* bytes scanned since markers_pace() */
} marker_t;

/* Work shared by the markers of one cycle. */
static struct {
  const roots_t *roots;
  _Atomic size_t chunk;          /* next root chunk to claim */
  size_t nchunks;
  root_range_t *chunks;          /* the root ranges, cut to ROOT_CHUNK */
  pthread_mutex_t lock;          /* guards pool and idle */
  pthread_cond_t wake;
  mark_stack_t pool;
  int idle, nmarkers;
  _Atomic int want_work;         /* some marker is idle: share */
  bool concurrent;               /* the program runs: read roots by copy */
} work = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* Markers 0..MARKERS_MAX-1 are the collector's; then one per program
 * thread assisting at a time (mark_assist). */
#define ASSISTS_MAX 16
#define MARKER_SLOTS (MARKERS_MAX + ASSISTS_MAX)
static marker_t markers[MARKER_SLOTS];
static _Atomic bool assist_taken[ASSISTS_MAX];
/* Open from the first stop of a concurrent mark to its final stop; read
 * again under work.lock, which the final stop cannot find held. */
static _Atomic bool assists_open;

/* The part of the heap handed to jemalloc when marking began: a word
 * outside it cannot point to an allocation. */
static uintptr_t heap_lo;
static size_t heap_used;

static bool stack_grow(mark_stack_t *s, size_t need) {
  size_t cap = s->cap ? s->cap : MARK_STACK_INITIAL;
  while (cap < need) cap *= 2;
  uintptr_t *items = meta_grow(s->items, s->cap * sizeof *items, s->n * sizeof *items,
                               cap * sizeof *items, "pacegc-markstack");
  if (items == NULL) return false;
  s->items = items;
  s->cap = cap;
  return true;
}

static void push(mark_stack_t *s, uintptr_t start) {
  if (unlikely(s->n == s->cap) && !stack_grow(s, s->cap * 2 + 1)) {
    s->overflowed = true;        /* stays marked; the overflow pass scans it */
    return;
  }
  s->items[s->n++] = start;
}

/* Marks the allocation [start, start + size) and queues it, if unmarked. */
static inline void mark_push(marker_t *m, uintptr_t start, size_t size) {
  if (!objindex_mark(&heap.index, start)) return;
  m->result.marked_bytes += size;
  m->result.marked_objects++;
  push(&m->stack, start);
}

/* Marks the allocation containing w, if any, and queues it. */
static inline void consider(marker_t *m, uintptr_t w) {
  uintptr_t start;
  size_t size;
  if (objindex_find(&heap.index, w, &start, &size)) mark_push(m, start, size);
}

/*
 * A word of a stack (or of saved registers) at the start of a granule no
 * allocation holds may be the allocation a parked thread is publishing:
 * heap_publish (heap.h) reads allocate-black before it sets START, so a
 * thread parked between the two sets START after marking, unmarked, and
 * the sweep would take an allocation the thread is about to return.  Such
 * words are kept, and marked once marking is done (mark_unborn): marking
 * by address, not tracing, since nothing has been written in them yet.
 * A stale word costs one granule's mark bit, cleared by the next cycle.
 */
static void consider_stack_word(marker_t *m, uintptr_t w) {
  uintptr_t start;
  size_t size;
  if (objindex_find(&heap.index, w, &start, &size)) {
    mark_push(m, start, size);
    return;
  }
  if ((w & (GRANULE - 1)) != 0) return;
  if (unlikely(m->unborn.n == m->unborn.cap) && !stack_grow(&m->unborn, m->unborn.cap * 2 + 1)) {
    m->result.unborn_lost = true;
    return;
  }
  m->unborn.items[m->unborn.n++] = w;
}

/* The scan loop: one subtraction and compare rejects every word that
 * cannot point into the heap.  `stack` is a constant where it is inlined. */
ALWAYS_INLINE void scan_words(marker_t *m, uintptr_t lo, uintptr_t hi, bool stack) {
  uintptr_t base = heap_lo;
  size_t size = heap_used;
  for (const uintptr_t *p = (const uintptr_t *)lo; p < (const uintptr_t *)hi; p++) {
    uintptr_t w = *p;
    if (likely(w - base >= size)) continue;
    if (stack) consider_stack_word(m, w);
    else consider(m, w);
  }
}

static void scan_dense(marker_t *m, uintptr_t lo, uintptr_t hi) { scan_words(m, lo, hi, false); }

typedef struct sparse { marker_t *m; uintptr_t lo, hi; } sparse_t;

static bool scan_run(void *arg, uintptr_t lo, uintptr_t hi) {
  sparse_t *s = arg;
  scan_dense(s->m, lo < s->lo ? s->lo : lo, hi > s->hi ? s->hi : hi);
  return true;
}

static void scan_range(marker_t *m, uintptr_t lo, uintptr_t hi) {
  lo = align_up(lo, sizeof(uintptr_t));
  hi = align_down(hi, sizeof(uintptr_t));
  if (hi <= lo) return;
  if (hi - lo < SPARSE_SCAN_MIN) {
    scan_dense(m, lo, hi);
    return;
  }
  sparse_t s = { m, lo, hi };
  resident_runs(lo, hi, BACKING_ANON, scan_run, &s);
}

/* Gives half of a long stack to the pool when some marker is idle. */
static void maybe_share(marker_t *m) {
  if (!atomic_load_explicit(&work.want_work, memory_order_relaxed) || m->stack.n < 2 * SHARE_MIN)
    return;
  size_t give = m->stack.n / 2;
  pthread_mutex_lock(&work.lock);
  if (work.pool.n + give <= work.pool.cap || stack_grow(&work.pool, work.pool.n + give)) {
    memcpy(work.pool.items + work.pool.n, m->stack.items + m->stack.n - give, give * sizeof(uintptr_t));
    work.pool.n += give;
    m->stack.n -= give;
    pthread_cond_broadcast(&work.wake);
  }
  pthread_mutex_unlock(&work.lock);
}

/* Scanning an object is mostly waiting for its cache lines, so objects
 * pass through a small FIFO on their way from the stack to the scan loop:
 * each is prefetched when it enters and scanned PREFETCH_DEPTH pops later
 * (buffered prefetch, Cher, Hosking and Vijaykumar, ASPLOS 2004). */
#define PREFETCH_DEPTH 8

static void drain(marker_t *m) {
  uintptr_t fifo[PREFETCH_DEPTH];
  unsigned head = 0, count = 0, since_share = 0;
  for (;;) {
    while (count < PREFETCH_DEPTH && m->stack.n > 0) {
      uintptr_t start = m->stack.items[--m->stack.n];
      __builtin_prefetch((const void *)start);
      fifo[(head + count++) % PREFETCH_DEPTH] = start;
    }
    if (count == 0) return;
    uintptr_t start = fifo[head];
    head = (head + 1) % PREFETCH_DEPTH;
    count--;
    size_t size = objindex_size(&heap.index, start);
    uintptr_t end = start + size, used = atomic_load_explicit(&heap.unused, memory_order_relaxed);
    m->result.heap_scan_bytes += size;
    scan_range(m, start, end < used ? end : used);
    if (++since_share == 64) {
      since_share = 0;
      maybe_share(m);
    }
    if (work.concurrent && (m->paced += size) >= MARK_PACE_BYTES) {
      m->paced = 0;
      markers_pace((int)(m - markers));
    }
  }
}

/* [lo, hi) of memory the program may unmap meanwhile, through a copy:
 * a page that cannot be read is skipped, as it no longer holds roots. */
static void scan_copied(marker_t *m, uintptr_t lo, uintptr_t hi) {
  if (m->copy == NULL &&
      (m->copy = meta_map(ROOT_CHUNK, "pacegc-mark-copy")) == NULL) {
    m->result.unreadable = true;
    return;
  }
  pid_t self = os_getpid();
  while (lo < hi) {
    size_t want = hi - lo < ROOT_CHUNK ? hi - lo : ROOT_CHUNK;
    struct iovec local = { m->copy, want }, remote = { (void *)lo, want };
    long got = os_syscall6(SYS_process_vm_readv, self, (long)&local, 1, (long)&remote, 1, 0);
    if (got < 0 && got != -EFAULT) {
      m->result.unreadable = true;   /* refused (seccomp): not read at all */
      return;
    }
    if (got > 0) scan_dense(m, (uintptr_t)m->copy, (uintptr_t)m->copy + ((size_t)got & ~7ul));
    lo = got > 0 ? lo + (size_t)got : align_down(lo, PAGE_SIZE) + PAGE_SIZE;
  }
}

/*
 * A run of heap pages written since the marked allocations in it were
 * scanned: each marked allocation that overlaps the run is read again,
 * its part in the run (a write outside the run would have put the page in
 * it).  Unmarked allocations are not: if they are marked later they are
 * read whole then, after the write.
 */
static void scan_heap_run(marker_t *m, uintptr_t lo, uintptr_t hi) {
  uintptr_t start;
  size_t size;
  if (objindex_find(&heap.index, lo, &start, &size) && start < lo &&
      objindex_is_marked(&heap.index, start))
    scan_dense(m, lo, start + size < hi ? align_down(start + size, sizeof(uintptr_t)) : hi);
  size_t g = objindex_granule(&heap.index, lo), end = objindex_granule(&heap.index, hi);
  while (g < end) {
    uint64_t starts = atomic_load_explicit(objindex_state_word(&heap.index, g),
                                           memory_order_acquire) & OBJINDEX_STARTS_MASK;
    starts &= ~(uint64_t)0 << (2 * (g & 31));       /* from g on */
    size_t next = (g | 31) + 1;
    if (next > end) {
      starts &= ((uint64_t)1 << (2 * (end & 31))) - 1;   /* before end */
      next = end;
    }
    while (starts) {
      size_t s = (g & ~(size_t)31) + (size_t)__builtin_ctzll(starts) / 2;
      starts &= starts - 1;
      uintptr_t a = heap.index.base + (s << GRANULE_SHIFT);
      if (!objindex_is_marked(&heap.index, a)) continue;
      uintptr_t e = a + objindex_size(&heap.index, a);
      scan_range(m, a, e < hi ? e : hi);
    }
    g = next;
  }
}

/* A root range (a stack's are resident runs already), or a written heap
 * run.  Stacks are read for allocations being published (mark_unborn)
 * only with the world stopped: a concurrent mark's stacks are read again
 * at the final stop. */
static void scan_root(marker_t *m, const root_range_t *r) {
  m->result.root_scan_bytes += r->hi - r->lo;
  if (r->kind == ROOT_HEAP)
    scan_heap_run(m, r->lo, r->hi);
  else if (work.concurrent)
    scan_copied(m, align_up(r->lo, sizeof(uintptr_t)), align_down(r->hi, sizeof(uintptr_t)));
  else if (r->kind == ROOT_STACK)
    scan_words(m, align_up(r->lo, sizeof(uintptr_t)), align_down(r->hi, sizeof(uintptr_t)), true);
  else scan_range(m, r->lo, r->hi);
  drain(m);
}

/* Claims root chunks until none is left. */
static void scan_roots(marker_t *m) {
  for (size_t i; (i = atomic_fetch_add(&work.chunk, 1)) < work.nchunks;)
    scan_root(m, &work.chunks[i]);
}

/* Takes work from the pool; false when every marker is idle and the pool
 * is empty: marking is done. */
static bool refill(marker_t *m) {
  pthread_mutex_lock(&work.lock);
  work.idle++;
  atomic_store(&work.want_work, 1);
  while (work.pool.n == 0 && work.idle < work.nmarkers)
    pthread_cond_wait(&work.wake, &work.lock);
  if (work.pool.n == 0) {
    pthread_cond_broadcast(&work.wake);
    pthread_mutex_unlock(&work.lock);
    return false;
  }
  work.idle--;
  if (work.idle == 0) atomic_store(&work.want_work, 0);
  size_t take = work.pool.n < SHARE_MIN ? work.pool.n : work.pool.n / (size_t)work.nmarkers + 1;
  if (take > work.pool.n) take = work.pool.n;   /* one marker: all of it */
  if (m->stack.cap < m->stack.n + take) stack_grow(&m->stack, m->stack.n + take);
  size_t room = m->stack.cap - m->stack.n;
  if (take > room) take = room;
  memcpy(m->stack.items + m->stack.n, work.pool.items + work.pool.n - take, take * sizeof(uintptr_t));
  m->stack.n += take;
  work.pool.n -= take;
  pthread_mutex_unlock(&work.lock);
  return true;
}

void mark_work(int id) {
  marker_t *m = &markers[id];
  scan_roots(m);
  do drain(m);
  while (refill(m));
}

/* After an overflow: scan every marked allocation again, until a whole
 * pass overflows no more.  Single-threaded: overflow means memory is gone. */
static void rescan_marked(marker_t *m) {
  uintptr_t used = atomic_load(&heap.unused);
  size_t words = objindex_granule(&heap.index, align_up(used, 64 * GRANULE)) / 64;
  for (size_t w = 0; w < words; w++) {
    uint64_t bits = atomic_load_explicit(&heap.index.marks[w], memory_order_relaxed);
    while (bits) {
      size_t g = w * 64 + (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      uintptr_t start = heap.index.base + (g << GRANULE_SHIFT);
      scan_range(m, start, start + objindex_size(&heap.index, start));
      drain(m);
    }
  }
}

void mark_clear(void) {
  uintptr_t used = atomic_load(&heap.unused);
  size_t bytes = objindex_marks_bytes(align_up(used - heap.index.base, 64 * GRANULE));
  memset((void *)heap.index.marks, 0, bytes);
}

/* Cuts the root ranges into chunks, in meta memory. */
static bool plan_chunks(const roots_t *roots) {
  static root_range_t *table;
  static size_t table_cap;
  size_t n = 0;
  for (size_t i = 0; i < roots->n; i++)
    n += (roots->ranges[i].hi - roots->ranges[i].lo + ROOT_CHUNK - 1) / ROOT_CHUNK;
  if (n > table_cap) {
    size_t cap = n * 2;
    root_range_t *t = meta_grow(table, table_cap * sizeof *t, 0, cap * sizeof *t, "pacegc-chunks");
    if (t == NULL) return false;
    table = t;
    table_cap = cap;
  }
  size_t c = 0;
  for (size_t i = 0; i < roots->n; i++) {
    const root_range_t *r = &roots->ranges[i];
    for (uintptr_t lo = r->lo; lo < r->hi; lo += ROOT_CHUNK)
      table[c++] = (root_range_t){lo, r->hi - lo > ROOT_CHUNK ? lo + ROOT_CHUNK : r->hi, r->kind};
  }
  work.chunks = table;
  work.nchunks = c;
  return true;
}

static void sum_into(mark_result_t *out, const mark_result_t *r) {
  out->marked_bytes += r->marked_bytes;
  out->marked_objects += r->marked_objects;
  out->heap_scan_bytes += r->heap_scan_bytes;
  out->root_scan_bytes += r->root_scan_bytes;
  out->overflowed |= r->overflowed;
  out->unborn_lost |= r->unborn_lost;
  out->unreadable |= r->unreadable;
}

/* After marking (consider_stack_word): no overflow pass may scan these,
 * which are no allocations yet. */
static void mark_unborn(marker_t *m) {
  for (size_t i = 0; i < m->unborn.n; i++) objindex_mark(&heap.index, m->unborn.items[i]);
  m->unborn.n = 0;
}

void mark_begin(void) {
  heap_lo = heap.start;
  heap_used = atomic_load(&heap.unused) - heap.start;
  for (int i = 0; i < MARKER_SLOTS; i++) {
    memset(&markers[i].result, 0, sizeof markers[i].result);
    markers[i].stack.overflowed = false;
    markers[i].unborn.n = 0;
  }
  work.pool.n = 0;
}

void mark_ranges(const roots_t *ranges, int nmarkers, bool concurrent) {
  if (!plan_chunks(ranges)) nmarkers = 0;
  work.concurrent = concurrent;
  work.roots = ranges;
  atomic_store(&work.chunk, 0);
  work.idle = 0;
  work.nmarkers = nmarkers < 1 ? 1 : nmarkers;
  atomic_store(&work.want_work, 0);
  if (nmarkers < 1) {
    /* No chunk table: one marker, range by range. */
    for (size_t i = 0; i < ranges->n; i++) scan_root(&markers[0], &ranges->ranges[i]);
  } else {
    markers_run(work.nmarkers);    /* helpers 1..n-1 call mark_work(id) */
  }
  work.concurrent = false;
}

void mark_end(mark_result_t *out) {
  memset(out, 0, sizeof *out);
  bool overflowed = false;
  for (int i = 0; i < MARKER_SLOTS; i++) {
    overflowed |= markers[i].stack.overflowed;
    markers[i].stack.overflowed = false;
  }
  while (overflowed) {
    markers[0].result.overflowed = true;
    rescan_marked(&markers[0]);
    overflowed = markers[0].stack.overflowed;
    markers[0].stack.overflowed = false;
  }
  for (int i = 0; i < MARKER_SLOTS; i++) {
    mark_unborn(&markers[i]);
    sum_into(out, &markers[i].result);
  }
}

size_t mark_scan_progress(void) {
  size_t n = 0;
  for (int i = 0; i < MARKER_SLOTS; i++)
    n += markers[i].result.heap_scan_bytes + markers[i].result.root_scan_bytes;
  return n;
}

void mark_assists(bool open) {
  pthread_mutex_lock(&work.lock);
  atomic_store(&assists_open, open);
  pthread_mutex_unlock(&work.lock);
}

/* Moves up to `n` entries from the top of one stack to another. */
static size_t move_top(mark_stack_t *to, mark_stack_t *from, size_t n) {
  if (n > from->n) n = from->n;
  if (to->n + n > to->cap && !stack_grow(to, to->n + n)) n = to->cap - to->n;
  if (n == 0) return 0;                  /* items may be NULL: no memcpy */
  memcpy(to->items + to->n, from->items + from->n - n, n * sizeof(uintptr_t));
  to->n += n;
  from->n -= n;
  return n;
}

/* An assist's share of the pool: enough to start on, not so much that
 * the markers starve. */
#define ASSIST_TAKE 64

size_t mark_assist(size_t budget) {
  if (!atomic_load_explicit(&assists_open, memory_order_relaxed)) return 0;
  int slot = -1;
  for (int i = 0; i < ASSISTS_MAX && slot < 0; i++)
    if (!atomic_load_explicit(&assist_taken[i], memory_order_relaxed) &&
        !atomic_exchange(&assist_taken[i], true))
      slot = i;
  if (slot < 0) return 0;
  marker_t *m = &markers[MARKERS_MAX + slot];
  size_t done = 0;
  pthread_mutex_lock(&work.lock);
  if (atomic_load(&assists_open)) {
    move_top(&m->stack, &work.pool, ASSIST_TAKE);
    if (m->stack.n == 0) atomic_store(&work.want_work, 1);   /* markers: share */
  }
  pthread_mutex_unlock(&work.lock);
  while (m->stack.n > 0 && done < budget) {
    uintptr_t start = m->stack.items[--m->stack.n];
    size_t size = objindex_size(&heap.index, start);
    uintptr_t end = start + size, used = atomic_load_explicit(&heap.unused, memory_order_relaxed);
    m->result.heap_scan_bytes += size;
    scan_range(m, start, end < used ? end : used);
    done += size;
  }
  if (m->stack.n > 0) {
    pthread_mutex_lock(&work.lock);
    while (m->stack.n > 0 && move_top(&work.pool, &m->stack, m->stack.n) > 0) {}
    pthread_cond_broadcast(&work.wake);
    pthread_mutex_unlock(&work.lock);
    if (m->stack.n > 0) m->stack.overflowed = true;   /* no memory: the overflow pass */
    m->stack.n = 0;
  }
  atomic_store(&assist_taken[slot], false);
  return done;
}

void mark_from_roots(const roots_t *roots, int nmarkers, mark_result_t *out) {
  mark_begin();
  mark_ranges(roots, nmarkers, false);
  mark_end(out);
}
