/*
 * Allocation-site sampling for the heap profile (PACEGC_PROFILE), the Go
 * runtime's way: on average one allocation in every
 * PACEGC_MEMPROFILERATE bytes is sampled, the intervals drawn from an
 * exponential distribution, so an allocation of s bytes is sampled with
 * probability 1 - exp(-s/rate) whatever came before it and the profile
 * writer can scale the samples back to totals (profile_out.c).
 *
 * A sampled allocation's call stack goes into a bucket (one per stack and
 * size), which counts how many of its samples were allocated, freed by
 * the program and reclaimed by the collector; the allocation itself is
 * remembered by address, and its page entry in the object index says
 * SAMPLED, so that free and the sweep look it up only on such pages.
 * Everything lives in bookkeeping memory (meta.h): the stacks are never
 * roots, and nothing here calls malloc.
 *
 * Costs on the allocation fast path: one thread-local subtract and a
 * branch (heap_publish).  The slow path (a sample) takes the stack with
 * libunwind and a lock; free and the sweep take the lock only for
 * allocations on a SAMPLED page.
 */
#ifndef PACEGC_MEMPROF_H
#define PACEGC_MEMPROF_H

#include "util.h"

/* Frames kept per sample, leaf first (Go keeps 32). */
#define MEMPROF_DEPTH 32

/* Bytes this thread may still allocate before its next sample; starts at
 * 0, so a thread's first allocation takes the slow path and arms it. */
extern __thread int64_t memprof_left;

/* From gc_init: rate bytes on average between samples; 0 turns sampling
 * off (the slow path then parks memprof_left out of reach). */
void memprof_init(int64_t rate);

/* Mean bytes between samples; 0 when off. */
int64_t memprof_rate(void);

/* The allocation at p (usable bytes, indexed already) used up its
 * thread's interval: sample it, and draw the next interval. */
void memprof_sample(uintptr_t p, size_t usable);

/* The allocation at p, on a SAMPLED page, is going back to jemalloc:
 * freed by the program, or reclaimed by the collector.  Call it before
 * the memory can be handed out again. */
typedef enum { MEMPROF_FREED, MEMPROF_RECLAIMED } memprof_end_t;
void memprof_end(uintptr_t p, memprof_end_t how);

/* One call stack and size, and what became of its sampled allocations
 * (in use = allocs - frees - reclaims). */
typedef struct memprof_bucket {
  uintptr_t stack[MEMPROF_DEPTH];   /* return addresses, leaf first */
  uint32_t depth;
  size_t size;                      /* usable bytes of each */
  uint64_t allocs, frees, reclaims;
} memprof_bucket_t;

/* Copies every bucket into *out (an array of *cap buckets in bookkeeping
 * memory, grown as needed, or NULL); returns how many. */
size_t memprof_snapshot(memprof_bucket_t **out, size_t *cap);

/* fork: the tables stay whole across it; the child starts its counts
 * from what it inherited in use. */
void memprof_before_fork(void);
void memprof_after_fork_parent(void);
void memprof_after_fork_child(void);

#endif
