/*
 * The root set (DESIGN.md rule 2): all writable private memory outside the
 * heap, found in /proc/self/maps each cycle, less pacegc's and jemalloc's
 * bookkeeping and less the unused part of every stopped thread's stack.
 *
 * roots_plan() is pure: it turns map lines into root ranges, given the
 * heap range, a test for bookkeeping memory and the stopped threads'
 * stack pointers.  roots_collect() reads /proc/self/maps (with the world
 * stopped: open/read only, no malloc, no stdio) and calls it.
 */
#ifndef PACEGC_ROOTS_H
#define PACEGC_ROOTS_H

#include "util.h"
#include "threads.h"

typedef enum { ROOT_GLOBAL, ROOT_STACK } root_kind_t;

typedef struct root_range {
  uintptr_t lo, hi;
  root_kind_t kind;
} root_range_t;

typedef struct roots {
  root_range_t *ranges;     /* meta memory */
  size_t n, cap;
  size_t stack_bytes;       /* bytes of stack ranges */
  size_t global_bytes;      /* bytes of every other range */
  bool overflow;            /* more ranges than fit: the cycle must not sweep */
} roots_t;

/* One line of /proc/self/maps. */
typedef struct map_entry {
  uintptr_t lo, hi;
  bool readable, writable, private_;
  char path0;               /* first character of the path, 0 if anonymous */
  bool special;             /* [vvar], [vdso], [vsyscall] and the like */
} map_entry_t;

bool roots_parse_maps_line(const char *line, size_t len, map_entry_t *out);

typedef struct roots_env {
  uintptr_t heap_lo, heap_hi;
  bool (*is_meta)(uintptr_t lo, uintptr_t hi);
  const uintptr_t *sps;     /* lowest live address of each stopped stack */
  size_t nsps;
} roots_env_t;

/* Adds the root ranges of one mapping. */
void roots_plan(roots_t *r, const map_entry_t *e, const roots_env_t *env);
void roots_add(roots_t *r, uintptr_t lo, uintptr_t hi, root_kind_t kind);

/* With the world stopped: the whole root set.  `self_sp` is the
 * collecting thread's own lowest live stack address. */
bool roots_collect(roots_t *r, const world_t *w, uintptr_t self_sp);

#endif
