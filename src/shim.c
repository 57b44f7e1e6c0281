/*
 * The exported allocation family.  Each function forwards to the heap (or
 * to stats.c for the glibc introspection calls); the semantics, errno
 * values included, are glibc's.  The other libc functions pacegc wraps
 * live with what they serve: sigwrap.c, fdwrap.c, syswrap.c, restart*.c,
 * stacks.c.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "checks.h"
#include "heap.h"
#include "stats.h"

EXPORT void *malloc(size_t n) {
  CHECK_NOT_STOPPED();
  return heap_malloc(n);
}

EXPORT void free(void *p) {
  CHECK_NOT_STOPPED();
  if (likely(p != NULL)) heap_free(p, "free");
}

EXPORT void *calloc(size_t nmemb, size_t size) {
  CHECK_NOT_STOPPED();
  return heap_calloc(nmemb, size);
}

EXPORT void *realloc(void *p, size_t n) {
  CHECK_NOT_STOPPED();
  return heap_realloc(p, n);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) {
  return heap_reallocarray(p, nmemb, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t n) {
  return heap_posix_memalign(out, alignment, n);
}

EXPORT void *aligned_alloc(size_t alignment, size_t n) { return heap_memalign(alignment, n); }
EXPORT void *memalign(size_t alignment, size_t n) { return heap_memalign(alignment, n); }
EXPORT void *valloc(size_t n) { return heap_memalign(PAGE_SIZE, n); }
EXPORT void *pvalloc(size_t n) { return heap_pvalloc(n); }

EXPORT size_t malloc_usable_size(void *p) { return heap_usable_size(p); }

EXPORT void free_sized(void *p, size_t size) {
  (void)size;
  free(p);
}

EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size) {
  (void)alignment;
  (void)size;
  free(p);
}

EXPORT struct mallinfo2 mallinfo2(void) { return stats_mallinfo2(); }
EXPORT struct mallinfo mallinfo(void) { return stats_mallinfo(); }
EXPORT int malloc_trim(size_t pad) { return stats_malloc_trim(pad); }
EXPORT int mallopt(int param, int value) { return stats_mallopt(param, value); }
EXPORT void malloc_stats(void) { stats_malloc_stats(); }
EXPORT int malloc_info(int options, FILE *fp) { return stats_malloc_info(options, fp); }
