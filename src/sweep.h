/*
 * Sweeping: after the world resumes, every allocation the mark did not
 * reach is dealt with according to the free mode (DESIGN.md rules 1, 5):
 *
 *   leak reclaim (free honoured or ignored): an unreached allocation is
 *     reclaimed by the first cycle that finds it unreached (the default);
 *     with a reclaim delay, condemned (FLAG) by a cycle and reclaimed by a
 *     later one that finds it unreached again, at least the delay after
 *     condemning it;
 *   deferred free: an allocation the program freed (FLAG) is released by
 *     the first cycle that does not reach it; nothing else is reclaimed;
 *   dry run (reclaim off): counts, releases nothing.
 *
 * Races with free() are settled by the state word: only a compare-and-swap
 * that still sees START set takes an allocation.
 */
#ifndef PACEGC_SWEEP_H
#define PACEGC_SWEEP_H

#include "util.h"

typedef enum { SWEEP_LEAKS, SWEEP_DEFERRED, SWEEP_DRY_RUN } sweep_mode_t;

typedef struct sweep_result {
  size_t freed_bytes, freed_objects;         /* released to jemalloc */
  size_t condemned_bytes, condemned_objects; /* found unreached once, kept */
  size_t unreached_bytes, unreached_objects; /* not reached by this mark */
  size_t dangling_bytes, dangling_objects;   /* freed by the program, still reached */
} sweep_result_t;

/* When leaks are reclaimed (SWEEP_LEAKS):
 *   SWEEP_HOLD     inside the reclaim delay: nothing is reclaimed and
 *                  nothing condemned, so every FLAG dates from one cycle;
 *   SWEEP_CONFIRM  the delay has passed: condemned allocations still
 *                  unreached are reclaimed, the other unreached condemned;
 *   SWEEP_AT_ONCE  no delay (reclaimdelay=0): every unreached allocation is
 *                  reclaimed by the first cycle that finds it so. */
typedef enum { SWEEP_HOLD, SWEEP_CONFIRM, SWEEP_AT_ONCE } sweep_when_t;

void sweep(sweep_mode_t mode, sweep_when_t when, sweep_result_t *out);

/* Clears every FLAG bit: allocations condemned by leak reclaim are
 * condemned no more (before frees start setting FLAG, deferred). */
void sweep_clear_flags(void);

#endif
