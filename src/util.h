/* Small helpers shared by every part: branch hints, inlining, alignment. */
#ifndef PACEGC_UTIL_H
#define PACEGC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define NOINLINE      __attribute__((noinline))
#define COLD          __attribute__((cold, noinline))
#define EXPORT        __attribute__((visibility("default")))

#define PAGE_SHIFT 12
#define PAGE_SIZE  ((size_t)1 << PAGE_SHIFT)

/* Every allocation starts on a 16-byte granule, as glibc guarantees. */
#define GRANULE_SHIFT 4
#define GRANULE       ((size_t)1 << GRANULE_SHIFT)

/* A range of addresses [lo, hi). */
typedef struct span { uintptr_t lo, hi; } span_t;

ALWAYS_INLINE uintptr_t align_up(uintptr_t x, uintptr_t a)   { return (x + a - 1) & ~(a - 1); }
ALWAYS_INLINE uintptr_t align_down(uintptr_t x, uintptr_t a) { return x & ~(a - 1); }
ALWAYS_INLINE bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* Sorts a[0..n) of type T so that LESS(a[i], a[i-1]) holds nowhere, by
 * Shell's method: no recursion and no allocation, so it may run with the
 * world stopped; meant for up to some thousands of elements. */
#define SHELL_SORT(T, a, n, LESS)                                            \
  do {                                                                       \
    for (size_t gap_ = (n) / 2; gap_ > 0; gap_ /= 2)                         \
      for (size_t i_ = gap_; i_ < (n); i_++) {                               \
        T x_ = (a)[i_];                                                      \
        size_t j_ = i_;                                                      \
        for (; j_ >= gap_ && LESS(x_, (a)[j_ - gap_]); j_ -= gap_)           \
          (a)[j_] = (a)[j_ - gap_];                                          \
        (a)[j_] = x_;                                                        \
      }                                                                      \
  } while (0)
#define LESS_BY_LO(x, y) ((x).lo < (y).lo)

/* The lowercase hex number at s[i...len): its value in *out; returns the
 * index past it, or 0 if there is no digit at i. */
static inline size_t parse_hex(const char *s, size_t len, size_t i, uintptr_t *out) {
  uintptr_t v = 0;
  size_t start = i;
  for (; i < len; i++) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
               : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
    if (d == 16) break;
    v = v * 16 + d;
  }
  *out = v;
  return i > start ? i : 0;
}

#endif
