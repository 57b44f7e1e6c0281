/*
 * One collection cycle, end to end: mark (with the world stopped, or
 * beside the program between two short stops: dirty.h), report to the
 * pacer and the trace, start the sweep that the allocating threads share
 * (sweep.h) and settle it when it ends.
 *
 * The heap tells gc.c how many bytes were allocated and freed (in batches,
 * per thread); gc.c decides when a cycle starts.  A heap-triggered cycle
 * runs on the background collector thread (background.h), or on the
 * thread that crossed the trigger when there is none or the heap is over
 * budget; pacegc_collect() and gcstress cycles run on the calling thread.
 * While a concurrent mark runs, threads that allocate assist it.
 */
#ifndef PACEGC_GC_H
#define PACEGC_GC_H

#include <stdatomic.h>
#include "util.h"

/* Reads the configuration, sets the initial trigger and installs the
 * collector's budget in the heap (heap.h). */
void gc_init(void);

typedef enum gc_reason {
  GC_HEAP,     /* the heap reached the trigger; the CPU limiter may put it off */
  GC_STRESS,   /* gcstress */
  GC_USER,     /* pacegc_collect(): "(forced)" in the trace; waits for a running cycle */
  GC_TICK,     /* not a cycle: the pacer's tick (pace.h), on pacegc's stack */
} gc_reason_t;

/* Runs a cycle now, unless one is running (GC_USER waits for it).  After
 * a stop failed, GC_HEAP and GC_STRESS cycles wait for a while. */
void gc_collect(gc_reason_t why);

/* The collector's part of pacegc_read_stats(). */
struct pacegc_stats;
void gc_read_stats(struct pacegc_stats *out);

/* fork: a cycle in progress finishes first; the child starts clean. */
void gc_before_fork(void);
void gc_after_fork_parent(void);
void gc_after_fork_child(void);

#endif
