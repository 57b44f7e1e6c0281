/*
 * How long the process's threads waited for a CPU they could have run on:
 * the run-queue delay the kernel keeps per thread (the second field of
 * /proc/self/task/<tid>/schedstat).
 *
 * The CPU limiter (pacer.h §4) must tell a proc that had nothing to run
 * (idle: in Go an idle P, neither GC nor mutator time) from one whose
 * thread was runnable while the machine ran another process (in Go a
 * running P: mutator time).  Process CPU alone counts the second as idle:
 * on a busy machine the mutator's share shrank, a pause (charged in wall
 * time on every proc) loomed large against it, and the limiter engaged on
 * programs with no memory limit and let their heaps pass the goal.
 *
 * A sample reads the file of each thread that has a record (blocking.h),
 * except one that has sat inside the same blocking call since the last
 * sample (it waited for nothing), and gives the ratio of waiting to
 * running over the sample; the limiter applies it to the process CPU of
 * each tick.  Samples are at least RUNWAIT_PERIOD apart and at least a
 * hundred times their own cost: a thousand running threads cost no more
 * than one in a hundred of a CPU.
 */
#ifndef PACEGC_RUNWAIT_H
#define PACEGC_RUNWAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A thread's schedstat as of the last sample, kept in its record. */
typedef struct runwait_seen {
  pid_t tid;            /* whose reading this is: records change owners */
  uint32_t calls;       /* the owner's blocking calls opened by then */
  bool inside;          /* inside one then */
  uint64_t cpu_ns;      /* time on a CPU */
  uint64_t wait_ns;     /* time runnable on a run queue */
} runwait_seen_t;

/* Run-queue wait per CPU-ns of the process's threads: a new sample when
 * one is due at `now`, else the last.  0 until a sample saw CPU time.
 * Under gc.c's lock (the samples share a record's `seen`). */
double runwait_ratio(int64_t now);

/* The last sample's ratio, without sampling. */
double runwait_last(void);

#endif
