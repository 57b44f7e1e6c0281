/* Sleeps and waits for descriptors a cycle must not cut short: see
 * restart.h. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <threads.h>

#include "restart.h"

#include "blocking.h"

#include "os.h"

/* glibc's functions behind the wrappers below, looked up at start-up. */
static struct {
  __typeof__(clock_nanosleep) *clock_nanosleep;
  __typeof__(poll) *poll;
  __typeof__(ppoll) *ppoll;
  __typeof__(select) *select;
  __typeof__(pselect) *pselect;
  __typeof__(epoll_pwait) *epoll_pwait;
  __typeof__(epoll_pwait2) *epoll_pwait2;
} libc;

void restart_init(void) {
  LIBC(clock_nanosleep);
  LIBC(poll);
  LIBC(ppoll);
  LIBC(select);
  LIBC(pselect);
  LIBC(epoll_pwait);
  LIBC(epoll_pwait2);
}

/* ---- deadlines ---- */

deadline_t restart_deadline(const struct timespec *timeout) {
  if (timeout == NULL) return (deadline_t){.forever = true};
  return (deadline_t){.end_ns = (int64_t)os_monotonic_ns() + (int64_t)timeout->tv_sec * 1000000000 +
                                timeout->tv_nsec};
}

struct timespec restart_left(const deadline_t *d) {
  int64_t left = d->end_ns - (int64_t)os_monotonic_ns();
  if (left < 0) left = 0;
  return (struct timespec){.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
}

int restart_left_ms(const deadline_t *d) {
  if (d->forever) return -1;
  struct timespec t = restart_left(d);
  int64_t ms = (int64_t)t.tv_sec * 1000 + (t.tv_nsec + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static struct timespec ms_timespec(int ms) {
  return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
}

/* A wait's temporary signal mask, less the suspend signal. */
static const sigset_t *filtered(const sigset_t *mask, sigset_t *buf) {
  if (mask == NULL) return NULL;
  *buf = *mask;
  threads_filter_mask(buf);
  return buf;
}

/* ---- sleeps ---- */

static int64_t clock_now_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct timespec ns_timespec(int64_t ns) {
  if (ns < 0) ns = 0;
  return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

/* A relative sleep that a park interrupted goes on to the absolute time
 * it was due: the time spent parked counts, as it would have had no cycle
 * come.  Relative sleeps on the wall clock are measured on the monotonic
 * one, as Linux measures them, so a clock step does not stretch them. */
static int sleep_until(clockid_t clock, int flags, const struct timespec *req,
                       struct timespec *rem) {
  if (LIBC(clock_nanosleep) == NULL) return ENOSYS;
  bool relative = !(flags & TIMER_ABSTIME);
  if (relative && clock == CLOCK_REALTIME) clock = CLOCK_MONOTONIC;
  int64_t due = relative ? clock_now_ns(clock) + (int64_t)req->tv_sec * 1000000000 + req->tv_nsec
                         : 0;
  struct timespec want = *req, left;
  for (;;) {
    signals_seen_t before = restart_seen();
    int err = BLOCKING_CALL(libc.clock_nanosleep(clock, flags, &want, &left));
    if (!restart_parked_only(err, before)) {
      if (err == EINTR && rem != NULL && relative)
        *rem = flags & TIMER_ABSTIME ? ns_timespec(due - clock_now_ns(clock)) : left;
      return err;
    }
    if (relative) {
      flags |= TIMER_ABSTIME;
      want = ns_timespec(due);
    }
  }
}

EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                           struct timespec *rem) {
  return sleep_until(clock, flags, req, rem);
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem) {
  int err = sleep_until(CLOCK_REALTIME, 0, req, rem);
  if (err == 0) return 0;
  errno = err;
  return -1;
}

EXPORT unsigned int sleep(unsigned int seconds) {
  struct timespec req = {seconds, 0}, rem = {0, 0};
  if (sleep_until(CLOCK_REALTIME, 0, &req, &rem) == 0) return 0;
  return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
}

EXPORT int usleep(useconds_t usec) {
  struct timespec req = {usec / 1000000, (long)(usec % 1000000) * 1000};
  return nanosleep(&req, NULL);
}

/* C11's: 0, -1 interrupted (remaining time in *rem), other negative on error. */
EXPORT int thrd_sleep(const struct timespec *req, struct timespec *rem) {
  int err = sleep_until(CLOCK_REALTIME, 0, req, rem);
  if (err == 0) return 0;
  errno = err;
  return err == EINTR ? -1 : -2;
}

/* ---- waits for descriptors ----
 * After a park the wait goes on with what is left of its deadline, and
 * once nothing is left it polls once more with a zero timeout, so the
 * kernel, not pacegc, reports the timeout (select clears its sets then). */

static int wait_poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  if (LIBC(poll) == NULL) return errno = ENOSYS, -1;
  struct timespec t = ms_timespec(timeout_ms);
  deadline_t d = restart_deadline(timeout_ms < 0 ? NULL : &t);
  for (;;) {
    signals_seen_t before = restart_seen();
    int r = BLOCKING_CALL(libc.poll(fds, n, timeout_ms), (uintptr_t)fds);
    if (r >= 0 || !restart_parked_only(errno, before)) return r;
    timeout_ms = restart_left_ms(&d);
  }
}

static int wait_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                      const sigset_t *mask) {
  if (LIBC(ppoll) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  mask = filtered(mask, &buf);
  RESTART_TIMED(int, timeout,
                BLOCKING_CALL(libc.ppoll(fds, n, timeout, mask), (uintptr_t)fds));
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  return wait_poll(fds, n, timeout_ms);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                 const sigset_t *mask) {
  return wait_ppoll(fds, n, timeout, mask);
}

/* _FORTIFY_SOURCE's: the same, once the array is known to fit. */
extern void __chk_fail(void) __attribute__((noreturn));

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fdslen) {
  if (fdslen / sizeof *fds < n) __chk_fail();
  return wait_poll(fds, n, timeout_ms);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                       const sigset_t *mask, size_t fdslen) {
  if (fdslen / sizeof *fds < n) __chk_fail();
  return wait_ppoll(fds, n, timeout, mask);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout) {
  if (LIBC(select) == NULL) return errno = ENOSYS, -1;
  struct timespec t = {0, 0};
  if (timeout) t = (struct timespec){timeout->tv_sec, timeout->tv_usec * 1000};
  deadline_t d = restart_deadline(timeout ? &t : NULL);
  for (;;) {
    /* The sets are left as they were when the call fails (select(2)). */
    signals_seen_t before = restart_seen();
    int res = BLOCKING_CALL(libc.select(n, r, w, e, timeout), (uintptr_t)r, (uintptr_t)w,
                            (uintptr_t)e, (uintptr_t)timeout);
    if (res >= 0 || !restart_parked_only(errno, before)) return res;
    if (!d.forever) {
      t = restart_left(&d);
      *timeout = (struct timeval){t.tv_sec, (t.tv_nsec + 999) / 1000};
    }
  }
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
                   const sigset_t *mask) {
  if (LIBC(pselect) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  mask = filtered(mask, &buf);
  RESTART_TIMED(int, timeout, BLOCKING_CALL(libc.pselect(n, r, w, e, timeout, mask),
                                            (uintptr_t)r, (uintptr_t)w, (uintptr_t)e));
}

static int wait_epoll(int epfd, struct epoll_event *events, int max, int timeout_ms,
                      const sigset_t *mask) {
  if (LIBC(epoll_pwait) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  mask = filtered(mask, &buf);
  struct timespec t = ms_timespec(timeout_ms);
  deadline_t d = restart_deadline(timeout_ms < 0 ? NULL : &t);
  for (;;) {
    signals_seen_t before = restart_seen();
    int r = BLOCKING_CALL(libc.epoll_pwait(epfd, events, max, timeout_ms, mask),
                          (uintptr_t)events);
    if (r >= 0 || !restart_parked_only(errno, before)) return r;
    timeout_ms = restart_left_ms(&d);
  }
}

EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms) {
  return wait_epoll(epfd, events, max, timeout_ms, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout_ms,
                       const sigset_t *mask) {
  return wait_epoll(epfd, events, max, timeout_ms, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max,
                        const struct timespec *timeout, const sigset_t *mask) {
  if (LIBC(epoll_pwait2) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  mask = filtered(mask, &buf);
  RESTART_TIMED(int, timeout, BLOCKING_CALL(libc.epoll_pwait2(epfd, events, max, timeout, mask),
                                            (uintptr_t)events));
}
