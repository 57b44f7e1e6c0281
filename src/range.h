/*
 * The address range the heap lives in, and jemalloc's extent hooks on it.
 * Every user allocation lies in [heap.start, heap.end), so "could this
 * word point into the heap" is one subtraction and one compare; the
 * object index covers the whole range.
 *
 * Without RLIMIT_AS the range is reserved at start-up (up to 1 TiB,
 * PROT_NONE, nothing committed) and pages become readable and writable
 * as jemalloc takes them.  Under RLIMIT_AS a reservation would count
 * against the limit as much as memory does, and leave the program half
 * its address space (issue 8, item 15): the range is then a window of the
 * limit's size in a part of the address space the kernel cannot reach by
 * itself, mapped piece by piece as jemalloc takes it, and its single
 * arena lets any thread reuse what another freed.  Either way the part
 * handed out, [heap.start, heap.unused), is mapped whole: nothing else can
 * lie inside it.
 */
#ifndef PACEGC_RANGE_H
#define PACEGC_RANGE_H

#include <stddef.h>
#include "util.h"

/* Sets up the range and the object index over it; false if impossible. */
bool range_init(void);

/* Creates pacegc's arenas (heap.first_arena, heap.narenas). */
bool range_create_arenas(void);

/* jemalloc's "arenas.create" with pacegc's hooks; mallctl's result, the
 * new arena's index in *index (unsigned, *len bytes) if index is given. */
int range_create_arena(void *index, size_t *len);

/* Whether arena `ind` has pacegc's hooks. */
bool range_arena_is_own(unsigned ind);

/* Whether the range is reserved whole (not mapped piece by piece under
 * RLIMIT_AS): its used part then stays mapped, readable, for the
 * process's life, and a concurrent mark may read any of it. */
bool range_reserved(void);


#endif
