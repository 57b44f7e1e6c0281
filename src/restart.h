/*
 * Calls a cycle must not cut short.  The kernel restarts most system calls
 * after a handler with SA_RESTART returns, but never these (signal(7)):
 * the sleeps, the waits for descriptors, for signals and on System V IPC,
 * POSIX semaphores and message queues with a timeout, socket calls on a
 * socket with SO_RCVTIMEO or SO_SNDTIMEO, and futex waits with a timeout.
 * A thread parked by a cycle would come back from them with EINTR.
 *
 * pacegc exports each libc entry point of that list (restart.c: sleeps,
 * descriptor and signal waits; restart_io.c: sockets, read and write;
 * restart_ipc.c: System V IPC, semaphores, message queues).  Each calls
 * glibc's own function (so it stays a cancellation point) and, when
 * pacegc's suspend signal alone interrupted it, goes on with the time
 * that is left; the program's own signals still interrupt it as before.
 * What remains is a raw syscall() or an inline system call: they return
 * EINTR as the kernel says.
 */
#ifndef PACEGC_RESTART_H
#define PACEGC_RESTART_H

#include <errno.h>
#include <signal.h>
#include <time.h>

#include "threads.h"
#include "util.h"

/* The thread's signal counts before a call. */
typedef struct signals_seen { sig_atomic_t suspends, handled; } signals_seen_t;

ALWAYS_INLINE signals_seen_t restart_seen(void) {
  return (signals_seen_t){thread_ctl.suspends, thread_ctl.handled};
}

/* Whether a call that failed with `err` was interrupted by a cycle alone:
 * a suspend signal came while it ran and no handler of the program did
 * (handlers.h: those installed by other means go uncounted). */
ALWAYS_INLINE bool restart_parked_only(int err, signals_seen_t before) {
  return err == EINTR && thread_ctl.suspends != before.suspends &&
         thread_ctl.handled == before.handled;
}

/* A deadline on CLOCK_MONOTONIC, from a relative timeout (NULL: none). */
typedef struct deadline { bool forever; int64_t end_ns; } deadline_t;

deadline_t restart_deadline(const struct timespec *timeout);
/* What is left of it, never negative. */
struct timespec restart_left(const deadline_t *d);
/* Milliseconds, rounded up so a wait never ends early; -1: forever. */
int restart_left_ms(const deadline_t *d);

/* From the enclosing function: makes `call` (a `type`, negative with
 * errno on failure) again while only a park cut it short, and returns
 * what it finally returned. */
#define RESTART(type, call)                                               \
  do {                                                                    \
    for (;;) {                                                            \
      signals_seen_t before_ = restart_seen();                            \
      type r_ = (call);                                                   \
      if (r_ >= 0 || !restart_parked_only(errno, before_)) return r_;     \
    }                                                                     \
  } while (0)

/* The same for a call with a relative timeout: `timeout` names the
 * const struct timespec * variable `call` passes, and each retry gets
 * what is left of the first timeout. */
#define RESTART_TIMED(type, timeout, call)                                \
  do {                                                                    \
    deadline_t d_ = restart_deadline(timeout);                            \
    struct timespec left_;                                                \
    for (;;) {                                                            \
      signals_seen_t before_ = restart_seen();                            \
      type r_ = (call);                                                   \
      if (r_ >= 0 || !restart_parked_only(errno, before_)) return r_;     \
      if (!d_.forever) left_ = restart_left(&d_), (timeout) = &left_;     \
    }                                                                     \
  } while (0)

/* Looks up glibc's functions the wrappers call, once, at start-up, so
 * that no wrapper calls dlsym from inside a signal handler. */
void restart_init(void);
void restart_io_init(void);
void restart_ipc_init(void);

#endif
