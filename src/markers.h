/*
 * The marker threads: GOMAXPROCS-1 helpers that mark alongside the
 * collecting thread.  They are pacegc's own threads: every signal blocked,
 * never stopped with the world, stacks from bookkeeping memory (so their
 * stale words are never roots), started outside any stop because
 * pthread_create allocates, and started again lazily after fork.
 */
#ifndef PACEGC_MARKERS_H
#define PACEGC_MARKERS_H

#include <stdint.h>

#define MARKERS_MAX 64

/* Makes sure n-1 helpers exist and are registered; call before stopping
 * the world.  Returns how many markers can run (1 if none could start). */
int markers_prepare(int n);

/* Runs mark_work(0) here and mark_work(1..n-1) on the helpers; returns
 * when all are done.  With the world stopped, or beside the program for a
 * concurrent mark. */
void markers_run(int n);

/* CPU time the helpers spent marking since the last call. */
uint64_t markers_take_cpu_ns(void);

/*
 * A concurrent mark's share of the CPU, as Go's background workers take
 * it (pacer.h, §3.1): markers 0..n-1 run flat out but the last, the
 * fractional worker when `fraction` is above 0, which keeps its CPU time
 * to `fraction` of the time since its first markers_pace() by sleeping
 * there.  markers_pace(id) is called by each marker now and then while
 * the program runs; 0 for `fraction` (the default) never sleeps.
 */
void markers_set_fraction(int fractional_id, double fraction);
void markers_pace(int id);

void markers_after_fork_child(void);

#endif
