/* Calls a cycle must not cut short: see restart.h. */
#include "restart.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "threads.h"

/* glibc's functions, found once.  The symbols are never missing from
 * libc; if dlsym failed all the same, the call fails with ENOSYS. */
#define REAL(fn) \
  static __typeof__(fn) *real; \
  if (real == NULL) real = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)

/* The thread's signal counts before a call. */
typedef struct signals_seen { sig_atomic_t suspends, handled; } signals_seen_t;

static signals_seen_t signals_now(void) {
  return (signals_seen_t){thread_ctl.suspends, thread_ctl.handled};
}

/* Whether a call that failed with `err` was interrupted by a cycle alone:
 * a suspend signal came while it ran and no handler of the program did
 * (handlers.h: those installed by other means go uncounted). */
static bool parked_only(int err, signals_seen_t before) {
  return err == EINTR && thread_ctl.suspends != before.suspends &&
         thread_ctl.handled == before.handled;
}

/* ---- sleeps ---- */

int restart_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                            struct timespec *rem) {
  REAL(clock_nanosleep);
  if (real == NULL) return ENOSYS;
  struct timespec want = *req, left;
  for (;;) {
    signals_seen_t before = signals_now();
    int err = real(clock, flags, &want, &left);
    if (!parked_only(err, before)) {
      if (err == EINTR && rem != NULL && !(flags & TIMER_ABSTIME)) *rem = left;
      return err;
    }
    if (!(flags & TIMER_ABSTIME)) want = left;
  }
}

int restart_nanosleep(const struct timespec *req, struct timespec *rem) {
  int err = restart_clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
  if (err == 0) return 0;
  errno = err;
  return -1;
}

/* ---- waits with a timeout ----
 * A deadline on CLOCK_MONOTONIC, from the relative timeout the program
 * gave; after a park the wait goes on with what is left, and once nothing
 * is left it polls once more with a zero timeout, so the kernel, not
 * pacegc, reports the timeout (select clears its sets then). */

typedef struct deadline { bool forever; int64_t end_ns; } deadline_t;

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static deadline_t deadline_in(const struct timespec *timeout) {
  if (timeout == NULL) return (deadline_t){.forever = true};
  return (deadline_t){.end_ns = monotonic_ns() + (int64_t)timeout->tv_sec * 1000000000 +
                                timeout->tv_nsec};
}

static struct timespec deadline_left(const deadline_t *d) {
  int64_t left = d->end_ns - monotonic_ns();
  if (left < 0) left = 0;
  return (struct timespec){.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
}

/* Milliseconds, rounded up so the wait never ends early; -1: forever. */
static int deadline_left_ms(const deadline_t *d) {
  if (d->forever) return -1;
  struct timespec t = deadline_left(d);
  int64_t ms = (int64_t)t.tv_sec * 1000 + (t.tv_nsec + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static struct timespec ms_timespec(int ms) {
  return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
}

int restart_poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  REAL(poll);
  if (real == NULL) return errno = ENOSYS, -1;
  struct timespec t = ms_timespec(timeout_ms);
  deadline_t d = deadline_in(timeout_ms < 0 ? NULL : &t);
  for (;;) {
    signals_seen_t before = signals_now();
    int r = real(fds, n, timeout_ms);
    if (r >= 0 || !parked_only(errno, before)) return r;
    timeout_ms = deadline_left_ms(&d);
  }
}

int restart_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                  const sigset_t *mask) {
  REAL(ppoll);
  if (real == NULL) return errno = ENOSYS, -1;
  deadline_t d = deadline_in(timeout);
  struct timespec left;
  for (;;) {
    signals_seen_t before = signals_now();
    int r = real(fds, n, timeout, mask);
    if (r >= 0 || !parked_only(errno, before)) return r;
    if (!d.forever) left = deadline_left(&d), timeout = &left;
  }
}

int restart_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout) {
  REAL(select);
  if (real == NULL) return errno = ENOSYS, -1;
  struct timespec t = {0, 0};
  if (timeout) t = (struct timespec){timeout->tv_sec, timeout->tv_usec * 1000};
  deadline_t d = deadline_in(timeout ? &t : NULL);
  for (;;) {
    /* The sets are left as they were when the call fails (select(2)). */
    signals_seen_t before = signals_now();
    int res = real(n, r, w, e, timeout);
    if (res >= 0 || !parked_only(errno, before)) return res;
    if (!d.forever) {
      t = deadline_left(&d);
      *timeout = (struct timeval){t.tv_sec, (t.tv_nsec + 999) / 1000};
    }
  }
}

int restart_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
                    const sigset_t *mask) {
  REAL(pselect);
  if (real == NULL) return errno = ENOSYS, -1;
  deadline_t d = deadline_in(timeout);
  struct timespec left;
  for (;;) {
    signals_seen_t before = signals_now();
    int res = real(n, r, w, e, timeout, mask);
    if (res >= 0 || !parked_only(errno, before)) return res;
    if (!d.forever) left = deadline_left(&d), timeout = &left;
  }
}

int restart_epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout_ms,
                        const sigset_t *mask) {
  REAL(epoll_pwait);
  if (real == NULL) return errno = ENOSYS, -1;
  struct timespec t = ms_timespec(timeout_ms);
  deadline_t d = deadline_in(timeout_ms < 0 ? NULL : &t);
  for (;;) {
    signals_seen_t before = signals_now();
    int r = real(epfd, events, max, timeout_ms, mask);
    if (r >= 0 || !parked_only(errno, before)) return r;
    timeout_ms = deadline_left_ms(&d);
  }
}
