/* Sweeping: see sweep.h. */
#include "sweep.h"

#include <string.h>
#include <sys/mman.h>

#include "heap.h"
#include "provenance.h"

/* Takes the allocation at granule g if its state word still shows
 * `expect` for it (START, with FLAG as given): clears both bits. */
static bool take(_Atomic uint64_t *w, size_t g, bool flagged) {
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  uint64_t want = flagged ? start | flag : start;
  uint64_t old = atomic_load_explicit(w, memory_order_acquire);
  do {
    if ((old & (start | flag)) != want) return false;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, old & ~(start | flag),
                                                  memory_order_acq_rel, memory_order_acquire));
  return true;
}

/* Sets or clears FLAG while START is still set. */
static void set_flag(_Atomic uint64_t *w, size_t g, bool on) {
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  uint64_t old = atomic_load_explicit(w, memory_order_relaxed), next;
  do {
    if (!(old & start) || ((old & flag) != 0) == on) return;
    next = on ? old | flag : old & ~flag;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed));
}

/* Garbage this large has its whole pages dropped rather than written.
 * Dropping pages costs a system call and a TLB shootdown on every CPU
 * (measured: 150 to 600 us for 64 KiB on a 2-CPU VM, against 4 us to
 * clear it), and the pages fault back in when reused: only worth it where
 * memory matters more than that. */
#define ZERO_BY_MADVISE ((size_t)2 << 20)

/* Garbage is zeroed before jemalloc hands it out again.  malloc does not
 * clear memory, and a program seldom writes every byte of what it gets
 * (the tail of a size class, a half-filled buffer): dead objects' words
 * left there would be scanned as pointers in the object's next life and
 * keep other garbage alive, chain after chain.  bdwgc clears for the same
 * reason. */
static void zero_garbage(uintptr_t start, size_t size) {
  if (size < ZERO_BY_MADVISE) {
    memset((void *)start, 0, size);
    return;
  }
  uintptr_t lo = align_up(start, PAGE_SIZE), hi = align_down(start + size, PAGE_SIZE);
  memset((void *)start, 0, lo - start);
  madvise((void *)lo, hi - lo, MADV_DONTNEED);
  memset((void *)hi, 0, start + size - hi);
}

static void release(uintptr_t start, size_t size, sweep_result_t *out) {
  out->freed_bytes += size;
  out->freed_objects++;
  if (size > OBJINDEX_SMALL_MAX) objindex_clear_large(&heap.index, start, size);
  zero_garbage(start, size);
  pacegc_je_sdallocx((void *)start, size, 0);
}

static void sweep_one(sweep_mode_t mode, sweep_when_t when, _Atomic uint64_t *w, size_t g,
                      bool flagged, sweep_result_t *out) {
  uintptr_t start = heap.index.base + (g << GRANULE_SHIFT);
  size_t size = objindex_size(&heap.index, start);
  bool marked = objindex_is_marked(&heap.index, start);
  if (mode == SWEEP_DEFERRED) {
    if (!flagged) return;
    if (marked) {
      out->dangling_bytes += size;
      out->dangling_objects++;
      if (provenance_enabled) provenance_report_dangling(start, size);
    } else if (take(w, g, true)) {
      if (provenance_enabled) provenance_forget(start);
      release(start, size, out);
    }
    return;
  }
  if (marked) {
    if (flagged) set_flag(w, g, false);    /* reached again: no longer condemned */
    return;
  }
  out->unreached_bytes += size;
  out->unreached_objects++;
  if (mode == SWEEP_DRY_RUN || when == SWEEP_HOLD) return;
  if (flagged || when == SWEEP_AT_ONCE) {
    if (take(w, g, flagged)) release(start, size, out);
  } else {
    set_flag(w, g, true);
    out->condemned_bytes += size;
    out->condemned_objects++;
  }
}

/* The state words that cover the heap's used part. */
static size_t state_words(void) {
  uintptr_t used = atomic_load(&heap.unused);
  return (objindex_granule(&heap.index, used) + OBJINDEX_STATE_GRANULES - 1) /
         OBJINDEX_STATE_GRANULES;
}

void sweep(sweep_mode_t mode, sweep_when_t when, sweep_result_t *out) {
  memset(out, 0, sizeof *out);
  size_t words = state_words();
  for (size_t i = 0; i < words; i++) {
    _Atomic uint64_t *w = &heap.index.states[i];
    uint64_t bits = atomic_load_explicit(w, memory_order_acquire);
    uint64_t starts = bits & OBJINDEX_STARTS_MASK;
    while (starts) {
      unsigned b = (unsigned)__builtin_ctzll(starts);
      starts &= starts - 1;
      size_t g = i * OBJINDEX_STATE_GRANULES + b / 2;
      sweep_one(mode, when, w, g, (bits >> (b + 1)) & 1, out);
    }
  }
}

void sweep_clear_flags(void) {
  size_t words = state_words();
  for (size_t i = 0; i < words; i++)
    if (atomic_load_explicit(&heap.index.states[i], memory_order_relaxed) & ~OBJINDEX_STARTS_MASK)
      atomic_fetch_and(&heap.index.states[i], OBJINDEX_STARTS_MASK);
}
