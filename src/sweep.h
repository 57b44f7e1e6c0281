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

/*
 * A cycle's sweep is a job shared out in chunks of the object index (Go's
 * proportional sweep): threads that allocate while it is unfinished sweep
 * in proportion to what they allocate, so that it ends before the heap
 * reaches the next trigger, whatever the number of threads allocating;
 * the thread that ran the cycle sweeps the rest (gc.c says when).
 * Garbage goes back to jemalloc on the thread that swept it.
 *
 * Invariants:
 *   - a job starts with the world running, allocate-black on and the last
 *     job ended (sweep_finish); the next mark starts only after
 *     sweep_finish, so the marks a job reads stay as the mark left them;
 *   - each chunk is swept once, by one thread, with every signal blocked:
 *     a handler that left it with longjmp would leave it unfinished;
 *   - the job ends once, when every chunk is swept: `done` runs then (on
 *     whichever thread swept last), and its result waits for
 *     sweep_take_result.
 */
typedef void (*sweep_done_fn)(void);

/* Starts a job over the heap's used part.  The heap is at `basis` live
 * bytes, `runway` bytes below the next trigger: allocating threads sweep
 * the job's words over that runway.  empty: a job with nothing to sweep
 * (the mark cannot be trusted), which ends at once. */
void sweep_start(sweep_mode_t mode, sweep_when_t when, sweep_done_fn done, int64_t basis,
                 int64_t runway, bool empty);

/* Whether a job has chunks nobody has taken yet (cheap). */
bool sweep_pending(void);

/* Sweeps chunks until at least `words` state words are swept or none is
 * left to take; the words swept. */
size_t sweep_some(size_t words);

/* An allocating thread's share: sweeps until the job has swept its part
 * of the runway the heap, now `live` bytes, has used. */
void sweep_pay(int64_t live);

/* Sweeps what is left and waits for the chunks other threads are
 * sweeping: no job runs after it. */
void sweep_finish(void);

/* The result of the job that ended last, once: false if there is none
 * not taken yet. */
bool sweep_take_result(sweep_result_t *out);

/* CPU time threads spent sweeping, over all jobs (the part of a job's
 * time a thread adds after the job ended counts toward the next). */
uint64_t sweep_cpu_ns(void);

/* Whether the last job has ended (fork: allocate-black stays on in a
 * child of a fork made while one runs). */
bool sweep_ended(void);

/* fork: sweep_hold keeps chunks from being taken and waits for those
 * being swept; sweep_release lets them be taken again (in the parent;
 * sweep_after_fork_child in the child). */
void sweep_hold(void);
void sweep_release(void);
void sweep_after_fork_child(void);

/* Clears every FLAG bit: allocations condemned by leak reclaim are
 * condemned no more (before frees start setting FLAG, deferred). */
void sweep_clear_flags(void);

#endif
