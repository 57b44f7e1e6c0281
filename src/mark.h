/*
 * Marking: from the roots, conservatively.  Any word that points at or
 * into a live allocation (interior pointers included) marks it, and its
 * words are scanned in turn.  Frees nothing.
 *
 * A stop-the-world mark is mark_from_roots().  A concurrent one is
 * mark_begin(), then mark_ranges() as often as there is something to read
 * — the roots, then the pages written meanwhile (dirty.h), the program
 * running — and a last mark_ranges() and mark_end() with the world
 * stopped.  Allocations made in between are marked as they are made
 * (heap_allocate_black): they need no tracing, only their written pages.
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
  bool unreadable;         /* a root range could not be read (no memory to
                              copy it to, or process_vm_readv refused): the
                              cycle must not reclaim */
} mark_result_t;

/* Clears every mark bit of the heap's used part. */
void mark_clear(void);

/* Marks everything reachable from the roots with `nmarkers` markers: the
 * calling thread and nmarkers-1 helpers (markers.c); the world stopped. */
void mark_from_roots(const roots_t *roots, int nmarkers, mark_result_t *out);

/* Starts a mark: nothing counted yet; words are taken for pointers only
 * into the heap's used part as of now (what is allocated later is marked
 * already).  Mark bits must be clear (mark_clear). */
void mark_begin(void);

/* Marks from `ranges` (ROOT_HEAP runs read as scan_heap_run says) until
 * nothing is left to scan.  concurrent: the program runs (memory outside
 * the heap is read by copy; markers_pace() paces the markers). */
void mark_ranges(const roots_t *ranges, int nmarkers, bool concurrent);

/* With the world stopped, after the last mark_ranges(): the overflow
 * pass, the allocations being published, and the totals since
 * mark_begin(). */
void mark_end(mark_result_t *out);

/*
 * Mark assists (Go's gcAssistAlloc): a program thread that allocates
 * while a concurrent mark runs scans up to `budget` bytes of allocations
 * taken from the markers' shared work, and gives back what it did not
 * get to; returns the bytes it scanned (0 when there is no work to take
 * or assists are closed).  The caller blocks every signal around it, so
 * the thread never parks holding work or the work lock.  gc.c opens
 * assists once the first stop is over and closes them with the world
 * stopped at the final one.
 */
void mark_assists(bool open);
size_t mark_assist(size_t budget);

/* Bytes scanned since mark_begin(), roughly (read while markers run). */
size_t mark_scan_progress(void);

/* One marker's share of the work; markers.c calls it on each helper. */
void mark_work(int id);

#endif
