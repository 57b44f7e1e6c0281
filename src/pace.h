/*
 * The pacer as the collector drives it: src/pacer.c decides, this file
 * measures and feeds it.  It owns the one pacer_t of the process and the
 * clocks the CPU limiter needs; the collector reaches the pacer only
 * through the calls below.
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

struct pacegc_stats;

void pace_init(const pacegc_config_t *c, int64_t now);

/* The trigger and goal in bytes of heap_live; INT64_MAX means never. */
int64_t pace_trigger(void);
int64_t pace_heap_goal(void);

/* Whether the memory limit, not GOGC, sets the goal. */
bool pace_limit_sets_goal(void);

/* A mark begins (pc: the cycle's inputs; pacer_begin) and ends, with the
 * world stopped (pacer_finish_cycle). */
void pace_mark_begin(const pacer_cycle_t *pc);
void pace_mark_end(const pacer_cycle_t *pc);

/* While a concurrent mark runs: the heap is at heap_live bytes and scan
 * work done is scan_work (Go's revise); the scan work an allocated byte
 * owes, 0 while the CPU limiter is full (Go caps assists first); Go's
 * dedicated markers and the fractional share of GOMAXPROCS left over. */
void pace_revise(int64_t heap_live, uint64_t scan_work);
double pace_assist_work_per_byte(void);
void pace_mark_workers(int *dedicated, double *fraction);

/* Collector CPU outside the pauses (markers, assists): the limiter's. */
void pace_add_gc_cpu(int64_t ns);

/* pacegc_read_stats' pacer fields: marked heap, goal, trigger, memory
 * limit, GOGC, the limiter's last engagement. */
void pace_read_stats(struct pacegc_stats *out);
uint32_t pace_limiter_last_enabled(void);

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

/* At the end of a cycle's sweep: the CPU time it took (on any thread). */
void pace_sweep_end(int64_t sweep_ns);

/* The background scavenger, after a sweep: jemalloc's counters and
 * heap_live feed the memory inputs, and free pages over the scavenger's
 * goal go back to the OS (scavenge.h). */
void pace_scavenge(const heap_stats_t *hs, int64_t heap_live);

/* The heap's active bytes when the cycle started (Go's heapInUse at mark
 * termination, for the scavenger's goal). */
void pace_cycle_start(const heap_stats_t *hs);

void pace_after_fork_child(void);

/* The runtime calls (pacegc_set_gogc, pacegc_set_memory_limit): set, then
 * commit; they return the old value. */
int pace_set_gogc(int gogc);
int64_t pace_set_memory_limit(int64_t limit);

#endif
