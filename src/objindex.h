/*
 * The object index: which granules of the heap range start a live
 * allocation, and how big each allocation is.
 *
 * Side tables cover the range:
 *   states: two bits per 16-byte granule, interleaved so one atomic
 *           operation updates both:
 *             START  set while an allocation starting there is live.  It
 *                    is the ownership token (DESIGN.md rule 5): whoever
 *                    clears it atomically returns the memory.
 *             FLAG   meaningful only with START: the collector found the
 *                    allocation unreachable once (condemned), or, when
 *                    free() defers, the program freed it (quarantined).
 *                    Clearing START clears FLAG in the same operation, so
 *                    a new allocation never inherits a stale FLAG.
 *   marks:  one bit per granule, set by the collector for each start it
 *           reaches; all clear outside a cycle.
 *   pages:  one 32-bit word per 4 KiB page saying how to size and find
 *           the allocations that touch that page:
 *             SMALL | n   allocations that start in this page are n granules
 *             HEAD  | n   a large allocation of n pages starts in this page
 *             TAIL  | d   this page lies inside a large allocation whose
 *                         head page is d pages below
 *             0           nothing known
 *           SMALL and HEAD entries may carry SAMPLED: an allocation in
 *           that page is sampled by the heap profile (memprof.h), whose
 *           free or reclaim must tell it.  A cleared SAMPLED bit means
 *           no sampled allocation is there; a set one may be stale.
 *
 * Invariants (kept by insert/remove, relied on by find):
 *   - a live allocation's start granule has its bit set, and the page
 *     entry of its start page describes its size;
 *   - every page of a live large allocation after its head page is TAIL,
 *     and no page is TAIL unless it belongs to a live large allocation;
 *   - allocations do not overlap, a small one is at most
 *     OBJINDEX_SMALL_MAX bytes, and a large one's head page holds no
 *     other allocation's start (jemalloc gives large allocations an extent
 *     of their own, starting within its first page).
 * SMALL and HEAD entries may be stale: they are only read for a page whose
 * start bit was found set, and the allocation that set it rewrote them.
 */
#ifndef PACEGC_OBJINDEX_H
#define PACEGC_OBJINDEX_H

#include <stdatomic.h>
#include "util.h"

/* jemalloc's largest small size class with 4 KiB pages. */
#define OBJINDEX_SMALL_MAX ((size_t)14336)

#define OBJINDEX_TAG_SHIFT 30
#define OBJINDEX_SMALL ((uint32_t)1 << OBJINDEX_TAG_SHIFT)
#define OBJINDEX_HEAD  ((uint32_t)2 << OBJINDEX_TAG_SHIFT)
#define OBJINDEX_TAIL  ((uint32_t)3 << OBJINDEX_TAG_SHIFT)
#define OBJINDEX_TAG   OBJINDEX_TAIL
#define OBJINDEX_SAMPLED ((uint32_t)1 << (OBJINDEX_TAG_SHIFT - 1))
#define OBJINDEX_VALUE ((uint32_t)(OBJINDEX_SAMPLED - 1))

typedef struct objindex {
  uintptr_t base;              /* first byte covered; page aligned */
  size_t size;                 /* bytes covered; a multiple of the page size */
  _Atomic uint64_t *states;    /* 2 bits per granule, 32 granules a word */
  _Atomic uint64_t *marks;     /* 1 bit per granule, 64 granules a word */
  _Atomic uint32_t *pages;     /* size / PAGE_SIZE entries */
} objindex_t;

#define OBJINDEX_STATE_GRANULES 32
#define OBJINDEX_STARTS_MASK 0x5555555555555555ull   /* the START bits of a word */

/* Bytes of side tables needed to cover `size` bytes. */
size_t objindex_states_bytes(size_t size);
size_t objindex_marks_bytes(size_t size);
size_t objindex_pages_bytes(size_t size);

/* Covers [base, base+size) with zeroed tables supplied by the caller. */
void objindex_init(objindex_t *ix, uintptr_t base, size_t size,
                   void *states, void *marks, void *pages);

/* START and FLAG bits of granule g within its state word. */
ALWAYS_INLINE uint64_t objindex_start_bit(size_t g) { return (uint64_t)1 << (2 * (g & 31)); }
ALWAYS_INLINE uint64_t objindex_flag_bit(size_t g) { return (uint64_t)2 << (2 * (g & 31)); }
ALWAYS_INLINE _Atomic uint64_t *objindex_state_word(const objindex_t *ix, size_t g) {
  return &ix->states[g >> 5];
}

ALWAYS_INLINE bool objindex_covers(const objindex_t *ix, uintptr_t a) {
  return a - ix->base < ix->size;
}

ALWAYS_INLINE size_t objindex_granule(const objindex_t *ix, uintptr_t a) {
  return (a - ix->base) >> GRANULE_SHIFT;
}

ALWAYS_INLINE size_t objindex_page(const objindex_t *ix, uintptr_t a) {
  return (a - ix->base) >> PAGE_SHIFT;
}

/* Size in bytes described by a SMALL or HEAD entry; 0 for anything else. */
ALWAYS_INLINE size_t objindex_entry_size(uint32_t e) {
  uint32_t tag = e & OBJINDEX_TAG;
  size_t v = e & OBJINDEX_VALUE;
  if (tag == OBJINDEX_SMALL) return v << GRANULE_SHIFT;
  if (tag == OBJINDEX_HEAD) return v << PAGE_SHIFT;
  return 0;
}

void objindex_insert_large(objindex_t *ix, uintptr_t start, size_t usable);
void objindex_clear_large(objindex_t *ix, uintptr_t start, size_t usable);
/* A large allocation resized in place from old to usable bytes: the new
 * size is written first, the pages it no longer covers cleared after. */
void objindex_resize_large(objindex_t *ix, uintptr_t start, size_t old, size_t usable);

/*
 * Records a live allocation of `usable` bytes at `start` (granule aligned,
 * inside the range).  The size is published before the start bit, so a
 * reader that sees the bit sees the size.
 */
ALWAYS_INLINE void objindex_insert(objindex_t *ix, uintptr_t start, size_t usable) {
  if (likely(usable <= OBJINDEX_SMALL_MAX)) {
    uint32_t e = OBJINDEX_SMALL | (uint32_t)(usable >> GRANULE_SHIFT);
    _Atomic uint32_t *pe = &ix->pages[objindex_page(ix, start)];
    /* Read first: most pages already say this, and a store would bounce
     * the cache line between threads allocating in neighbouring pages.
     * A page changes size class only once every allocation in it is
     * gone, so SAMPLED goes with the old entry; the exchange keeps a
     * SAMPLED set meanwhile by a thread allocating in the same fresh
     * page. */
    uint32_t old = atomic_load_explicit(pe, memory_order_relaxed);
    while ((old & ~OBJINDEX_SAMPLED) != e &&
           !atomic_compare_exchange_weak_explicit(pe, &old, e, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
  } else {
    objindex_insert_large(ix, start, usable);
  }
  size_t g = objindex_granule(ix, start);
  atomic_fetch_or_explicit(objindex_state_word(ix, g), objindex_start_bit(g),
                           memory_order_release);
}

/* True if a live allocation starts exactly at `a`. */
ALWAYS_INLINE bool objindex_is_start(const objindex_t *ix, uintptr_t a) {
  if (!objindex_covers(ix, a) || (a & (GRANULE - 1)) != 0) return false;
  size_t g = objindex_granule(ix, a);
  uint64_t w = atomic_load_explicit(objindex_state_word(ix, g), memory_order_acquire);
  return (w & objindex_start_bit(g)) != 0;
}

/* Usable size of the live allocation starting at `start`; the caller has
 * established that one does. */
ALWAYS_INLINE size_t objindex_size(const objindex_t *ix, uintptr_t start) {
  return objindex_entry_size(atomic_load_explicit(
      &ix->pages[objindex_page(ix, start)], memory_order_relaxed));
}

/* Whether the page of the allocation starting at `start` may hold a
 * sampled allocation (OBJINDEX_SAMPLED). */
ALWAYS_INLINE bool objindex_page_sampled(const objindex_t *ix, uintptr_t start) {
  return (atomic_load_explicit(&ix->pages[objindex_page(ix, start)], memory_order_relaxed) &
          OBJINDEX_SAMPLED) != 0;
}

/* Sets or clears SAMPLED on the page of `start` (memprof.c, under its
 * lock, for a live allocation there). */
void objindex_mark_page_sampled(objindex_t *ix, uintptr_t start, bool on);

/*
 * Takes ownership of the allocation starting at `a`: clears its start bit
 * atomically and returns its usable size, or returns 0 if no live
 * allocation starts at `a` (never allocated here, already freed, interior,
 * or outside the range).  Exactly one of several racing callers wins.
 * *sampled: whether its page may hold a sampled allocation.
 */
ALWAYS_INLINE size_t objindex_remove(objindex_t *ix, uintptr_t a, bool *sampled) {
  if (unlikely(!objindex_covers(ix, a) || (a & (GRANULE - 1)) != 0)) return 0;
  size_t g = objindex_granule(ix, a);
  _Atomic uint64_t *w = objindex_state_word(ix, g);
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  /* START alone: one `lock btr`, where clearing FLAG with it took a
   * compare-and-swap loop (x86 has no fetch-and that returns the old
   * word), retried whenever a neighbour in the word changed. */
  if (unlikely(!(atomic_fetch_and_explicit(w, ~start, memory_order_acq_rel) & start))) return 0;
  /* FLAG (a reclaim delay's condemnation) goes after it.  Every setter of
   * FLAG requires START in the same exchange, and no allocation starts
   * here again before this caller hands the memory back, so nothing sets
   * FLAG meanwhile; a reader that sees FLAG without START ignores it. */
  if (unlikely(atomic_load_explicit(w, memory_order_relaxed) & flag))
    atomic_fetch_and_explicit(w, ~flag, memory_order_relaxed);
  uint32_t e = atomic_load_explicit(&ix->pages[objindex_page(ix, a)], memory_order_relaxed);
  size_t usable = objindex_entry_size(e);
  *sampled = (e & OBJINDEX_SAMPLED) != 0;
  if (unlikely(usable > OBJINDEX_SMALL_MAX)) objindex_clear_large(ix, a, usable);
  return usable;
}

/*
 * Finds the live allocation containing `addr` (interior pointers included,
 * one past the end excluded).  Returns false if there is none.  Small
 * objects take a bit test or a short backward bit scan; large objects one
 * extra page-table read.
 */
bool objindex_find(const objindex_t *ix, uintptr_t addr,
                   uintptr_t *start, size_t *size);

/*
 * Sets FLAG on the live allocation starting at `a`, if it has none.
 * Returns false if no live allocation starts there or FLAG was already
 * set (for a deferred free: a double free).
 */
bool objindex_set_flag(objindex_t *ix, uintptr_t a);

/* Whether the live allocation starting at `a` has FLAG set. */
ALWAYS_INLINE bool objindex_has_flag(const objindex_t *ix, uintptr_t a) {
  size_t g = objindex_granule(ix, a);
  return (atomic_load_explicit(objindex_state_word(ix, g), memory_order_acquire) &
          objindex_flag_bit(g)) != 0;
}

/* Sets the mark bit of the allocation starting at `start`; returns true
 * if this call set it (the caller then scans the allocation). */
ALWAYS_INLINE bool objindex_mark(objindex_t *ix, uintptr_t start) {
  size_t g = objindex_granule(ix, start);
  uint64_t bit = (uint64_t)1 << (g & 63);
  _Atomic uint64_t *w = &ix->marks[g >> 6];
  if (atomic_load_explicit(w, memory_order_relaxed) & bit) return false;
  return !(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit);
}

ALWAYS_INLINE bool objindex_is_marked(const objindex_t *ix, uintptr_t start) {
  size_t g = objindex_granule(ix, start);
  return (atomic_load_explicit(&ix->marks[g >> 6], memory_order_relaxed) >> (g & 63)) & 1;
}

#endif
