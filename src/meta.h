/*
 * Memory for pacegc's own bookkeeping, straight from mmap and never from
 * malloc.  Every range is recorded so the collector can leave it out of the
 * roots: the object index holds the address of every allocation and would
 * otherwise keep everything alive.
 */
#ifndef PACEGC_META_H
#define PACEGC_META_H

#include <sys/types.h>
#include "util.h"

/* Zeroed, page-aligned, reserve-free memory; NULL on failure. */
void *meta_map(size_t size, const char *name);
void meta_unmap(void *p, size_t size);

/* Moves the first `keep` bytes of `old` (old_size bytes, or NULL) into a
 * fresh mapping of new_size bytes and unmaps `old`.  NULL on failure, with
 * `old` untouched. */
void *meta_grow(void *old, size_t old_size, size_t keep, size_t new_size, const char *name);

/* Makes *p (an array of *cap elements of elem bytes, or NULL) hold at
 * least `need`: doubles its capacity from 256 until it does, keeping the
 * contents.  False, with *p untouched, when there is no memory.  Safe
 * with the world stopped (meta_map takes no lock a mutator can hold). */
bool meta_reserve(void **p, size_t *cap, size_t need, size_t elem, const char *name);

/* Copies the ranges returned by meta_map or mapped by jemalloc for its
 * own bookkeeping (at most cap, in no order); returns how many.  With the
 * world stopped the copy is exact: no writer is parked half-way. */
#define META_MAX_RANGES 1024
size_t meta_snapshot(span_t *out, size_t cap);

/* Bytes currently mapped for bookkeeping (virtual). */
size_t meta_mapped_bytes(void);

#endif
