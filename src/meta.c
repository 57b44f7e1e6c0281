/* Bookkeeping memory: see meta.h. */
#include "meta.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define META_MAX_RANGES 256

/* Ranges live in a fixed table: meta must work before and without malloc.
 * Slots are claimed with a CAS on `end`, so lookups need no lock. */
typedef struct meta_range {
  _Atomic uintptr_t start;
  _Atomic uintptr_t end;
} meta_range_t;

static meta_range_t meta_ranges[META_MAX_RANGES];
static _Atomic size_t meta_bytes;

static void meta_record(uintptr_t start, uintptr_t end) {
  for (size_t i = 0; i < META_MAX_RANGES; i++) {
    uintptr_t free_slot = 0;
    if (atomic_compare_exchange_strong(&meta_ranges[i].end, &free_slot, end)) {
      atomic_store(&meta_ranges[i].start, start);
      return;
    }
  }
  /* Table full: the range works but is not excluded from the roots.  Only
   * costs retention, never correctness. */
}

void *meta_map(size_t size, const char *name) {
  size = align_up(size, PAGE_SIZE);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  /* Named mappings make /proc/self/maps readable; older kernels refuse. */
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size, (unsigned long)name);
  meta_record((uintptr_t)p, (uintptr_t)p + size);
  atomic_fetch_add(&meta_bytes, size);
  return p;
}

void meta_unmap(void *p, size_t size) {
  size = align_up(size, PAGE_SIZE);
  for (size_t i = 0; i < META_MAX_RANGES; i++) {
    if (atomic_load(&meta_ranges[i].start) == (uintptr_t)p &&
        atomic_load(&meta_ranges[i].end) == (uintptr_t)p + size) {
      atomic_store(&meta_ranges[i].start, 0);
      atomic_store(&meta_ranges[i].end, 0);
      break;
    }
  }
  munmap(p, size);
  atomic_fetch_sub(&meta_bytes, size);
}

bool meta_contains(uintptr_t a) {
  for (size_t i = 0; i < META_MAX_RANGES; i++) {
    uintptr_t end = atomic_load_explicit(&meta_ranges[i].end, memory_order_acquire);
    if (end != 0 && a < end && a >= atomic_load(&meta_ranges[i].start)) return true;
  }
  return false;
}

size_t meta_mapped_bytes(void) { return atomic_load(&meta_bytes); }
