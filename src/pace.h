/*
 * The pacer as the collector drives it: src/pacer.c decides, this file
 * measures and feeds it.  It owns the one pacer_t of the process and the
 * clocks the CPU limiter needs.
 *
 *   - heap: gc.c reports each cycle (pacer_begin/pacer_finish_cycle);
 *   - memory (the soft limit's R, F, A): read from jemalloc's counters at
 *     the end of every cycle and, while a limit is set, on each tick;
 *   - CPU limiter: each pause counts as GC time on every proc, the sweep
 *     as an assist (it runs on the threads that allocate), the rest of the
 *     process's CPU time as mutator time, proc time no thread used or
 *     waited for (runwait.h) as idle.
 *
 * A tick runs at most every PACER_LIMITER_PERIOD (10 ms) from the
 * allocation slow path.  Every pace_* call except pace_tick_due() runs
 * under gc.c's lock (the pacer is not thread-safe).
 */
#ifndef PACEGC_PACE_H
#define PACEGC_PACE_H

#include "config.h"
#include "heap.h"
#include "pacer.h"

extern pacer_t pace_pacer;

void pace_init(const pacegc_config_t *c, int64_t now);

/* The trigger and goal in bytes of heap_live; INT64_MAX means never. */
int64_t pace_trigger(void);

/* Whether a tick is due at `now` (lock-free, cheap). */
bool pace_tick_due(int64_t now);
/* The tick: updates the limiter and, with a memory limit, the memory
 * inputs; scavenges for the limit.  heap_live: gc.c's live bytes. */
void pace_tick(int64_t now, int64_t heap_live);

/* For a heap-triggered cycle: false while the CPU limiter has no room for
 * a pause as long as the last one (the cycle is put off). */
bool pace_cycle_allowed(int64_t now);

/* Around a stop-the-world pause, t0 before stopping, t1 after resuming. */
void pace_pause_begin(int64_t t0);
void pace_pause_end(int64_t t1);

/* At the end of a cycle's marking: how long the world stood still. */
void pace_cycle_end(int64_t pause_ns);

/* At the end of a cycle's sweep: the time it took (on any thread),
 * jemalloc's counters after it and heap_live; runs the background
 * scavenger. */
void pace_sweep_end(int64_t sweep_ns, const heap_stats_t *hs, int64_t heap_live);

/* The heap's active bytes when the cycle started (Go's heapInUse at mark
 * termination, for the scavenger's goal). */
void pace_cycle_start(const heap_stats_t *hs);

void pace_after_fork_child(void);

/* The runtime calls (pacegc_set_gogc, pacegc_set_memory_limit): set, then
 * commit; they return the old value. */
int pace_set_gogc(int gogc);
int64_t pace_set_memory_limit(int64_t limit);

#endif
