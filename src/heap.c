/*
 * The heap: one reserved address range, handed to pacegc's private jemalloc
 * through extent hooks, so every user allocation lies in [start, end) and
 * "could this word point into the heap" is a subtraction and a compare.
 *
 * Each thread is bound (thread.arena) to one of pacegc's arenas before its
 * first allocation, so jemalloc's own fast paths (malloc, sdallocx) serve
 * it.  The arenas' own metadata also comes through the hooks, so it lies
 * in the range too, but the object index never lists it, so it is neither
 * a root nor an object.
 */
#include "heap.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <jemalloc/jemalloc.h>

#include "libcmalloc.h"
#include "meta.h"
#include "provenance.h"
#include "range.h"
#include "report.h"
#include "system.h"
#include "threads.h"

heap_t heap;
__thread unsigned char heap_thread_ready;
__thread unsigned char heap_thread_starting;
__thread int64_t heap_net_bytes;
free_mode_t heap_free_mode = FREE_HONOR;

/* The private jemalloc's renamed entry points. */
void *pacegc_je_mallocx(size_t size, int flags);
size_t pacegc_je_xallocx(void *p, size_t size, size_t extra, int flags);
size_t pacegc_je_sallocx(const void *p, int flags);
size_t pacegc_je_nallocx(size_t size, int flags);
int pacegc_je_mallctl(const char *name, void *old, size_t *oldlen, void *new_, size_t newlen);


/* glibc's allocator, used only if pacegc cannot set up its heap at all. */
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);


enum { HEAP_NONE, HEAP_INITIALIZING, HEAP_READY, HEAP_FAILED };
static _Atomic int heap_state;
static __thread unsigned char heap_initializing;
static _Atomic unsigned heap_next_arena;

static void heap_fill_class_table(void) {
  for (size_t i = 0; i <= HEAP_CLASS_TABLE_MAX >> GRANULE_SHIFT; i++) {
    size_t n = i == 0 ? GRANULE : i << GRANULE_SHIFT;
    heap.class_granules[i] = (uint16_t)(pacegc_je_nallocx(n, 0) >> GRANULE_SHIFT);
  }
}

void heap_configure(const pacegc_config_t *c) { heap_free_mode = c->free_mode; }

void heap_disable_collection(void) { heap_free_mode = FREE_HONOR; }

static bool heap_init(void) {
  libcmalloc_init();
  if (!range_init()) {
    report("cannot reserve an address range for the heap (%s); using glibc malloc",
           strerror(errno));
    return false;
  }
  if (!range_create_arenas()) {
    report("cannot create jemalloc arenas; using glibc malloc");
    return false;
  }
  heap_fill_class_table();
  return true;
}

void heap_ensure_init(void) {
  if (likely(atomic_load_explicit(&heap_state, memory_order_acquire) >= HEAP_READY) ||
      heap_initializing)
    return;
  int expected = HEAP_NONE;
  if (atomic_compare_exchange_strong(&heap_state, &expected, HEAP_INITIALIZING)) {
    heap_initializing = 1;
    bool ok = heap_init();
    heap_initializing = 0;
    atomic_store_explicit(&heap_state, ok ? HEAP_READY : HEAP_FAILED, memory_order_release);
    return;
  }
  while (atomic_load_explicit(&heap_state, memory_order_acquire) == HEAP_INITIALIZING)
    sched_yield();
}

/* ---- allocations made while the heap itself is being set up ---- */

/* jemalloc's initialisation can call back into malloc on the initialising
 * thread.  Those few requests come from here and are never reused. */
#define BOOT_SIZE ((size_t)256 << 10)
static _Alignas(64) unsigned char boot_area[BOOT_SIZE];
static _Atomic size_t boot_used;

typedef struct boot_header { size_t size, pad; } boot_header_t;

static bool boot_contains(const void *p) {
  return (const unsigned char *)p >= boot_area && (const unsigned char *)p < boot_area + BOOT_SIZE;
}

static void *boot_alloc(size_t n, size_t alignment) {
  if (alignment < GRANULE) alignment = GRANULE;
  size_t cur = atomic_load(&boot_used), at, next;
  do {
    at = align_up((uintptr_t)boot_area + cur + sizeof(boot_header_t), alignment) - (uintptr_t)boot_area;
    next = at + align_up(n, GRANULE);
    if (next > BOOT_SIZE || next < at) { errno = ENOMEM; return NULL; }
  } while (!atomic_compare_exchange_weak(&boot_used, &cur, next));
  ((boot_header_t *)(boot_area + at))[-1].size = n;
  return boot_area + at;
}

static size_t boot_size(const void *p) { return ((const boot_header_t *)p)[-1].size; }

/* ---- slow paths ---- */

/* Binds this thread to one of pacegc's arenas, round robin, so that
 * jemalloc's thread cache and fast paths serve it from the range. */
static void heap_bind_thread(void) {
  unsigned a = heap.first_arena + atomic_fetch_add(&heap_next_arena, 1) % heap.narenas;
  if (pacegc_je_mallctl("thread.arena", NULL, NULL, &a, sizeof a) == 0)
    heap_thread_ready = 1;
}

_Static_assert(HEAP_TCACHE_NONE == MALLOCX_TCACHE_NONE, "heap.h's copy of jemalloc's flag");

/* Flags for jemalloc calls outside the fast path: the arena explicitly if
 * the thread could not be bound. */
static int heap_flags(void) {
  return heap_thread_ready ? 0 : MALLOCX_ARENA(heap.first_arena) | MALLOCX_TCACHE_NONE;
}

typedef enum { PREP_HEAP, PREP_BOOT, PREP_LIBC } prep_t;

/* Where this call must be served from. */
static prep_t heap_prepare(void) {
  heap_ensure_init();
  int s = atomic_load_explicit(&heap_state, memory_order_acquire);
  if (s == HEAP_FAILED) return PREP_LIBC;
  if (s != HEAP_READY) return PREP_BOOT;
  if (!heap_thread_ready && !heap_thread_starting) heap_bind_thread();
  return PREP_HEAP;
}

/* Records a fresh allocation from the slow paths; jemalloc's mallocx and
 * rallocx, unlike its malloc, leave errno alone on failure. */
static void *heap_index_new(void *p) {
  if (unlikely(p == NULL)) {
    errno = ENOMEM;
    return NULL;
  }
  heap_publish(p, pacegc_je_sallocx(p, 0));
  return p;
}

/* Marks a fresh allocation while a sweep runs; with dangling=1 also
 * records where it was allocated (heap_allocate_black then stays set). */
void heap_publish_slow(void *p) {
  if (provenance_enabled) provenance_alloc((uintptr_t)p);
  objindex_mark(&heap.index, (uintptr_t)p);
}

_Atomic int heap_allocate_black;
int64_t heap_budget = HEAP_BUDGET_DEFAULT;
static _Atomic(heap_budget_fn) heap_on_budget;
static _Atomic int64_t heap_unreported;   /* net bytes flushed before a function was set */

void heap_set_budget(int64_t budget, heap_budget_fn fn) {
  heap_budget = budget;
  atomic_store(&heap_on_budget, fn);
  fn(atomic_exchange(&heap_unreported, 0), 0);
}

void heap_flush_net(void) {
  int64_t net = heap_net_bytes;
  heap_net_bytes = 0;
  if (atomic_load_explicit(&heap_state, memory_order_relaxed) != HEAP_READY) return;
  heap_budget_fn fn = atomic_load_explicit(&heap_on_budget, memory_order_acquire);
  if (fn) fn(net, net > 0 && heap_budget == 0 ? 1 : 0);
  else atomic_fetch_add(&heap_unreported, net);
}

/* free() when the program's frees are deferred or ignored.  A deferred
 * free flags the allocation, which stays allocated and unchanged until a
 * cycle finds nothing pointing to it; a second free of it is reported. */
void heap_free_unhonored(void *p, const char *caller) {
  uintptr_t a = (uintptr_t)p;
  if (heap_free_mode == FREE_DEFER) {
    if (!objindex_set_flag(&heap.index, a)) heap_free_invalid(p, caller);
    else if (provenance_enabled) provenance_free(a);
    return;
  }
  if (!objindex_is_start(&heap.index, a)) heap_free_invalid(p, caller);
}

void *heap_malloc_slow(size_t n) {
  switch (heap_prepare()) {
  case PREP_LIBC: return __libc_malloc(n);
  case PREP_BOOT: return boot_alloc(n, GRANULE);
  case PREP_HEAP: break;
  }
  if (heap_thread_ready) return heap_malloc(n);
  return heap_index_new(pacegc_je_mallocx(n < GRANULE ? GRANULE : n, heap_flags()));
}

void *heap_malloc_large(size_t n) {
  return heap_index_new(pacegc_je_mallocx(n, 0));
}

void *heap_calloc(size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  switch (heap_prepare()) {
  case PREP_LIBC: return __libc_calloc(nmemb, size);
  case PREP_BOOT: return boot_alloc(n, GRANULE);   /* static memory: zero */
  case PREP_HEAP: break;
  }
  return heap_index_new(pacegc_je_mallocx(n < GRANULE ? GRANULE : n,
                                          MALLOCX_ZERO | heap_flags()));
}

/* alignment: a power of two. */
static void *heap_aligned(size_t alignment, size_t n) {
  if (alignment <= GRANULE) return heap_malloc(n);
  switch (heap_prepare()) {
  case PREP_LIBC: return __libc_memalign(alignment, n);
  case PREP_BOOT: return boot_alloc(n, alignment);
  case PREP_HEAP: break;
  }
  int lg = __builtin_ctzl(alignment);
  return heap_index_new(pacegc_je_mallocx(n < GRANULE ? GRANULE : n,
                                          MALLOCX_LG_ALIGN(lg) | heap_flags()));
}

void *heap_mallocx(size_t n, int flags) {
  unsigned arena = (unsigned)(flags >> 20) - 1;   /* MALLOCX_ARENA's encoding */
  if ((flags >> 20) != 0 && !range_arena_is_own(arena)) flags &= (1 << 20) - 1;
  switch (heap_prepare()) {
  case PREP_LIBC: return __libc_malloc(n);
  case PREP_BOOT: return boot_alloc(n, GRANULE);
  case PREP_HEAP: break;
  }
  if (!heap_thread_ready && (flags >> 20) == 0) flags |= heap_flags();
  return heap_index_new(pacegc_je_mallocx(n < GRANULE ? GRANULE : n, flags));
}

void *heap_memalign(size_t alignment, size_t n) {
  if (alignment > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!is_pow2(alignment)) {
    size_t a = 2 * GRANULE;
    while (a < alignment) a <<= 1;
    alignment = a;
  }
  return heap_aligned(alignment, n);
}

int heap_posix_memalign(void **out, size_t alignment, size_t n) {
  if (alignment % sizeof(void *) != 0 || !is_pow2(alignment / sizeof(void *)))
    return EINVAL;
  void *p = heap_aligned(alignment, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void *heap_pvalloc(size_t n) {
  size_t rounded;
  if (__builtin_add_overflow(n, PAGE_SIZE - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded = align_down(rounded, PAGE_SIZE);
  return heap_aligned(PAGE_SIZE, rounded ? rounded : PAGE_SIZE);
}

void *heap_reallocarray(void *p, size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  return heap_realloc(p, n);
}

/* realloc of memory the heap does not own: boot memory is copied out,
 * glibc's goes to glibc; anything else is reported and left alone. */
static void *heap_realloc_foreign(void *p, size_t n) {
  if (atomic_load(&heap_state) == HEAP_FAILED && !boot_contains(p))
    return __libc_realloc(p, n);
  if (boot_contains(p)) {
    void *q = heap_malloc(n);
    if (q) memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
    return q;
  }
  if (!objindex_covers(&heap.index, (uintptr_t)p) && libcmalloc_owns(p))
    return __libc_realloc(p, n);
  heap_free_invalid(p, "realloc");
  errno = ENOMEM;
  return NULL;
}

/* realloc by moving: a new allocation, a copy, a free.  The old one stays
 * indexed and reachable from the caller until the copy is done, so a cycle
 * that runs at any point sees every pointer in one or the other; with
 * deferred frees, a stale pointer still finds the old contents. */
static void *heap_realloc_move(void *p, size_t old, size_t n) {
  void *q = heap_malloc(n);
  if (q == NULL) return NULL;
  memcpy(q, p, old < n ? old : n);
  heap_free(p, "realloc");
  return q;
}

/* Resizes the large allocation at p (old usable bytes) in place, as
 * jemalloc's xallocx does: to at least n and at most n + extra bytes if it
 * can.  Returns the usable size after.  Growing, the index learns the new
 * size after jemalloc has it: a mark in between scans only the old part,
 * and the new part holds nothing yet.  Shrinking, the index forgets the
 * tail before jemalloc can hand it to someone else; if jemalloc then keeps
 * another size, the index is put right. */
static size_t heap_resize_large(void *p, size_t old, size_t n, size_t extra) {
  size_t want = pacegc_je_nallocx(n, 0);
  bool shrink = want < old;
  if (shrink) objindex_resize_large(&heap.index, (uintptr_t)p, old, want);
  size_t usable = pacegc_je_xallocx(p, n, extra, heap_flags());
  if (usable != (shrink ? want : old))
    objindex_resize_large(&heap.index, (uintptr_t)p, shrink ? want : old, usable);
  heap_account((int64_t)usable - (int64_t)old);
  return usable;
}

size_t heap_resize_in_place(void *p, size_t n, size_t extra) {
  uintptr_t a = (uintptr_t)p;
  if (!objindex_is_start(&heap.index, a)) {
    heap_free_invalid(p, "xallocx");
    return 0;
  }
  size_t old = objindex_size(&heap.index, a);
  if (old <= OBJINDEX_SMALL_MAX || n == 0 || heap_prepare() != PREP_HEAP) return old;
  return heap_resize_large(p, old, n, extra);
}

/* realloc in place, where a moved copy is not needed: a large allocation
 * growing, or shrinking to another large size (as jemalloc's realloc
 * does: a buffer shrunk to fit and grown again is copied twice
 * otherwise), whose frees are honoured (deferred or ignored frees keep the
 * old contents where a stale pointer finds them, so those move). */
static bool heap_realloc_in_place(void *p, size_t old, size_t n) {
  if (old <= OBJINDEX_SMALL_MAX || n <= OBJINDEX_SMALL_MAX || heap_free_mode != FREE_HONOR)
    return false;
  return heap_resize_large(p, old, n, 0) >= n;
}

/* No jemalloc call here may happen in a no-park section: a thread already
 * parked can hold the arena lock it needs, and the world would never
 * stop. */
void *heap_realloc(void *p, size_t n) {
  if (p == NULL) return heap_malloc(n);
  if (n == 0) {                          /* glibc: frees and returns NULL */
    heap_free(p, "realloc");
    return NULL;
  }
  uintptr_t a = (uintptr_t)p;
  if (unlikely(!objindex_is_start(&heap.index, a))) return heap_realloc_foreign(p, n);
  if (unlikely(heap_free_mode == FREE_DEFER && objindex_has_flag(&heap.index, a))) {
    heap_free_invalid(p, "realloc");     /* freed already, only quarantined */
    errno = ENOMEM;
    return NULL;
  }
  size_t old = objindex_size(&heap.index, a);
  if (n <= HEAP_CLASS_TABLE_MAX &&
      old == (size_t)heap.class_granules[(n + GRANULE - 1) >> GRANULE_SHIFT] << GRANULE_SHIFT)
    return p;                            /* same size class: nothing to do */
  if (heap_prepare() != PREP_HEAP) return heap_realloc_foreign(p, n);
  /* Past the class table: the same size class, small or large, stays. */
  if (n > HEAP_CLASS_TABLE_MAX && n <= old && pacegc_je_nallocx(n, 0) == old) return p;
  if (heap_realloc_in_place(p, old, n)) return p;
  return heap_realloc_move(p, old, n);
}

size_t heap_usable_size(const void *p) {
  if (p == NULL) return 0;
  uintptr_t a = (uintptr_t)p;
  if (likely(objindex_is_start(&heap.index, a))) return objindex_size(&heap.index, a);
  if (boot_contains(p)) return boot_size(p);
  if (!objindex_covers(&heap.index, a) && libcmalloc_owns(p))
    return libcmalloc_usable_size((void *)p);
  report_with_stack("malloc_usable_size(%p): no live allocation starts here; returning 0", p);
  return 0;
}

/* free() of something the index does not own: glibc's own allocations go
 * back to glibc; of anything else, tell the user what it is. */
static _Atomic uint64_t bad_frees;   /* reported below */

uint64_t heap_bad_frees(void) { return atomic_load_explicit(&bad_frees, memory_order_relaxed); }

void heap_free_invalid(void *p, const char *caller) {
  if (boot_contains(p)) return;                  /* boot memory is never reused */
  if (atomic_load(&heap_state) == HEAP_FAILED ||
      (!objindex_covers(&heap.index, (uintptr_t)p) && libcmalloc_owns(p))) {
    __libc_free(p);
    return;
  }
  atomic_fetch_add_explicit(&bad_frees, 1, memory_order_relaxed);
  uintptr_t start;
  size_t size;
  bool found = objindex_find(&heap.index, (uintptr_t)p, &start, &size);
  if (found && start == (uintptr_t)p)   /* only when frees are deferred */
    report_with_stack("%s(%p): already freed%s; ignored", caller, p,
                      strcmp(caller, "realloc") == 0 ? "" : " (double free)");
  else if (found)
    report_with_stack("%s(%p): points %zu bytes into the live %zu-byte allocation at %p; ignored",
                      caller, p, (size_t)((uintptr_t)p - start), size, (void *)start);
  else if (objindex_covers(&heap.index, (uintptr_t)p))
    report_with_stack("%s(%p): no live allocation starts here (double free?); ignored",
                      caller, p);
  else
    report_with_stack("%s(%p): not a heap address (stack, global, or another allocator's memory); ignored",
                      caller, p);
}

/* ---- statistics ---- */

static size_t stat_read(const char *name) {
  size_t v = 0, len = sizeof v;
  return pacegc_je_mallctl(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

/* The index is mapped for the whole reserved range but only the part
 * covering address space handed to jemalloc is ever touched. */
static size_t heap_index_touched(void) {
  uint64_t used = atomic_load(&heap.unused) - heap.start, size = heap.end - heap.start;
  return (size_t)((unsigned __int128)heap.index_mapped * used / size);   /* 2^64 < 25 GiB * 1 TiB */
}

void heap_read_stats(heap_stats_t *s) {
  memset(s, 0, sizeof *s);
  if (atomic_load(&heap_state) != HEAP_READY) return;
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  pacegc_je_mallctl("epoch", &epoch, &len, &epoch, len);
  s->allocated = stat_read("stats.allocated");
  s->active = stat_read("stats.active");
  s->resident = stat_read("stats.resident");
  s->mapped = stat_read("stats.mapped");
  s->released = stat_read("stats.retained");
  char name[48];
  snprintf(name, sizeof name, "stats.arenas.%u.pdirty", (unsigned)MALLCTL_ARENAS_ALL);
  s->dirty = stat_read(name) * (size_t)sysconf(_SC_PAGESIZE);
  size_t index = heap_index_touched(), meta = meta_mapped_bytes();
  size_t index_mapped = heap.index_mapped < meta ? heap.index_mapped : meta;
  s->bookkeeping = index + meta - index_mapped;
}

size_t heap_purge(heap_stats_t *s) {
  if (atomic_load(&heap_state) != HEAP_READY) return 0;
  size_t dirty = s->dirty;
  char name[32];
  snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
  pacegc_je_mallctl(name, NULL, NULL, NULL, 0);
  heap_read_stats(s);
  return dirty > s->dirty ? dirty - s->dirty : 0;
}
