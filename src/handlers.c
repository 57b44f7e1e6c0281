/* The program's signal handlers, counted: see handlers.h. */
#include "handlers.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "threads.h"

int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* One table per kind of handler, each read only by its own trampoline: a
 * signal that arrives while the program changes a handler runs either the
 * old one or the new one, never the new function with the old kind's
 * arguments. */
static _Atomic(sighandler_t) plain_handlers[NSIG];
static _Atomic(void (*)(int, siginfo_t *, void *)) info_handlers[NSIG];

static void trampoline_plain(int sig) {
  thread_ctl.handled++;
  atomic_load_explicit(&plain_handlers[sig], memory_order_relaxed)(sig);
}

static void trampoline_info(int sig, siginfo_t *si, void *uc) {
  thread_ctl.handled++;
  atomic_load_explicit(&info_handlers[sig], memory_order_relaxed)(sig, si, uc);
}

/* What the program asked for, from what the kernel holds. */
static void handlers_unwrap(int sig, struct sigaction *a) {
  if (a->sa_flags & SA_SIGINFO) {
    if (a->sa_sigaction == trampoline_info) a->sa_sigaction = atomic_load(&info_handlers[sig]);
  } else if (a->sa_handler == trampoline_plain) {
    a->sa_handler = atomic_load(&plain_handlers[sig]);
  }
}

int handlers_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  if (act == NULL || sig <= 0 || sig >= NSIG || act->sa_handler == SIG_DFL ||
      act->sa_handler == SIG_IGN) {
    int r = __sigaction(sig, act, old);
    if (r == 0 && old != NULL) handlers_unwrap(sig, old);
    return r;
  }
  /* The old action first: the tables are about to hold the new one. */
  if (old != NULL) {
    if (__sigaction(sig, NULL, old) != 0) return -1;
    handlers_unwrap(sig, old);
  }
  struct sigaction wrapped = *act;
  if (act->sa_flags & SA_SIGINFO) {
    atomic_store(&info_handlers[sig], act->sa_sigaction);
    wrapped.sa_sigaction = trampoline_info;
  } else {
    atomic_store(&plain_handlers[sig], act->sa_handler);
    wrapped.sa_handler = trampoline_plain;
  }
  return __sigaction(sig, &wrapped, NULL);
}

/* glibc's signal() sets its own flags (SA_RESTART unless siginterrupt
 * asked otherwise); it is called, then its action is wrapped. */
sighandler_t handlers_signal(int sig, sighandler_t handler) {
  static sighandler_t (*real)(int, sighandler_t);
  if (real == NULL) real = (sighandler_t (*)(int, sighandler_t))dlsym(RTLD_NEXT, "signal");
  sighandler_t prev = real(sig, handler);
  if (prev == SIG_ERR) return SIG_ERR;
  /* The union in struct sigaction converts between the two kinds. */
  struct sigaction as_was = {.sa_handler = prev};
  handlers_unwrap(sig, &as_was);
  if (as_was.sa_handler == prev) {
    as_was.sa_flags = SA_SIGINFO;
    handlers_unwrap(sig, &as_was);
  }
  prev = as_was.sa_handler;
  if (handler != SIG_DFL && handler != SIG_IGN) {
    struct sigaction now;
    if (__sigaction(sig, NULL, &now) == 0) {
      int saved = errno;
      handlers_sigaction(sig, &now, NULL);
      errno = saved;
    }
  }
  return prev;
}
