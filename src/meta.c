/* Bookkeeping memory: see meta.h. */
#include "meta.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "os.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif


/* Ranges live in a fixed table: meta must work before and without malloc.
 * Writers take a spin lock with every signal blocked, so no thread is
 * parked by a cycle half-way through a change: the collector, which maps
 * bookkeeping memory with the world stopped, never waits for a parked
 * thread, and reads the table without the lock.  A free slot has
 * end == 0. */
typedef struct meta_range {
  _Atomic uintptr_t start;
  _Atomic uintptr_t end;
} meta_range_t;

static meta_range_t meta_ranges[META_MAX_RANGES];
static _Atomic size_t meta_bytes;
static atomic_flag meta_lock = ATOMIC_FLAG_INIT;

static void set_slot(meta_range_t *r, uintptr_t start, uintptr_t end) {
  atomic_store(&r->start, start);
  atomic_store(&r->end, end);
}

/* Caller holds the lock.  A full table leaves the range unrecorded: it is
 * then scanned as a root, which costs retention, never correctness. */
static void record_locked(uintptr_t start, uintptr_t end) {
  for (size_t i = 0; i < META_MAX_RANGES; i++)
    if (atomic_load(&meta_ranges[i].end) == 0) {
      set_slot(&meta_ranges[i], start, end);
      return;
    }
}

/* Removes [start, end) from every recorded range, splitting one if the
 * hole is in its middle: jemalloc unmaps the ends of over-sized maps to
 * align them, and a stale record would hide a later mapping from the
 * roots. */
static void forget_locked(uintptr_t start, uintptr_t end) {
  for (size_t i = 0; i < META_MAX_RANGES; i++) {
    uintptr_t lo = atomic_load(&meta_ranges[i].start), hi = atomic_load(&meta_ranges[i].end);
    if (hi == 0 || end <= lo || start >= hi) continue;
    if (start <= lo && end >= hi) set_slot(&meta_ranges[i], 0, 0);
    else if (start <= lo) set_slot(&meta_ranges[i], end, hi);
    else if (end >= hi) set_slot(&meta_ranges[i], lo, start);
    else {
      set_slot(&meta_ranges[i], lo, start);
      record_locked(end, hi);
    }
  }
}

static void meta_record(uintptr_t start, uintptr_t end) {
  sigset_t old;
  os_spin_lock(&meta_lock, &old);
  record_locked(start, end);
  os_spin_unlock(&meta_lock, &old);
}

static void meta_forget(uintptr_t start, uintptr_t end) {
  sigset_t old;
  os_spin_lock(&meta_lock, &old);
  forget_locked(start, end);
  os_spin_unlock(&meta_lock, &old);
}

void *meta_map(size_t size, const char *name) {
  size = align_up(size, PAGE_SIZE);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return NULL;
  /* Named mappings make /proc/self/maps readable; kernels without
   * CONFIG_ANON_VMA_NAME refuse, which must not show in errno. */
  int saved = errno;
  prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size, (unsigned long)name);
  errno = saved;
  meta_record((uintptr_t)p, (uintptr_t)p + size);
  atomic_fetch_add(&meta_bytes, size);
  return p;
}

void meta_unmap(void *p, size_t size) {
  size = align_up(size, PAGE_SIZE);
  meta_forget((uintptr_t)p, (uintptr_t)p + size);
  munmap(p, size);
  atomic_fetch_sub(&meta_bytes, size);
}

void *meta_grow(void *old, size_t old_size, size_t keep, size_t new_size, const char *name) {
  void *p = meta_map(new_size, name);
  if (p == NULL) return NULL;
  if (old != NULL) {
    memcpy(p, old, keep);
    meta_unmap(old, old_size);
  }
  return p;
}

bool meta_reserve(void **p, size_t *cap, size_t need, size_t elem, const char *name) {
  if (need <= *cap) return true;
  size_t n = *cap ? *cap : 256;
  while (n < need) n *= 2;
  void *q = meta_grow(*p, *cap * elem, *cap * elem, n * elem, name);
  if (q == NULL) return false;
  *p = q;
  *cap = n;
  return true;
}

/* jemalloc's own mmap and munmap, renamed at build time: everything it
 * maps itself (outside pacegc's range) is its bookkeeping. */
void *pacegc_je_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  void *p = mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED) {
    sigset_t old;
    os_spin_lock(&meta_lock, &old);
    forget_locked((uintptr_t)p, (uintptr_t)p + len);
    record_locked((uintptr_t)p, (uintptr_t)p + len);
    os_spin_unlock(&meta_lock, &old);
  }
  return p;
}

int pacegc_je_munmap(void *addr, size_t len) {
  meta_forget((uintptr_t)addr, (uintptr_t)addr + align_up(len, PAGE_SIZE));
  return munmap(addr, len);
}

size_t meta_snapshot(span_t *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < META_MAX_RANGES && n < cap; i++) {
    uintptr_t end = atomic_load_explicit(&meta_ranges[i].end, memory_order_acquire);
    if (end != 0) out[n++] = (span_t){atomic_load(&meta_ranges[i].start), end};
  }
  return n;
}

size_t meta_mapped_bytes(void) { return atomic_load(&meta_bytes); }
