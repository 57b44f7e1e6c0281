/*
 * jemalloc's own API, exported as Debian's libjemalloc exports it, so that
 * a program linked with jemalloc (redis, and many others) reaches
 * pacegc's jemalloc and the object index stays exact (issue 8, item 14).
 * Without these, a program's mallocx or mallctl would reach a second
 * jemalloc that knows nothing of pacegc's allocations.
 *
 *   - mallocx, rallocx, xallocx, sallocx, dallocx, sdallocx, nallocx:
 *     served by the heap, like malloc and friends, with their flags
 *     (alignment, zeroing, a tcache, an arena), except an arena without
 *     pacegc's hooks: only those lie inside its range;
 *   - mallctl, mallctlnametomib, mallctlbymib, malloc_stats_print: reach
 *     pacegc's jemalloc, except the controls that would take allocations
 *     out of the range or free them behind the index (moving a thread to
 *     another arena, replacing an arena's hooks, resetting or destroying
 *     an arena, starting background threads), which fail with EPERM; an
 *     arena created through "arenas.create" gets pacegc's hooks;
 *   - operator new and delete, as libjemalloc and every C++ allocator
 *     define them: the heap serves them, and when it cannot, the next
 *     definition (libstdc++'s) runs the new-handler and throws.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "heap.h"
#include "os.h"
#include "range.h"

/* The private jemalloc's renamed entry points. */
size_t pacegc_je_nallocx(size_t size, int flags);
int pacegc_je_mallctl(const char *name, void *old, size_t *oldlen, void *new_, size_t newlen);
int pacegc_je_mallctlnametomib(const char *name, size_t *mib, size_t *miblen);
int pacegc_je_mallctlbymib(const size_t *mib, size_t miblen, void *old, size_t *oldlen,
                           void *new_, size_t newlen);
void pacegc_je_malloc_stats_print(void (*write_cb)(void *, const char *), void *opaque,
                                  const char *opts);

#define FLAGS_LG_ALIGN 0x3f
#define FLAGS_ZERO 0x40
#define FLAGS_TCACHE_ARENA (~0xff)   /* MALLOCX_TCACHE and MALLOCX_ARENA */

/* ---- allocations ---- */

EXPORT void *mallocx(size_t size, int flags) {
  return flags == 0 ? heap_malloc(size) : heap_mallocx(size, flags);
}

/* Moves unless the heap's own realloc would do: an alignment, zeroing of
 * the new bytes, a tcache or an arena asked for. */
EXPORT void *rallocx(void *p, size_t size, int flags) {
  if (flags == 0) return heap_realloc(p, size ? size : 1);
  size_t old = heap_usable_size(p);
  if (old == 0) return NULL;           /* not an allocation: reported */
  void *q = heap_mallocx(size, flags);
  if (q == NULL) return NULL;
  memcpy(q, p, old < size ? old : size);
  heap_free(p, "rallocx");
  return q;
}

EXPORT size_t xallocx(void *p, size_t size, size_t extra, int flags) {
  (void)flags;
  return heap_resize_in_place(p, size, extra);
}

EXPORT size_t sallocx(const void *p, int flags) {
  (void)flags;
  return heap_usable_size(p);
}

EXPORT void dallocx(void *p, int flags) {
  (void)flags;
  if (p != NULL) heap_free(p, "dallocx");
}

EXPORT void sdallocx(void *p, size_t size, int flags) {
  (void)size;
  (void)flags;
  if (p != NULL) heap_free(p, "sdallocx");
}

/* The size mallocx gives: the heap never hands out less than a granule. */
EXPORT size_t nallocx(size_t size, int flags) {
  heap_ensure_init();
  return pacegc_je_nallocx(size < GRANULE ? GRANULE : size, flags & ~FLAGS_TCACHE_ARENA);
}

/* ---- controls ---- */

/* Controls a program may read but not write ("arena.<i>.x" matches any
 * arena index), and those it may not use at all.  jemalloc's background
 * threads are refused too: it allocates their descriptors in arena 0,
 * outside the range (pacegc's scavenger returns free pages instead). */
static const char *const write_refused[] = { "thread.arena", "arena.<i>.extent_hooks",
                                             "background_thread", "max_background_threads" };
static const char *const use_refused[] = { "arena.<i>.reset", "arena.<i>.destroy" };

static bool name_matches(const char *name, const char *pattern) {
  const char *any = strstr(pattern, "<i>");
  if (any == NULL) return strcmp(name, pattern) == 0;
  size_t head = (size_t)(any - pattern);
  if (strncmp(name, pattern, head) != 0) return false;
  const char *s = name + head;
  if (*s < '0' || *s > '9') return false;
  while (*s >= '0' && *s <= '9') s++;
  return strcmp(s, any + 3) == 0;
}

static bool refused(const char *name, bool writes) {
  for (size_t i = 0; i < sizeof use_refused / sizeof use_refused[0]; i++)
    if (name_matches(name, use_refused[i])) return true;
  for (size_t i = 0; writes && i < sizeof write_refused / sizeof write_refused[0]; i++)
    if (name_matches(name, write_refused[i])) return true;
  return false;
}

EXPORT int mallctl(const char *name, void *old, size_t *oldlen, void *new_, size_t newlen) {
  heap_ensure_init();
  if (refused(name, new_ != NULL)) return EPERM;
  if (strcmp(name, "arenas.create") == 0) {
    if (new_ != NULL) return EPERM;    /* hooks of its own: outside the range */
    return range_create_arena(old, oldlen);
  }
  return pacegc_je_mallctl(name, old, oldlen, new_, newlen);
}

EXPORT int mallctlnametomib(const char *name, size_t *mib, size_t *miblen) {
  heap_ensure_init();
  return pacegc_je_mallctlnametomib(name, mib, miblen);
}

/* A MIB names its control by numbers: the refused ones are looked up once
 * and compared, an arena index standing for any. */
typedef struct mib_pattern { size_t mib[4]; size_t len; ssize_t any; bool writes; } mib_pattern_t;

static bool mib_refused(const size_t *mib, size_t miblen, bool writes) {
  static mib_pattern_t pats[6];
  static _Atomic int npats = -1;
  if (atomic_load(&npats) < 0) {
    static const struct { const char *name; ssize_t any; bool writes; } names[] = {
      { "thread.arena", -1, true }, { "arena.0.extent_hooks", 1, true },
      { "arena.0.reset", 1, false }, { "arena.0.destroy", 1, false },
      { "background_thread", -1, true }, { "max_background_threads", -1, true },
    };
    int n = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      pats[n].len = 4;
      if (pacegc_je_mallctlnametomib(names[i].name, pats[n].mib, &pats[n].len) == 0) {
        pats[n].any = names[i].any;
        pats[n].writes = names[i].writes;
        n++;
      }
    }
    atomic_store(&npats, n);
  }
  for (int i = 0; i < atomic_load(&npats); i++) {
    const mib_pattern_t *p = &pats[i];
    if (p->len != miblen || (p->writes && !writes)) continue;
    bool same = true;
    for (size_t k = 0; k < miblen && same; k++) same = (ssize_t)k == p->any || mib[k] == p->mib[k];
    if (same) return true;
  }
  size_t create[2], clen = 2;
  return pacegc_je_mallctlnametomib("arenas.create", create, &clen) == 0 && miblen == clen &&
         memcmp(mib, create, clen * sizeof *mib) == 0;
}

EXPORT int mallctlbymib(const size_t *mib, size_t miblen, void *old, size_t *oldlen, void *new_,
                        size_t newlen) {
  heap_ensure_init();
  if (mib_refused(mib, miblen, new_ != NULL)) return EPERM;
  return pacegc_je_mallctlbymib(mib, miblen, old, oldlen, new_, newlen);
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *opaque,
                               const char *opts) {
  heap_ensure_init();
  pacegc_je_malloc_stats_print(write_cb, opaque, opts);
}

/* ---- C++'s operator new and delete ----
 * Itanium C++ ABI names.  new gets the heap's memory; when there is none,
 * the next operator new in the search order (libstdc++'s) calls the
 * new-handler, retries, and throws std::bad_alloc (or returns NULL, the
 * nothrow forms), as the language asks. */

typedef struct nothrow nothrow_t;
typedef size_t align_val_t;

/* The operator new after pacegc's, for what only the C++ runtime can do. */
#define NEXT(type, sym, args) \
  do { \
    static type next; \
    if (next == NULL) next = (type)os_libc(sym); \
    return next ? next args : NULL; \
  } while (0)

typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const nothrow_t *);
typedef void *(*new_aligned_fn)(size_t, align_val_t);
typedef void *(*new_aligned_nothrow_fn)(size_t, align_val_t, const nothrow_t *);

#define NEW(sym) \
  EXPORT void *sym(size_t n) { \
    void *p = heap_malloc(n); \
    if (likely(p != NULL)) return p; \
    NEXT(new_fn, #sym, (n)); \
  }
#define NEW_NOTHROW(sym) \
  EXPORT void *sym(size_t n, const nothrow_t *nt) { \
    void *p = heap_malloc(n); \
    if (likely(p != NULL)) return p; \
    NEXT(new_nothrow_fn, #sym, (n, nt)); \
  }
#define NEW_ALIGNED(sym) \
  EXPORT void *sym(size_t n, align_val_t a) { \
    void *p = heap_memalign(a, n); \
    if (likely(p != NULL)) return p; \
    NEXT(new_aligned_fn, #sym, (n, a)); \
  }
#define NEW_ALIGNED_NOTHROW(sym) \
  EXPORT void *sym(size_t n, align_val_t a, const nothrow_t *nt) { \
    void *p = heap_memalign(a, n); \
    if (likely(p != NULL)) return p; \
    NEXT(new_aligned_nothrow_fn, #sym, (n, a, nt)); \
  }

NEW(_Znwm)
NEW(_Znam)
NEW_NOTHROW(_ZnwmRKSt9nothrow_t)
NEW_NOTHROW(_ZnamRKSt9nothrow_t)
NEW_ALIGNED(_ZnwmSt11align_val_t)
NEW_ALIGNED(_ZnamSt11align_val_t)
NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t)
NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t)

/* Every operator delete is free: the sizes, alignments and nothrow tags
 * of the other forms carry nothing the heap needs. */
#define DELETE(sym, ...) \
  EXPORT void sym(void *p, ##__VA_ARGS__) { if (p != NULL) heap_free(p, "delete"); }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
DELETE(_ZdlPv)
DELETE(_ZdaPv)
DELETE(_ZdlPvm, size_t n)
DELETE(_ZdaPvm, size_t n)
DELETE(_ZdlPvRKSt9nothrow_t, const nothrow_t *nt)
DELETE(_ZdaPvRKSt9nothrow_t, const nothrow_t *nt)
DELETE(_ZdlPvSt11align_val_t, align_val_t a)
DELETE(_ZdaPvSt11align_val_t, align_val_t a)
DELETE(_ZdlPvmSt11align_val_t, size_t n, align_val_t a)
DELETE(_ZdaPvmSt11align_val_t, size_t n, align_val_t a)
DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, align_val_t a, const nothrow_t *nt)
DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, align_val_t a, const nothrow_t *nt)
#pragma GCC diagnostic pop
