/*
 * Marking: see mark.h.
 *
 * Invariant while draining: every marked allocation either has been
 * scanned or is on the mark stack, except after an overflow, when some
 * marked allocations were dropped from the stack; the overflow pass then
 * rescans every marked allocation until a pass pushes nothing.
 */
#include "mark.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "meta.h"

#define MARK_STACK_INITIAL ((size_t)1 << 16)   /* entries */
/* Ranges larger than this are scanned page by page, skipping pages that
 * were never touched (neither present nor swapped): they hold zeros. */
#define SPARSE_SCAN_MIN ((size_t)1 << 20)

typedef struct mark_stack {
  uintptr_t *items;
  size_t n, cap;
  bool overflowed;
} mark_stack_t;

static mark_stack_t stack;

static bool stack_grow(void) {
  size_t cap = stack.cap ? 2 * stack.cap : MARK_STACK_INITIAL;
  uintptr_t *items = meta_map(cap * sizeof *items, "pacegc-markstack");
  if (items == NULL) return false;
  if (stack.items) {
    memcpy(items, stack.items, stack.n * sizeof *items);
    meta_unmap(stack.items, stack.cap * sizeof *items);
  }
  stack.items = items;
  stack.cap = cap;
  return true;
}

static void push(uintptr_t start) {
  if (unlikely(stack.n == stack.cap) && !stack_grow()) {
    stack.overflowed = true;      /* stays marked; the overflow pass scans it */
    return;
  }
  stack.items[stack.n++] = start;
}

/* Marks the allocation containing w, if any, and queues it. */
static inline void consider(uintptr_t w, mark_result_t *out) {
  uintptr_t start;
  size_t size;
  if (!objindex_find(&heap.index, w, &start, &size)) return;
  if (!objindex_mark(&heap.index, start)) return;
  out->marked_bytes += size;
  out->marked_objects++;
  push(start);
}

/* The scan loop: one subtraction and compare rejects every word that
 * cannot point into the heap. */
static void scan_dense(uintptr_t lo, uintptr_t hi, mark_result_t *out) {
  uintptr_t base = heap.index.base;
  size_t size = heap.index.size;
  for (const uintptr_t *p = (const uintptr_t *)lo; p < (const uintptr_t *)hi; p++) {
    uintptr_t w = *p;
    if (likely(w - base >= size)) continue;
    consider(w, out);
  }
}

static int pagemap_fd = -1;

/* Large ranges: read /proc/self/pagemap and scan only pages that are
 * present or swapped out.  Without pagemap, scan everything. */
static void scan_sparse(uintptr_t lo, uintptr_t hi, mark_result_t *out) {
  if (pagemap_fd < 0) pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  uintptr_t page = align_down(lo, PAGE_SIZE);
  while (page < hi) {
    uint64_t entries[512];
    size_t npages = (align_up(hi, PAGE_SIZE) - page) >> PAGE_SHIFT;
    if (npages > 512) npages = 512;
    ssize_t got = pagemap_fd < 0 ? -1
        : pread(pagemap_fd, entries, npages * 8, (off_t)((page >> PAGE_SHIFT) * 8));
    for (size_t i = 0; i < npages; i++, page += PAGE_SIZE) {
      bool used = got < (ssize_t)((i + 1) * 8) || (entries[i] >> 62) != 0;
      if (!used) continue;
      uintptr_t a = page < lo ? lo : page, b = page + PAGE_SIZE > hi ? hi : page + PAGE_SIZE;
      scan_dense(a, b, out);
    }
  }
}

static void scan_range(uintptr_t lo, uintptr_t hi, mark_result_t *out) {
  lo = align_up(lo, sizeof(uintptr_t));
  hi = align_down(hi, sizeof(uintptr_t));
  if (hi <= lo) return;
  if (hi - lo >= SPARSE_SCAN_MIN) scan_sparse(lo, hi, out);
  else scan_dense(lo, hi, out);
}

static void drain(mark_result_t *out) {
  while (stack.n > 0) {
    uintptr_t start = stack.items[--stack.n];
    size_t size = objindex_size(&heap.index, start);
    out->heap_scan_bytes += size;
    scan_range(start, start + size, out);
  }
}

/* After an overflow: scan every marked allocation again, until a whole
 * pass overflows no more. */
static void rescan_marked(mark_result_t *out) {
  uintptr_t used = atomic_load(&heap.unused);
  size_t words = objindex_granule(&heap.index, align_up(used, 64 * GRANULE)) / 64;
  for (size_t w = 0; w < words; w++) {
    uint64_t bits = atomic_load_explicit(&heap.index.marks[w], memory_order_relaxed);
    while (bits) {
      size_t g = w * 64 + (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      uintptr_t start = heap.index.base + (g << GRANULE_SHIFT);
      scan_range(start, start + objindex_size(&heap.index, start), out);
      drain(out);
    }
  }
}

void mark_clear(void) {
  uintptr_t used = atomic_load(&heap.unused);
  size_t bytes = objindex_marks_bytes(align_up(used - heap.index.base, 64 * GRANULE));
  memset((void *)heap.index.marks, 0, bytes);
}

void mark_from_roots(const roots_t *roots, mark_result_t *out) {
  memset(out, 0, sizeof *out);
  stack.overflowed = false;
  for (size_t i = 0; i < roots->n; i++) {
    const root_range_t *r = &roots->ranges[i];
    out->root_scan_bytes += r->hi - r->lo;
    scan_range(r->lo, r->hi, out);
    drain(out);
  }
  while (stack.overflowed) {
    out->overflowed = true;
    stack.overflowed = false;
    rescan_marked(out);
  }
}
