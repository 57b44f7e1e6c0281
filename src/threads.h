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
 *
 * The stop signal is shared with the program (DESIGN.md rule 7): pacegc
 * sends it with rt_tgsigqueueinfo carrying a value only it knows, and
 * hands every other instance of the signal to the program's own action
 * (handlers.c).  The handler keeps no state in thread-local storage that
 * decides whether to park, so a thread cloned without its own TLS parks
 * like any other.
 */
#ifndef PACEGC_THREADS_H
#define PACEGC_THREADS_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>
#include "landing.h"
#include "util.h"

#define THREADS_HELD_MAX 4

typedef struct thread_ctl {
  volatile sig_atomic_t suspends;      /* suspend signals this thread took:
                                          tells whether an EINTR was ours */
  volatile sig_atomic_t handled;       /* program handlers this thread ran
                                          (handlers.c): whether it was not
                                          ours alone */
  /* The program's view of the stop signal on this thread (handlers.c):
   * it asked to block it, or is inside its own handler for it.  The kernel
   * never blocks it; the program's own instances wait here instead. */
  volatile sig_atomic_t prog_blocked;
  volatile uintptr_t prog_handler_frame;   /* in its handler: that frame, else 0 */
  volatile sig_atomic_t listed;        /* in handlers.c's list of threads that
                                          do not block it */
  volatile sig_atomic_t nheld;
  siginfo_t held[THREADS_HELD_MAX];
  landing_t landing;                   /* what it received last (landing.h) */
  struct blocking_rec *blocking;       /* its record (blocking.h), or NULL */
} thread_ctl_t;

/* Initial-exec: the suspend handler reads it, and a dynamic TLS access
 * (__tls_get_addr) may allocate. */
extern __thread thread_ctl_t thread_ctl __attribute__((tls_model("initial-exec")));

/* What a new thread takes from its creator beyond what the kernel copies
 * (stacks.c's pthread_create wrapper passes it on). */
typedef struct thread_inherit { bool prog_blocked; } thread_inherit_t;
thread_inherit_t threads_inherit_get(void);
void threads_inherit_set(thread_inherit_t in);

/*
 * What the collector needs to know of one stopped thread.
 *
 * Scan [sp, top) of the stack sp lies on: that range holds the kernel's
 * signal frame (every register, FP/SIMD included) and the interrupted
 * frames.  When the handler ran on the alternate stack [alt_lo, alt_hi)
 * and the thread was interrupted on its normal stack, that stack is live
 * from normal_sp up; if the thread was already on its alternate stack,
 * normal_sp is 0 and its normal stack is live throughout.
 */
typedef struct stopped_thread {
  pid_t tid;
  uintptr_t sp;          /* lowest live address of the stack the park ran on */
  uintptr_t alt_lo;      /* the active sigaltstack if sp lies on it, else 0 */
  uintptr_t alt_hi;
  uintptr_t normal_sp;   /* when sp is on the alt stack and the thread was
                            interrupted on its normal stack: that stack's
                            lowest live address (red zone included), else 0 */
  landed_t landed;       /* the bytes it received last (landing.h) */
  bool blocking;         /* not parked: inside a blocking call (blocking.h),
                            its registers spilled at sp */
  bool dropped;          /* threads.c's own: a record another replaced */
} stopped_thread_t;

typedef struct world {
  stopped_thread_t *threads;   /* meta memory, owned by threads.c; valid
                                  until threads_start_world() */
  size_t nthreads;
  size_t capacity;
} world_t;

/* Why a stop failed, and which thread (if one) it was waiting for. */
typedef enum stop_status {
  STOP_OK,
  STOP_BUSY,          /* another stop is in progress */
  STOP_NO_SIGNAL,     /* no stop signal could be installed */
  STOP_NO_TASKS,      /* /proc/self/task cannot be read (err) */
  STOP_SEND,          /* the signal could not be sent to tid (err) */
  STOP_TABLES,        /* no memory for the tables, or more threads than slots */
  STOP_BLOCKED,       /* tid blocks the stop signal (a raw rt_sigprocmask) */
  STOP_STOPPED,       /* tid is stopped (SIGSTOP, a debugger) */
  STOP_VFORK,         /* tid waits for a vfork child to exec or exit */
  STOP_TIMEOUT,       /* tid did not park in time */
} stop_status_t;

typedef struct stop_result {
  stop_status_t status;
  pid_t tid;
  int err;
} stop_result_t;

/* The signal pacegc parks threads with (a real-time signal), 0 before
 * threads_init() or if none could be installed. */
int threads_suspend_signal(void);

/* Installs the suspend handler on `sig`, or on SIGRTMAX-2 when sig is 0;
 * threads that cannot take it are stopped with ptrace (tracer.h) unless
 * use_ptrace is false.  Idempotent.  Called at start-up. */
void threads_init(int sig, bool use_ptrace);

/*
 * Parks every other thread of the process (found in /proc/self/task,
 * re-listed until stable) except pacegc's own collector threads.  The
 * calling thread is not in *w: it scans its own stack and registers.
 * Returns false, with every thread resumed and *why filled, if some thread
 * cannot park: it blocks the signal, is stopped or waits for a vfork child
 * (each seen within tens of milliseconds), or does not park within
 * timeout_ms.  Never calls malloc, stdio or dl_iterate_phdr.
 */
bool threads_stop_world(world_t *w, unsigned timeout_ms, stop_result_t *why);

/*
 * Around an exec: a stop signal that reached the thread inside execve
 * would stay pending into the new image, whose default action for it
 * kills the process.  threads_exec_begin waits for a stop in progress to
 * end (parking for it meanwhile) and keeps new ones from starting (they
 * fail as busy, and the cycle is tried again later) until
 * threads_exec_end, if the exec returns.
 */
void threads_exec_begin(void);
void threads_exec_end(void);

/* Returns once no stop is in progress that the calling thread does not
 * hold (parking meanwhile if it is signalled).  blocking.h: a thread
 * leaving a blocking call during a stop waits here. */
void threads_await_stop_end(void);

/* Whether the calling thread holds a stop (check.h's rule 3). */
bool threads_world_stopped_by_me(void);

/* Resumes the world: wakes every parked thread and returns without
 * waiting for them to run (the next stop waits for the last of them to
 * leave the park).  A no-op unless the caller holds a successful stop. */
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

/* Wrappers' logic: the kernel's masks never hold the suspend signal. */
void threads_filter_mask(sigset_t *set);
bool threads_is_suspend_signal(int sig);

#endif
