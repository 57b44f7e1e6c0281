/*
 * The root set (DESIGN.md rule 2): every page of private memory that the
 * program may have written a pointer into — writable or made read-only
 * since, anonymous or copied on write from a file — that is present or
 * swapped out, less exact address ranges:
 *   - the heap (reached by marking), [heap.start, heap.unused);
 *   - pacegc's and its jemalloc's bookkeeping (meta.h), range by range,
 *     whatever the kernel merged them with in /proc/self/maps;
 *   - the unused part of every live thread stack, below its stopped stack
 *     pointer and never past the stack's own block (stacks.h, or the main
 *     thread's [stack]); a stack whose block is unknown is read whole;
 *   - all but the descriptor of the stack of a thread that has exited.
 * Then kernel-held pointers (kernroots.h) and the stopped threads' slots,
 * whose saved stack pointers keep a stack allocated in the heap alive.
 *
 * roots_plan() is pure: it cuts one mapping by sorted exclusions and
 * stack spans.  roots_collect() gathers the inputs with the world stopped
 * and keeps only the pages resident.h says may hold pointers.
 */
#ifndef PACEGC_ROOTS_H
#define PACEGC_ROOTS_H

#include "maps.h"
#include "threads.h"
#include "util.h"

/* ROOT_HEAP: a run of heap pages written while a concurrent mark ran
 * (dirty.h): the marked allocations in it are read again, their part in
 * the run. */
typedef enum { ROOT_GLOBAL, ROOT_STACK, ROOT_HEAP } root_kind_t;

typedef struct root_range {
  uintptr_t lo, hi;
  root_kind_t kind;
} root_range_t;

typedef struct roots {
  root_range_t *ranges;     /* meta memory */
  size_t n, cap;
  size_t stack_bytes;       /* bytes of stack ranges */
  size_t global_bytes;      /* bytes of every other range but ROOT_HEAP's */
  size_t heap_bytes;        /* bytes of ROOT_HEAP ranges */
  bool overflow;            /* more ranges than fit: the cycle must not sweep */
  bool partial;             /* a kernel queue could not be read whole (transit.h):
                               the cycle must not reclaim */
  kernel_io_t kernel_io;    /* a ring of io_uring or Linux AIO is mapped */
} roots_t;

void roots_add(roots_t *r, uintptr_t lo, uintptr_t hi, root_kind_t kind);

/* Empties r (its table kept for the next use). */
void roots_reset(roots_t *r);

/* Sorts spans by address and merges those that overlap or touch; returns
 * the new count. */
size_t spans_normalize(span_t *s, size_t n);

/* Receives the parts of a mapping that are roots if resident. */
typedef void (*roots_emit_fn)(void *arg, uintptr_t lo, uintptr_t hi, root_kind_t kind,
                              backing_t backing);

typedef struct roots_env {
  const span_t *excluded;   /* normalized: never roots */
  size_t nexcluded;
  const span_t *stacks;     /* normalized: live stack parts */
  size_t nstacks;
  roots_emit_fn emit;
  void *arg;
} roots_env_t;

/* Emits the parts of mapping e that may be roots: e less the excluded
 * spans, split into stack and other parts.  Nothing for mappings that
 * cannot hold the program's pointers: unreadable, [vdso]-like, or shared
 * with a file (which another process may rewrite at any time, and whose
 * pages hold the file's bytes). */
void roots_plan(const map_entry_t *e, const roots_env_t *env);

/* With the world stopped: the whole root set.  self_sp is the collecting
 * thread's lowest live address on the stack it was called on. */
bool roots_collect(roots_t *r, const world_t *w, uintptr_t self_sp);

#endif
