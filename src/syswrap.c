/*
 * syscall(3) and prctl(2), wrapped.  A program that makes a system call
 * through libc's syscall() gets what the libc wrappers of that call would
 * give it (fdwrap.c, sigwrap.c): pacegc's descriptors survive a raw
 * close, a raw signal mask never blocks the stop signal, a raw epoll_ctl
 * or sigaltstack registers its root.  And pacegc learns when the program
 * turns on a seccomp filter (os_note_seccomp), after which it opens no
 * file: the filter may kill the process for it.  Every other call goes
 * to the kernel as it is.  A system call made with an instruction of the
 * program's own is not seen.
 */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "handlers.h"
#include "kernroots.h"
#include "os.h"
#include "threads.h"
#include "transit.h"

/* The kernel's result as libc returns it: -1 and errno on failure. */
static long libc_result(long r) {
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

/* rt_sigprocmask with the kernel's sigset (size bytes): the stop signal
 * filtered as pthread_sigmask does. */
static long raw_sigmask(long how, const sigset_t *set, sigset_t *old, long size) {
  if (size != _NSIG / 8) return libc_result(os_syscall4(SYS_rt_sigprocmask, how, set, old, size));
  int err = pthread_sigmask((int)how, set, old);
  return err == 0 ? 0 : (errno = err, -1);
}

/* The kernel's struct sigaction, as rt_sigaction takes it. */
struct kernel_sigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  uint64_t mask;
};

/* rt_sigaction on the stop signal: the program's action, never the
 * kernel's (handlers.h). */
static long raw_stop_sigaction(int sig, const struct kernel_sigaction *act,
                               struct kernel_sigaction *old, long size) {
  if (size != sizeof(uint64_t)) return errno = EINVAL, -1;
  struct sigaction a, o;
  memset(&a, 0, sizeof a);
  if (act) {
    a.sa_handler = (sighandler_t)act->handler;
    a.sa_flags = (int)act->flags;
    memcpy(&a.sa_mask, &act->mask, sizeof act->mask);
  }
  handlers_sigaction(sig, act ? &a : NULL, &o);
  if (old) {
    old->handler = (void *)o.sa_handler;
    old->flags = (unsigned long)o.sa_flags;
    old->restorer = NULL;
    memcpy(&old->mask, &o.sa_mask, sizeof old->mask);
  }
  return 0;
}

EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  switch (n) {
  case SYS_close:
    if (os_is_own_fd((int)a)) return 0;
    break;
  case SYS_close_range:
    return close_range((unsigned)a, (unsigned)b, (int)c);
  case SYS_dup2:
  case SYS_dup3:
    if (a != b) os_vacate_fd((int)b);
    break;
  case SYS_rt_sigprocmask:
    return raw_sigmask(a, (const sigset_t *)b, (sigset_t *)c, d);
  case SYS_rt_sigaction:
    if (threads_is_suspend_signal((int)a))
      return raw_stop_sigaction((int)a, (const struct kernel_sigaction *)b,
                                (struct kernel_sigaction *)c, d);
    break;
  case SYS_seccomp:
    if (a == SECCOMP_SET_MODE_FILTER || a == SECCOMP_SET_MODE_STRICT) os_note_seccomp();
    break;
  case SYS_epoll_ctl:
    return epoll_ctl((int)a, (int)b, (int)c, (struct epoll_event *)d);
  case SYS_sigaltstack:
    return sigaltstack((const stack_t *)a, (stack_t *)b);
  default:
    break;
  }
  long r = os_syscall6(n, a, b, c, d, e, f);
  if (r == 0 && n == SYS_close) {
    kernroots_close((int)a);
    transit_close((int)a);
  }
  return libc_result(r);
}

EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
  unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
  va_end(ap);
  if (option == PR_SET_SECCOMP) os_note_seccomp();
  return (int)libc_result(os_syscall5(SYS_prctl, option, a, b, c, d));
}
