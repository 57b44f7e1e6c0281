/* The object index: see objindex.h for the encoding and its invariants. */
#include "objindex.h"

size_t objindex_states_bytes(size_t size) {
  return align_up(size >> GRANULE_SHIFT, OBJINDEX_STATE_GRANULES) / 4;
}

size_t objindex_marks_bytes(size_t size) {
  return align_up(size >> GRANULE_SHIFT, 64) / 8;
}

size_t objindex_pages_bytes(size_t size) {
  return (size >> PAGE_SHIFT) * sizeof(uint32_t);
}

void objindex_init(objindex_t *ix, uintptr_t base, size_t size,
                   void *states, void *marks, void *pages) {
  ix->base = base;
  ix->size = size;
  ix->states = states;
  ix->marks = marks;
  ix->pages = pages;
}

/* Pages after the head page that a large allocation touches. */
static size_t tail_pages(uintptr_t start, size_t usable) {
  return ((start & (PAGE_SIZE - 1)) + usable - 1) >> PAGE_SHIFT;
}

void objindex_insert_large(objindex_t *ix, uintptr_t start, size_t usable) {
  size_t head = objindex_page(ix, start);
  size_t n = tail_pages(start, usable);
  for (size_t d = 1; d <= n; d++)
    atomic_store_explicit(&ix->pages[head + d], OBJINDEX_TAIL | (uint32_t)d,
                          memory_order_relaxed);
  atomic_store_explicit(&ix->pages[head],
                        OBJINDEX_HEAD | (uint32_t)(usable >> PAGE_SHIFT),
                        memory_order_relaxed);
}

/* Called by the owner of the allocation, before its memory is reused. */
void objindex_clear_large(objindex_t *ix, uintptr_t start, size_t usable) {
  size_t head = objindex_page(ix, start);
  size_t n = tail_pages(start, usable);
  for (size_t d = 1; d <= n; d++)
    atomic_store_explicit(&ix->pages[head + d], 0, memory_order_relaxed);
}

void objindex_resize_large(objindex_t *ix, uintptr_t start, size_t old, size_t usable) {
  bool sampled = objindex_page_sampled(ix, start);
  objindex_insert_large(ix, start, usable);
  if (sampled) objindex_mark_page_sampled(ix, start, true);
  size_t head = objindex_page(ix, start);
  for (size_t d = tail_pages(start, usable) + 1; d <= tail_pages(start, old); d++)
    atomic_store_explicit(&ix->pages[head + d], 0, memory_order_relaxed);
}

void objindex_mark_page_sampled(objindex_t *ix, uintptr_t start, bool on) {
  _Atomic uint32_t *pe = &ix->pages[objindex_page(ix, start)];
  if (on) atomic_fetch_or_explicit(pe, OBJINDEX_SAMPLED, memory_order_relaxed);
  else atomic_fetch_and_explicit(pe, ~OBJINDEX_SAMPLED, memory_order_relaxed);
}

/* Highest granule in [lo, hi] whose START bit is set, or SIZE_MAX. */
static size_t prev_start(const objindex_t *ix, size_t hi, size_t lo) {
  size_t w = hi >> 5;
  uint64_t bits = atomic_load_explicit(&ix->states[w], memory_order_acquire);
  bits &= OBJINDEX_STARTS_MASK & (~(uint64_t)0 >> (62 - 2 * (hi & 31)));  /* <= hi */
  for (;;) {
    if (bits != 0) {
      size_t g = (w << 5) + (63 - (size_t)__builtin_clzll(bits)) / 2;
      return g >= lo ? g : SIZE_MAX;
    }
    if (w == 0 || (w << 5) <= lo) return SIZE_MAX;
    w--;
    bits = atomic_load_explicit(&ix->states[w], memory_order_acquire) & OBJINDEX_STARTS_MASK;
  }
}

bool objindex_set_flag(objindex_t *ix, uintptr_t a) {
  if (!objindex_covers(ix, a) || (a & (GRANULE - 1)) != 0) return false;
  size_t g = objindex_granule(ix, a);
  _Atomic uint64_t *w = objindex_state_word(ix, g);
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
  do {
    if ((old & (start | flag)) != start) return false;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, old | flag,
                                                  memory_order_acq_rel, memory_order_relaxed));
  return true;
}

static bool found(const objindex_t *ix, size_t g, uintptr_t addr,
                  uintptr_t *start, size_t *size) {
  uintptr_t s = ix->base + (g << GRANULE_SHIFT);
  size_t z = objindex_size(ix, s);
  if (addr - s >= z) return false;
  *start = s;
  *size = z;
  return true;
}

bool objindex_find(const objindex_t *ix, uintptr_t addr,
                   uintptr_t *start, size_t *size) {
  if (!objindex_covers(ix, addr)) return false;
  size_t g = objindex_granule(ix, addr);
  uint64_t w = atomic_load_explicit(objindex_state_word(ix, g), memory_order_acquire);
  if (w & objindex_start_bit(g)) return found(ix, g, addr, start, size);

  size_t page = objindex_page(ix, addr);
  uint32_t e = atomic_load_explicit(&ix->pages[page], memory_order_relaxed);
  if ((e & OBJINDEX_TAG) == OBJINDEX_TAIL) {
    /* Inside a large allocation: its start is the only one in its head page. */
    size_t head = page - (e & OBJINDEX_VALUE);
    size_t first = head << (PAGE_SHIFT - GRANULE_SHIFT);
    size_t s = prev_start(ix, first + (PAGE_SIZE >> GRANULE_SHIFT) - 1, first);
    return s != SIZE_MAX && found(ix, s, addr, start, size);
  }
  /* A small allocation covering addr starts less than SMALL_MAX below it;
   * a large one whose head is this page starts in this page. */
  size_t reach = OBJINDEX_SMALL_MAX >> GRANULE_SHIFT;
  size_t lo = g >= reach ? g - reach + 1 : 0;
  size_t s = g == 0 ? SIZE_MAX : prev_start(ix, g - 1, lo);
  return s != SIZE_MAX && found(ix, s, addr, start, size);
}
