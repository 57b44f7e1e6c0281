/*
 * Stopping the world: every thread of the process parks in a signal
 * handler, recording where its live stack begins, until the collector
 * resumes it.
 *
 * A thread parks wherever the signal finds it, inside jemalloc included:
 * deferring the park to the end of an allocation path could leave it
 * waiting for a lock an already parked thread holds, and the world would
 * never stop.  Rule 4 of DESIGN.md holds without a deferral: allocations
 * made while a sweep runs are marked first, and realloc keeps the old
 * allocation indexed until its copy is done (heap.c).
 */
#ifndef PACEGC_THREADS_H
#define PACEGC_THREADS_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include "util.h"

typedef struct thread_ctl {
  volatile uintptr_t stack_hint;       /* an address on this thread's normal
                                          stack, 0 until first known */
  volatile sig_atomic_t suspends;      /* suspend signals this thread took:
                                          tells whether an EINTR was ours */
  volatile sig_atomic_t handled;       /* program handlers this thread ran
                                          (handlers.c): whether it was not
                                          ours alone */
} thread_ctl_t;

/* Initial-exec: the suspend handler reads it, and a dynamic TLS access
 * (__tls_get_addr) may allocate. */
extern __thread thread_ctl_t thread_ctl __attribute__((tls_model("initial-exec")));

/* Records thread_ctl.stack_hint unless running on a sigaltstack (the
 * handler also records it from the interrupted stack pointer). */
COLD void threads_note_stack(void);

/*
 * What the collector needs to know of one stopped thread.
 *
 * Scan [sp, top) of the stack sp lies on: [sp, alt_hi) if alt_lo != 0,
 * else up to the end of sp's stack mapping.  That range holds the
 * kernel's signal frame (every register, FP/SIMD included) and the
 * interrupted frames.  When the handler ran on the alternate stack, the
 * thread's normal stack must be scanned as well: from normal_sp up if
 * normal_sp != 0, else the whole mapping holding stack_hint (the thread
 * was already inside one of its own handlers on that stack, so where its
 * normal stack ends is unknown).
 */
typedef struct stopped_thread {
  pid_t tid;
  uintptr_t sp;          /* lowest live address of the stack the park ran on */
  uintptr_t alt_lo;      /* the active sigaltstack if sp lies on it, else 0 */
  uintptr_t alt_hi;
  uintptr_t normal_sp;   /* when sp is on the alt stack and the thread was
                            interrupted on its normal stack: that stack's
                            lowest live address (red zone included), else 0 */
  uintptr_t stack_hint;  /* an address on the thread's normal stack, or 0 */
} stopped_thread_t;

typedef struct world {
  stopped_thread_t *threads;   /* meta memory, owned by threads.c; valid
                                  until threads_start_world() */
  size_t nthreads;
  size_t capacity;
} world_t;

/* The signal pacegc parks threads with (a real-time signal), 0 before
 * threads_init() or if none was free. */
int threads_suspend_signal(void);

/* Installs the suspend handler; idempotent.  Called at start-up. */
void threads_init(void);

/*
 * Parks every other thread of the process (found in /proc/self/task,
 * re-listed until stable) except pacegc's own collector threads.  The
 * calling thread is not in *w: it scans its own stack and registers.
 * Returns false, with every thread resumed, if some thread does not park
 * within timeout_ms, if another stop is in progress, or if more threads
 * appeared than there were slots (the next stop has more).  Never calls
 * malloc, stdio or dl_iterate_phdr.
 */
bool threads_stop_world(world_t *w, unsigned timeout_ms);

/* Resumes the world and returns once every parked thread has left the
 * park.  A no-op unless the caller holds a successful stop. */
void threads_start_world(world_t *w);

/* pacegc's own threads (markers, sweeper) register so they are not
 * stopped; they must block every signal first (pthread_sigmask with a
 * full set), and unregister before they exit so that a later thread
 * reusing the tid is stopped.  False if the table is full: the thread is
 * then stopped like any other, and must not block the suspend signal. */
bool threads_register_collector(void);
void threads_unregister_collector(void);

/* fork: called in the child, which has only the forking thread. */
void threads_after_fork_child(void);

/* Wrappers' logic, called from shim.c's exported libc wrappers: keep the
 * suspend signal unblocked and pacegc's handler installed. */
void threads_filter_mask(sigset_t *set);
bool threads_is_suspend_signal(int sig);

#endif
