/*
 * Marking: from the roots, conservatively.  Any word that points at or
 * into a live allocation (interior pointers included) marks it, and its
 * words are scanned in turn.  Runs with the world stopped; frees nothing.
 */
#ifndef PACEGC_MARK_H
#define PACEGC_MARK_H

#include "roots.h"

typedef struct mark_result {
  size_t marked_bytes;     /* usable bytes of the allocations reached */
  size_t marked_objects;
  size_t heap_scan_bytes;  /* bytes of allocations scanned */
  size_t root_scan_bytes;  /* bytes of root ranges scanned */
  bool overflowed;         /* the mark stack overflowed at least once */
  bool unborn_lost;        /* a stack word that may be an allocation being
                              published could not be kept: the cycle must
                              not reclaim (mark.c) */
} mark_result_t;

/* Clears every mark bit of the heap's used part. */
void mark_clear(void);

/* Marks everything reachable from the roots with `nmarkers` markers: the
 * calling thread and nmarkers-1 helpers (markers.c). */
void mark_from_roots(const roots_t *roots, int nmarkers, mark_result_t *out);

/* One marker's share of the work; markers.c calls it on each helper. */
void mark_work(int id);

#endif
