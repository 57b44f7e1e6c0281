/*
 * The heap: every user allocation, served by pacegc's private jemalloc
 * from one reserved address range and recorded in the object index.
 *
 * Fast paths (heap_malloc, heap_free) are inline here so the shim's
 * exported functions compile to a few loads, the jemalloc call and one
 * atomic bit operation.  Everything rare is out of line in heap.c.
 */
#ifndef PACEGC_HEAP_H
#define PACEGC_HEAP_H

#include <stddef.h>
#include <stdatomic.h>
#include "config.h"
#include "memprof.h"
#include "objindex.h"

/* Requests up to this size are sized from a table, not by jemalloc. */
#define HEAP_CLASS_TABLE_MAX ((size_t)4096)

typedef struct heap {
  objindex_t index;
  uintptr_t start, end;              /* the reserved range */
  _Atomic uintptr_t unused;          /* first byte never handed to jemalloc */
  unsigned first_arena, narenas;
  size_t index_mapped;               /* bytes mapped for the object index */
  /* class_granules[(n + 15) >> 4] = usable size of malloc(n) in granules. */
  uint16_t class_granules[(HEAP_CLASS_TABLE_MAX >> GRANULE_SHIFT) + 1];
} heap_t;

extern heap_t heap;

/* 0: thread not yet bound to one of pacegc's arenas (or heap not ready). */
extern __thread unsigned char heap_thread_ready;
/* Set while pacegc's own start-up of a new thread allocates (stacks.c):
 * then the thread is not bound yet, so that it is bound, and jemalloc
 * makes its thread cache, at the program's first allocation, as without
 * pacegc (heap_free_flags says why that matters). */
extern __thread unsigned char heap_thread_starting;

/* Bytes this thread allocated minus bytes it freed, not yet told to gc.c. */
extern __thread int64_t heap_net_bytes;

/* How free() behaves (PACEGC_FREE). */
extern free_mode_t heap_free_mode;

/*
 * What the collector asks of the fast paths (set by gc.c, as mimalloc's
 * deferred-free hook and jemalloc's event counters are set by their
 * users), so that the heap calls nothing of the collector's by name:
 *   heap_allocate_black  set while a sweep may run: new allocations are
 *                        marked as they are made ("allocate black"), so
 *                        the sweep in progress never takes them;
 *   heap_budget          a thread's net bytes (allocated - freed) go to
 *                        the collector's function once they pass
 *                        +-heap_budget; 0 (gcstress) sends every one.
 */
typedef void (*heap_budget_fn)(int64_t net_bytes, long allocations);
/* The budget unless the collector asks for another: the trigger then
 * costs one add and one compare per allocation. */
#define HEAP_BUDGET_DEFAULT ((int64_t)64 << 10)
extern _Atomic int heap_allocate_black;
extern int64_t heap_budget;

/* Installs fn with budget bytes; what threads reported before it was
 * installed goes to it at once. */
void heap_set_budget(int64_t budget, heap_budget_fn fn);

void heap_flush_net(void);

/* Batches byte counts per thread so the trigger costs one add and one
 * compare on the fast path. */
ALWAYS_INLINE void heap_account(int64_t delta) {
  int64_t net = heap_net_bytes += delta;
  if (unlikely((uint64_t)(net + heap_budget) > 2 * (uint64_t)heap_budget))
    heap_flush_net();
}

/* Makes a fresh allocation visible to the collector.  While a sweep may
 * run, it is marked first, so that sweep (which reads START, then the
 * mark) never takes it.  Then the heap profile's sampler counts it
 * (memprof.h): sampled only once indexed, so that its page says so
 * before anyone can free it. */
void heap_publish_slow(void *p);

ALWAYS_INLINE void heap_publish(void *p, size_t usable) {
  if (unlikely(atomic_load_explicit(&heap_allocate_black, memory_order_relaxed)))
    heap_publish_slow(p);
  objindex_insert(&heap.index, (uintptr_t)p, usable);
  heap_account((int64_t)usable);
  if (unlikely((memprof_left -= (int64_t)usable) < 0)) memprof_sample((uintptr_t)p, usable);
}

/* The private jemalloc (names renamed at build time, see src/meson.build). */
void *pacegc_je_malloc(size_t size);
void pacegc_je_sdallocx(void *p, size_t size, int flags);

void *heap_malloc_slow(size_t n);
void *heap_malloc_large(size_t n);
void heap_free_invalid(void *p, const char *caller);

/* How many bad frees heap_free_invalid reported. */
uint64_t heap_bad_frees(void);
void heap_free_unhonored(void *p, const char *caller);

/* malloc(n): never NULL except when memory is exhausted (errno ENOMEM). */
ALWAYS_INLINE void *heap_malloc(size_t n) {
  if (unlikely(!heap_thread_ready)) return heap_malloc_slow(n);
  if (unlikely(n > HEAP_CLASS_TABLE_MAX)) return heap_malloc_large(n);
  size_t usable = (size_t)heap.class_granules[(n + GRANULE - 1) >> GRANULE_SHIFT]
                  << GRANULE_SHIFT;
  void *p = pacegc_je_malloc(usable);
  if (likely(p != NULL)) heap_publish(p, usable);
  return p;
}

/* jemalloc's MALLOCX_TCACHE_NONE (heap.c checks the value): jemalloc.h
 * stays out of the shim's fast paths. */
#define HEAP_TCACHE_NONE (1 << 8)

/* A thread that has not allocated yet frees past the thread cache, as
 * jemalloc does before a thread's first allocation.  Put into its cache,
 * what it frees would be what it allocates first: memory another thread
 * allocated next to that thread's own, so two threads would keep writing
 * one cache line (bench/cachescratch: 4.1x jemalloc's time). */
ALWAYS_INLINE int heap_free_flags(void) { return heap_thread_ready ? 0 : HEAP_TCACHE_NONE; }

/* free(p) for p != NULL.  `caller` names the API for the report. */
ALWAYS_INLINE void heap_free(void *p, const char *caller) {
  if (unlikely(heap_free_mode != FREE_HONOR)) {
    heap_free_unhonored(p, caller);
    return;
  }
  bool sampled;
  size_t usable = objindex_remove(&heap.index, (uintptr_t)p, &sampled);
  if (unlikely(usable == 0)) {
    heap_free_invalid(p, caller);
    return;
  }
  if (unlikely(sampled)) memprof_end((uintptr_t)p, MEMPROF_FREED);
  pacegc_je_sdallocx(p, usable, heap_free_flags());
  heap_account(-(int64_t)usable);
}

void *heap_calloc(size_t nmemb, size_t size);
void *heap_realloc(void *p, size_t n);
void *heap_reallocarray(void *p, size_t nmemb, size_t size);
/* glibc's memalign (and, in glibc 2.36, aligned_alloc): an alignment that
 * is not a power of two is rounded up to one. */
void *heap_memalign(size_t alignment, size_t n);
/* EINVAL unless alignment is a power-of-two multiple of sizeof(void *). */
int heap_posix_memalign(void **out, size_t alignment, size_t n);
/* A whole number of pages, page aligned. */
void *heap_pvalloc(size_t n);
size_t heap_usable_size(const void *p);
/* jemalloc's mallocx, indexed.  An arena in flags is used only if it has
 * pacegc's hooks (otherwise the thread's own serves). */
void *heap_mallocx(size_t n, int flags);

/* jemalloc's xallocx: resizes in place if it can; the usable size after
 * (0, with a report, for a pointer the heap does not own). */
size_t heap_resize_in_place(void *p, size_t n, size_t extra);

/* Reserves the range and creates the arenas; idempotent, thread-safe. */
void heap_ensure_init(void);

/* Applies the loaded configuration (free mode). */
void heap_configure(const pacegc_config_t *c);

/* No cycle will run again: free() releases at once whatever the mode. */
void heap_disable_collection(void);

/* Statistics for mallinfo and friends, from jemalloc's counters. */
typedef struct heap_stats {
  size_t allocated;   /* bytes in allocations, live or not yet swept */
  size_t active;      /* bytes in pages holding allocations */
  size_t dirty;       /* bytes in free pages not yet returned to the OS */
  size_t resident;    /* bytes resident, jemalloc metadata included */
  size_t mapped;      /* bytes mapped by jemalloc */
  size_t released;    /* bytes of address space jemalloc holds with no pages */
  size_t bookkeeping; /* pacegc's own metadata, the touched part of the index */
} heap_stats_t;

/* One snapshot of jemalloc's counters (a mallctl "epoch" refresh, which
 * takes every arena's stats lock: not for the fast path). */
void heap_read_stats(heap_stats_t *s);
/* Returns every free dirty page to the OS; the bytes released.  *s is a
 * snapshot taken just before (the dirty bytes it counts are what goes)
 * and is refreshed after. */
size_t heap_purge(heap_stats_t *s);

#endif
