/* The heap's address range and jemalloc's extent hooks: see range.h. */
#include "range.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <jemalloc/jemalloc.h>

#include "heap.h"
#include "maps.h"
#include "meta.h"
#include "system.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define RANGE_RESERVE_MAX ((size_t)1 << 40)   /* 1 TiB of address space */
#define RANGE_ALIGN       ((size_t)2 << 20)   /* huge-page aligned */
#define RANGE_ARENAS_MAX  64
/* Past the limit's reach on either side, a little more room. */
#define RANGE_WINDOW_GUARD ((uint64_t)1 << 30)

int pacegc_je_mallctl(const char *name, void *old, size_t *oldlen, void *new_, size_t newlen);

/* The private jemalloc's options (its malloc_conf, renamed).
 * narenas:1 — one automatic arena is enough: it only serves jemalloc's
 * internals, since every thread is moved to pacegc's arenas before it
 * allocates.
 * lg_extent_max_active_fit:16 — a sweep frees in bulk, so whole runs of
 * slabs empty at once and coalesce into large dirty extents.  jemalloc's
 * default (6) refuses to cut a slab out of an extent more than 64 times
 * its size and maps fresh pages instead: a program leaking 1 GB with
 * 16 MB live grew to 330 MB resident that way, against 55 MB with 16. */
#define RANGE_JE_CONF "narenas:1,lg_extent_max_active_fit:16"
const char *pacegc_je_malloc_conf = RANGE_JE_CONF;

#define RANGE_HOLES 256

/* On demand, jemalloc gives back address space it no longer needs (its
 * dalloc hook), and pacegc unmaps it: under RLIMIT_AS the program's own
 * thread stacks and mmaps need it.  The holes that leaves in the handed
 * out part are reused first: the window is only as large as the limit.
 * Invariant: holes are sorted, disjoint, not adjacent, and unmapped; the
 * rest of [heap.start, heap.unused) is mapped. */
static struct {
  bool on_demand;              /* mapped as jemalloc asks, under RLIMIT_AS */
  pthread_mutex_t grow_lock;   /* on demand: guards unused and the holes */
  span_t holes[RANGE_HOLES];
  size_t nholes;
} range = { .grow_lock = PTHREAD_MUTEX_INITIALIZER };

/* Where the next extent goes in [cur, heap.end), or 0 if it does not fit:
 * at new_addr if jemalloc asks to grow in place there. */
static uintptr_t extent_place(uintptr_t cur, void *new_addr, size_t size, size_t alignment) {
  size_t align = alignment < PAGE_SIZE ? PAGE_SIZE : alignment;
  if (new_addr != NULL && (uintptr_t)new_addr != cur) return 0;
  uintptr_t at = new_addr != NULL ? cur : align_up(cur, align);
  return at + size > heap.end || at + size < at ? 0 : at;
}

/* Maps [lo, hi) exactly, or nothing. */
static bool map_exactly(uintptr_t lo, uintptr_t hi) {
  void *p = mmap((void *)lo, hi - lo, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (p == (void *)lo) return true;
  munmap(p, hi - lo);                 /* a kernel that took it as a hint */
  return false;
}

/* Takes [at, at + size) out of hole i. */
static void hole_take(size_t i, uintptr_t at, size_t size) {
  span_t h = range.holes[i];
  span_t parts[2] = { {h.lo, at}, {at + size, h.hi} };
  size_t k = 0;
  for (int j = 0; j < 2; j++)
    if (parts[j].hi > parts[j].lo) parts[k++] = parts[j];
  memmove(&range.holes[i + k], &range.holes[i + 1], (range.nholes - i - 1) * sizeof h);
  memcpy(&range.holes[i], parts, k * sizeof h);
  range.nholes += k - 1;
}

/* Gives [lo, hi) back to the holes, merged with its neighbours; false if
 * there is no room to remember it. */
static bool hole_put(uintptr_t lo, uintptr_t hi) {
  size_t i = 0;
  while (i < range.nholes && range.holes[i].hi < lo) i++;
  bool left = i < range.nholes && range.holes[i].hi == lo;
  bool right = i + left < range.nholes && range.holes[i + left].lo == hi;
  if (left && right) {
    range.holes[i].hi = range.holes[i + 1].hi;
    hole_take(i + 1, range.holes[i + 1].lo, range.holes[i + 1].hi - range.holes[i + 1].lo);
  } else if (left) {
    range.holes[i].hi = hi;
  } else if (right) {
    range.holes[i].lo = lo;
  } else {
    if (range.nholes == RANGE_HOLES) return false;
    memmove(&range.holes[i + 1], &range.holes[i], (range.nholes - i) * sizeof range.holes[0]);
    range.holes[i] = (span_t){lo, hi};
    range.nholes++;
  }
  return true;
}

/* On demand, first fit in the holes, else at the end: [unused, at + size)
 * is mapped, alignment gap included, so that the part handed out stays
 * mapped but for its holes.  A failed mapping changes nothing. */
static void *alloc_mapped(void *new_addr, size_t size, size_t alignment) {
  size_t align = alignment < PAGE_SIZE ? PAGE_SIZE : alignment;
  pthread_mutex_lock(&range.grow_lock);
  uintptr_t got = 0;
  for (size_t i = 0; i < range.nholes && got == 0; i++) {
    span_t h = range.holes[i];
    uintptr_t at = new_addr != NULL ? (uintptr_t)new_addr : align_up(h.lo, align);
    if (at >= h.lo && at + size <= h.hi && at + size > at && map_exactly(at, at + size)) {
      hole_take(i, at, size);
      got = at;
    }
  }
  uintptr_t cur = atomic_load(&heap.unused), at;
  if (got == 0 && (at = extent_place(cur, new_addr, size, alignment)) != 0 &&
      map_exactly(cur, at + size)) {
    atomic_store(&heap.unused, at + size);
    got = at;
  }
  pthread_mutex_unlock(&range.grow_lock);
  return (void *)got;
}

/* Reserved: claims [at, at + size) and makes it writable. */
static void *alloc_reserved(void *new_addr, size_t size, size_t alignment) {
  uintptr_t cur = atomic_load(&heap.unused), at;
  do {
    at = extent_place(cur, new_addr, size, alignment);
    if (at == 0) return NULL;
  } while (!atomic_compare_exchange_weak(&heap.unused, &cur, at + size));
  return mprotect((void *)at, size, PROT_READ | PROT_WRITE) == 0 ? (void *)at : NULL;
}

/* Hands jemalloc fresh, committed, zeroed pages from the range.  Addresses
 * are never handed out twice: jemalloc retains and reuses what it gets. */
static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
                        size_t alignment, bool *zero, bool *commit, unsigned arena) {
  (void)h; (void)arena;
  void *p = range.on_demand ? alloc_mapped(new_addr, size, alignment)
                            : alloc_reserved(new_addr, size, alignment);
  if (p == NULL) return NULL;
  *zero = true;
  *commit = true;
  return p;
}

/* Reserved: refusing dalloc makes jemalloc keep the range as retained
 * memory.  On demand the pages are unmapped and remembered as a hole. */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size,
                        bool committed, unsigned arena) {
  (void)h; (void)committed; (void)arena;
  if (!range.on_demand) return true;
  uintptr_t lo = (uintptr_t)addr;
  pthread_mutex_lock(&range.grow_lock);
  bool gone = hole_put(lo, lo + size);
  if (gone) munmap(addr, size);
  pthread_mutex_unlock(&range.grow_lock);
  return !gone;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size,
                         bool committed, unsigned arena) {
  (void)h; (void)committed; (void)arena;
  madvise(addr, size, MADV_DONTNEED);
}

/* MADV_DONTNEED, not MADV_FREE: resident memory must drop at once, because
 * the memory limit and every RSS measurement count it. */
static bool hook_purge_forced(extent_hooks_t *h, void *addr, size_t size,
                              size_t offset, size_t length, unsigned arena) {
  (void)h; (void)size; (void)arena;
  return madvise((char *)addr + offset, length, MADV_DONTNEED) != 0;
}

/* The range is one piece of address space, so any two neighbouring
 * extents may merge and any extent may split. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t a,
                       size_t b, bool committed, unsigned arena) {
  (void)h; (void)addr; (void)size; (void)a; (void)b; (void)committed; (void)arena;
  return false;
}

static bool hook_merge(extent_hooks_t *h, void *a, size_t asize, void *b,
                       size_t bsize, bool committed, unsigned arena) {
  (void)h; (void)a; (void)asize; (void)b; (void)bsize; (void)committed; (void)arena;
  return false;
}

/* commit/decommit and purge_lazy are left out: jemalloc then purges with
 * purge_forced and never decommits. */
static extent_hooks_t range_hooks = {
  .alloc = hook_alloc,
  .dalloc = hook_dalloc,
  .destroy = hook_destroy,
  .purge_forced = hook_purge_forced,
  .split = hook_split,
  .merge = hook_merge,
};

/* The object index over [start, start + size); false if its tables
 * cannot be mapped. */
static bool index_init(uintptr_t start, size_t size) {
  size_t sb = objindex_states_bytes(size), mb = objindex_marks_bytes(size);
  size_t pb = objindex_pages_bytes(size);
  void *states = meta_map(sb, "pacegc-index");
  void *marks = meta_map(mb, "pacegc-marks");
  void *pages = meta_map(pb, "pacegc-pages");
  if (!states || !marks || !pages) {
    if (states) meta_unmap(states, sb);
    if (marks) meta_unmap(marks, mb);
    if (pages) meta_unmap(pages, pb);
    return false;
  }
  heap.start = start;
  heap.end = start + size;
  heap.index_mapped = sb + mb + pb;
  atomic_store(&heap.unused, start);
  objindex_init(&heap.index, start, size, states, marks, pages);
  return true;
}

/* The soft RLIMIT_AS, 0 if there is none. */
static uint64_t as_limit(void) {
  struct rlimit rl;
  return getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 0;
}

/* Reserves the largest range up to 1 TiB that can be had (a quarter of
 * RLIMIT_AS if no window could be placed under it). */
static bool reserve_init(uint64_t limit) {
  size_t want = RANGE_RESERVE_MAX;
  if (limit != 0 && limit / 4 < want) want = align_down(limit / 4, RANGE_ALIGN);
  for (size_t size = want; size >= RANGE_ALIGN * 64; size /= 2) {
    void *p = mmap(NULL, size + RANGE_ALIGN, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) continue;
    uintptr_t start = align_up((uintptr_t)p, RANGE_ALIGN);
    if (start > (uintptr_t)p) munmap(p, start - (uintptr_t)p);
    munmap((void *)(start + size), (uintptr_t)p + RANGE_ALIGN - start);
    if (index_init(start, size)) return true;
    munmap((void *)start, size);
  }
  return false;
}


/* Under RLIMIT_AS: a window of the limit's size (no use in more), placed
 * by maps_pick_window from the mappings there are now, and nothing
 * mapped in it until jemalloc asks. */
static bool window_init(uint64_t limit) {
  size_t bytes = align_up(limit < RANGE_RESERVE_MAX ? limit : RANGE_RESERVE_MAX, RANGE_ALIGN);
  maps_t m = {0};
  bool read = maps_read(&m);
  /* Rewritten in place (a span fits in an entry), less [vsyscall] and the
   * like: the hole below [vsyscall] is not user space. */
  span_t *spans = (span_t *)m.e;
  size_t n = 0;
  for (size_t i = 0; read && i < m.n; i++)
    if (!m.e[i].special) spans[n++] = (span_t){m.e[i].lo, m.e[i].hi};
  uintptr_t base = read ? maps_pick_window(spans, n, bytes, limit + RANGE_WINDOW_GUARD, RANGE_ALIGN) : 0;
  if (m.e) meta_unmap(m.e, m.cap * sizeof *m.e);
  if (base == 0 || !index_init(base, bytes)) return false;
  range.on_demand = true;
  /* Before jemalloc reads its options (its first call is yet to come):
   * give address space back as soon as it is free, as glibc unmaps a
   * freed large chunk, rather than retain it or wait for decay. */
  pacegc_je_malloc_conf = RANGE_JE_CONF ",retain:false,dirty_decay_ms:0,muzzy_decay_ms:0";
  return true;
}

bool range_init(void) {
  uint64_t limit = as_limit();
  return (limit != 0 && window_init(limit)) || reserve_init(limit);
}

/* Arenas with pacegc's hooks, by index: its own and those the program
 * created through jemalloc's API. */
#define ARENA_BITS 4096
static _Atomic uint64_t arena_own[ARENA_BITS / 64];

int range_create_arena(void *index, size_t *len) {
  extent_hooks_t *hooks = &range_hooks;
  unsigned ind;
  size_t ilen = sizeof ind;
  int r = pacegc_je_mallctl("arenas.create", &ind, &ilen, &hooks, sizeof hooks);
  if (r != 0) return r;
  if (ind < ARENA_BITS) atomic_fetch_or(&arena_own[ind / 64], (uint64_t)1 << (ind % 64));
  if (index == NULL || len == NULL) return 0;
  if (*len != sizeof ind) return EINVAL;
  memcpy(index, &ind, sizeof ind);
  return 0;
}

bool range_reserved(void) { return !range.on_demand; }

bool range_arena_is_own(unsigned ind) {
  return ind < ARENA_BITS &&
         (atomic_load(&arena_own[ind / 64]) >> (ind % 64) & 1);
}


/* Four arenas per CPU; one under RLIMIT_AS, where address space one arena
 * retains after a free would be lost to the others. */
bool range_create_arenas(void) {
  int cpus = system_cpus();
  unsigned n = range.on_demand ? 1 : (unsigned)(cpus > 0 ? 4 * cpus : 4);
  if (n > RANGE_ARENAS_MAX) n = RANGE_ARENAS_MAX;
  for (unsigned i = 0; i < n; i++) {
    unsigned ind;
    size_t len = sizeof ind;
    if (range_create_arena(&ind, &len) != 0)
      return i > 0 && (heap.narenas = i, true);
    if (i == 0) heap.first_arena = ind;
    else if (ind != heap.first_arena + i) return heap.narenas = i, true;
  }
  heap.narenas = n;
  return true;
}
