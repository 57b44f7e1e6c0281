/*
 * Stopping the world: every thread of the process parks in a signal
 * handler, recording where its live stack begins, until the collector
 * resumes it.
 *
 * Rule 4 of DESIGN.md: a thread inside the shim's allocation path is not
 * parked there.  The path is bracketed by thread_enter_alloc() and
 * thread_leave_alloc(); a suspend signal that lands inside it only sets
 * park_pending, and the thread parks on its way out.
 */
#ifndef PACEGC_THREADS_H
#define PACEGC_THREADS_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include "util.h"

typedef struct thread_ctl {
  volatile sig_atomic_t in_alloc;      /* > 0 inside the allocation path */
  volatile sig_atomic_t park_pending;  /* a stop arrived while in_alloc */
} thread_ctl_t;

extern __thread thread_ctl_t thread_ctl;

void threads_park_deferred(void);

ALWAYS_INLINE void thread_enter_alloc(void) {
  thread_ctl.in_alloc++;
  atomic_signal_fence(memory_order_seq_cst);
}

ALWAYS_INLINE void thread_leave_alloc(void) {
  atomic_signal_fence(memory_order_seq_cst);
  thread_ctl.in_alloc--;
  atomic_signal_fence(memory_order_seq_cst);
  if (unlikely(thread_ctl.park_pending)) threads_park_deferred();
}

/* What the collector needs to know of one stopped thread. */
typedef struct stopped_thread {
  pid_t tid;
  uintptr_t sp;          /* lowest live stack address (the handler's frame,
                            which holds the saved registers) */
  uintptr_t alt_lo;      /* the active sigaltstack if sp lies on it, else 0 */
  uintptr_t alt_hi;
  uintptr_t stack_hint;  /* an address on the thread's normal stack, or 0 */
} stopped_thread_t;

typedef struct world {
  stopped_thread_t *threads;   /* meta memory, owned by threads.c */
  size_t nthreads;
  size_t capacity;
} world_t;

/* The signal pacegc parks threads with (a real-time signal). */
int threads_suspend_signal(void);

/* Installs the suspend handler; idempotent.  Called at start-up. */
void threads_init(void);

/*
 * Parks every other thread of the process (found in /proc/self/task,
 * re-listed until stable) except pacegc's own collector threads.  Returns
 * false, with every thread resumed, if some thread does not park within
 * timeout_ms.  Never calls malloc, stdio or dl_iterate_phdr.
 */
bool threads_stop_world(world_t *w, unsigned timeout_ms);
void threads_start_world(world_t *w);

/* pacegc's own threads (markers, sweeper) register so they are not
 * stopped; they block every signal. */
void threads_register_collector(void);

/* fork: called in the child, which has only the forking thread. */
void threads_after_fork_child(void);

/* Wrappers' logic, called from shim.c's exported libc wrappers: keep the
 * suspend signal unblocked and pacegc's handler installed. */
void threads_filter_mask(sigset_t *set);
bool threads_is_suspend_signal(int sig);

#endif
