/*
 * The libc functions that touch signal actions, masks and waits, wrapped
 * so that the stop signal stays pacegc's to use and the program's to see
 * (DESIGN.md rule 7; threads.h, handlers.h):
 *   - actions: sigaction, signal and the old System V and BSD calls go to
 *     handlers.c, which keeps the program's action of the stop signal;
 *   - masks: the kernel's mask never holds the stop signal; the program's
 *     wish to block it is kept per thread (handlers_set_blocked) and shown
 *     back to it in the old masks it reads;
 *   - waits for signals: the stop signal is taken out of the set; an
 *     instance of it meant for the program and held while blocked ends
 *     the wait as the kernel would have.  A program that names the stop
 *     signal in a wait set is told once that another thread's instance
 *     may be missed, and how to give pacegc another signal;
 *   - pause, sigsuspend, sigtimedwait, sigwaitinfo go on after a park
 *     (restart.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

#include "handlers.h"
#include "kernroots.h"
#include "os.h"
#include "report.h"
#include "restart.h"
#include "threads.h"

extern int __sigsuspend(const sigset_t *mask);

static struct {
  __typeof__(pthread_sigmask) *pthread_sigmask;
  __typeof__(sigtimedwait) *sigtimedwait;
  __typeof__(signalfd) *signalfd;
  int (*siginterrupt)(int, int);   /* deprecated in the headers, still glibc's */
  __typeof__(pause) *pause;
} libc;

static bool has_stop(const sigset_t *set) {
  int sig = threads_suspend_signal();
  return sig != 0 && set != NULL && sigismember(set, sig);
}

/* ---- actions ---- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  return handlers_sigaction(sig, act, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t handler) { return handlers_signal(sig, handler); }
EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) { return handlers_signal(sig, handler); }

/* The union holds either kind of handler: its address either way. */
static sighandler_t old_handler(const struct sigaction *old) { return old->sa_handler; }

/* System V's: reset to the default when it runs, the signal not masked. */
EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) {
  struct sigaction act, old;
  memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  act.sa_flags = SA_RESETHAND | SA_NODEFER;
  return handlers_sigaction(sig, &act, &old) == 0 ? old_handler(&old) : SIG_ERR;
}

EXPORT int siginterrupt(int sig, int interrupt) {
  if (!threads_is_suspend_signal(sig)) {
    if (LIBC(siginterrupt) == NULL) return errno = ENOSYS, -1;
    return libc.siginterrupt(sig, interrupt);
  }
  struct sigaction act;
  handlers_sigaction(sig, NULL, &act);
  if (interrupt) act.sa_flags &= ~SA_RESTART;
  else act.sa_flags |= SA_RESTART;
  return handlers_sigaction(sig, &act, NULL);
}

EXPORT int sigignore(int sig) {
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = SIG_IGN;
  return handlers_sigaction(sig, &act, NULL);
}

/* ---- masks ---- */

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
  if (LIBC(pthread_sigmask) == NULL) return ENOSYS;
  bool was = thread_ctl.prog_blocked, now = was;
  sigset_t filtered;
  if (set != NULL) {
    bool named = has_stop(set);
    now = how == SIG_BLOCK ? was || named : how == SIG_UNBLOCK ? was && !named : named;
    filtered = *set;
    threads_filter_mask(&filtered);
  }
  int r = libc.pthread_sigmask(how, set ? &filtered : NULL, old);
  if (r != 0) return r;
  if (old != NULL && was) sigaddset(old, threads_suspend_signal());
  if (set != NULL && (how == SIG_BLOCK || how == SIG_UNBLOCK || how == SIG_SETMASK))
    handlers_set_blocked(now);
  return 0;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  int err = pthread_sigmask(how, set, old);
  if (err == 0) return 0;
  errno = err;
  return -1;
}

static int mask_one(int how, int sig) {
  if (sig <= 0 || sig >= NSIG) return errno = EINVAL, -1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  return sigprocmask(how, &set, NULL);
}

EXPORT int sighold(int sig) { return mask_one(SIG_BLOCK, sig); }
EXPORT int sigrelse(int sig) { return mask_one(SIG_UNBLOCK, sig); }

/* System V's sigset: a disposition, or SIG_HOLD to block the signal. */
EXPORT sighandler_t sigset(int sig, sighandler_t disp) {
  sigset_t mask;
  if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0) return SIG_ERR;
  bool held = sigismember(&mask, sig);
  struct sigaction old;
  if (disp == SIG_HOLD) {
    if (handlers_sigaction(sig, NULL, &old) != 0 || mask_one(SIG_BLOCK, sig) != 0) return SIG_ERR;
    return held ? SIG_HOLD : old_handler(&old);
  }
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = disp;
  if (handlers_sigaction(sig, &act, &old) != 0 || mask_one(SIG_UNBLOCK, sig) != 0)
    return SIG_ERR;
  return held ? SIG_HOLD : old_handler(&old);
}

/* ---- waits for signals ---- */

/* A wait set less the stop signal. */
static const sigset_t *wait_set(const sigset_t *set, sigset_t *buf) {
  if (!has_stop(set)) return set;
  *buf = *set;
  threads_filter_mask(buf);
  return buf;
}

static int wait_signal(const sigset_t *set, siginfo_t *info, const struct timespec *timeout) {
  if (LIBC(sigtimedwait) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  bool wants_stop = has_stop(set);
  const sigset_t *s = wait_set(set, &buf);
  deadline_t d = restart_deadline(timeout);
  struct timespec left;
  if (wants_stop) handlers_wait_begin();
  int r;
  for (;;) {
    if (wants_stop && handlers_take_held(info)) {
      r = threads_suspend_signal();
      break;
    }
    signals_seen_t before = restart_seen();
    r = libc.sigtimedwait(s, info, timeout);
    if (r >= 0) break;
    if (errno == EINTR && wants_stop && handlers_have_held()) continue;
    if (!restart_parked_only(errno, before)) break;
    if (!d.forever) left = restart_left(&d), timeout = &left;
  }
  if (wants_stop) {
    int err = errno;
    handlers_wait_end();
    errno = err;
  }
  return r;
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout) {
  return wait_signal(set, info, timeout);
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info) {
  return wait_signal(set, info, NULL);
}

EXPORT int sigwait(const sigset_t *set, int *sig) {
  int r = wait_signal(set, NULL, NULL);
  if (r < 0) return errno;
  *sig = r;
  return 0;
}

/* A signalfd never reports the stop signal: the kernel hands it to
 * pacegc's handler, and nothing can be written into a signalfd.  The
 * program is told once. */
EXPORT int signalfd(int fd, const sigset_t *mask, int flags) {
  if (LIBC(signalfd) == NULL) return errno = ENOSYS, -1;
  sigset_t buf;
  static _Atomic bool told;
  if (has_stop(mask) && !atomic_exchange(&told, true))
    report("this program reads signal %d from a signalfd, but pacegc stops threads with it, "
           "so the signalfd never reports it; PACEGC_GODEBUG=stopsignal=N gives pacegc "
           "another real-time signal", threads_suspend_signal());
  return libc.signalfd(fd, wait_set(mask, &buf), flags);
}

/* Waits for a handler with `mask` in place.  When the mask lets through
 * an instance of the stop signal held for the program, that instance is
 * delivered and the wait ends at once, as the kernel ends it on a pending
 * signal the mask unblocks. */
EXPORT int sigsuspend(const sigset_t *mask) {
  bool was = thread_ctl.prog_blocked, blocks = has_stop(mask);
  sigset_t filtered = *mask;
  threads_filter_mask(&filtered);
  if (!blocks && was && handlers_have_held()) {
    handlers_set_blocked(false);
    handlers_set_blocked(was);
    errno = EINTR;
    return -1;
  }
  thread_ctl.prog_blocked = blocks;
  int r;
  for (;;) {
    signals_seen_t before = restart_seen();
    r = __sigsuspend(&filtered);
    if (!restart_parked_only(errno, before)) break;
  }
  int err = errno;
  handlers_set_blocked(was);
  errno = err;
  return r;
}

/* BSD's sigpause: a mask of the first 32 signals (sigmask(n) bits). */
EXPORT int __sigpause(int sig_or_mask, int is_sig) {
  sigset_t mask;
  if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0) return -1;
  if (is_sig) {
    if (sigdelset(&mask, sig_or_mask) != 0) return -1;
  } else {
    sigemptyset(&mask);
    for (int s = 1; s <= 32 && s < NSIG; s++)
      if ((unsigned)sig_or_mask & (1u << (s - 1))) sigaddset(&mask, s);
  }
  return sigsuspend(&mask);
}

/* X/Open's sigpause, which <signal.h> names sigpause: the current mask
 * less one signal.  The symbol sigpause itself is BSD's. */
EXPORT int __xpg_sigpause(int sig) { return __sigpause(sig, 1); }
EXPORT int bsd_sigpause(int mask) __asm__("sigpause");
int bsd_sigpause(int mask) { return __sigpause(mask, 0); }

EXPORT int pause(void) {
  if (LIBC(pause) == NULL) return errno = ENOSYS, -1;
  RESTART(int, libc.pause());
}

/* ---- alternate stacks ---- */

/* A malloc'd alternate stack may be known only to the kernel. */
EXPORT int sigaltstack(const stack_t *ss, stack_t *old) {
  long r = os_syscall2(SYS_sigaltstack, ss, old);
  if (r < 0) return errno = (int)-r, -1;
  if (ss != NULL) kernroots_sigaltstack(ss);
  return 0;
}
