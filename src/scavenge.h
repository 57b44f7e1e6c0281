/*
 * The scavenger: gives free pages back to the OS, as the Go runtime's does
 * (shared/research/go-pacer.md §5), with jemalloc's purge in place of Go's
 * page-by-page release.
 *
 * Its two goals are the pacer's (pacer_scavenge_goals, pacer.h).
 * Background: at the end of a cycle and on every tick, free pages go while
 * retained > gcpercent or R > memory_limit.  Eager (Go's allocation-time
 * scavenging): the same release counts as eager when R is above the limit
 * itself, and is skipped while the CPU limiter is on.
 *
 * jemalloc purges an arena's free pages as a whole, not a byte count, so
 * where Go releases the excess over the goal pacegc releases every free
 * page: the heap then grows into fresh pages, which costs page faults but
 * never holds more than Go would.
 */
#ifndef PACEGC_SCAVENGE_H
#define PACEGC_SCAVENGE_H

#include "heap.h"
#include "pacer.h"

/* Held memory: what the memory limit counts (jemalloc resident plus
 * pacegc's bookkeeping). */
static inline uint64_t scavenge_held(const heap_stats_t *s) {
  return (uint64_t)s->resident + s->bookkeeping;
}

/* Retained heap pages: in use plus free ones not yet returned (Go's
 * heapInUse + heapFree). */
static inline uint64_t scavenge_retained(const heap_stats_t *s) {
  return (uint64_t)s->active + s->dirty;
}

/* Releases free pages if s is over a goal; `eager` says the release is
 * for the limit itself.  Returns bytes released; s is updated. */
size_t scavenge_run(const pacer_scavenge_goals_t *g, heap_stats_t *s, bool eager);

/* malloc_trim and pacegc_free_os_memory: releases every free page now and,
 * with scavtrace, prints a "(forced)" line. */
size_t scavenge_force(void);

/* With scavtrace: prints the work since the last line. */
void scavenge_trace(const heap_stats_t *s);

/* Bytes released in all. */
uint64_t scavenge_released_total(void);

#endif
