/* Sleeps a cycle must not cut short: see restart.h. */
#include "restart.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "threads.h"

/* The system call itself: glibc's wrappers would come back here. */
static int sys_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                               struct timespec *rem) {
  long r = syscall(SYS_clock_nanosleep, clock, flags, req, rem);
  return r == 0 ? 0 : errno;
}

/* Sleeps until done, or until something other than a suspend signal
 * interrupts.  Relative sleeps continue with what is left. */
int restart_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                            struct timespec *rem) {
  struct timespec want = *req, left;
  for (;;) {
    sig_atomic_t before = thread_ctl.suspends;
    int err = sys_clock_nanosleep(clock, flags, &want, &left);
    if (err != EINTR || thread_ctl.suspends == before) {
      if (err == EINTR && rem != NULL && !(flags & TIMER_ABSTIME)) *rem = left;
      return err;
    }
    /* Only a cycle interrupted this sleep; another signal arriving in the
     * same window would be seen as ours, and its EINTR absorbed: the
     * program's handler has run all the same. */
    if (!(flags & TIMER_ABSTIME)) want = left;
  }
}

int restart_nanosleep(const struct timespec *req, struct timespec *rem) {
  int err = restart_clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
  if (err == 0) return 0;
  errno = err;
  return -1;
}
