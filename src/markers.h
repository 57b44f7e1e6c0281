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

/* With the world stopped: runs mark_work(0) here and mark_work(1..n-1) on
 * the helpers; returns when all are done. */
void markers_run(int n);

/* CPU time the helpers spent in the last markers_run. */
uint64_t markers_last_cpu_ns(void);

void markers_after_fork_child(void);

#endif
