/* The program's signal handlers: see handlers.h. */
#include <stdbool.h>

#include "handlers.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "blocking.h"
#include "os.h"
#include "threads.h"

/* One table per kind of handler, each read only by its own trampoline: a
 * signal that arrives while the program changes a handler runs either the
 * old one or the new one, never the new function with the old kind's
 * arguments. */
static _Atomic(sighandler_t) plain_handlers[NSIG];
static _Atomic(void (*)(int, siginfo_t *, void *)) info_handlers[NSIG];
/* The program's sa_mask held the stop signal, which the kernel's does
 * not: while the handler runs, the program has it blocked. */
static _Atomic bool masks_stop[NSIG];

/* The program's handler runs outside any blocking call it interrupted
 * (blocking.h): it is the program's code. */
static void trampoline_plain(int sig) {
  thread_ctl.handled++;
  sighandler_t h = atomic_load_explicit(&plain_handlers[sig], memory_order_relaxed);
  bool inside;
  blocking_rec_t *b = blocking_suspend(&inside);
  if (!atomic_load_explicit(&masks_stop[sig], memory_order_relaxed)) {
    h(sig);
  } else {
    sig_atomic_t was = thread_ctl.prog_blocked;
    thread_ctl.prog_blocked = 1;
    h(sig);
    handlers_set_blocked(was);
  }
  blocking_resume(b, inside);
}

static void trampoline_info(int sig, siginfo_t *si, void *uc) {
  thread_ctl.handled++;
  void (*h)(int, siginfo_t *, void *) = atomic_load_explicit(&info_handlers[sig],
                                                             memory_order_relaxed);
  bool inside;
  blocking_rec_t *b = blocking_suspend(&inside);
  if (!atomic_load_explicit(&masks_stop[sig], memory_order_relaxed)) {
    h(sig, si, uc);
  } else {
    sig_atomic_t was = thread_ctl.prog_blocked;
    thread_ctl.prog_blocked = 1;
    h(sig, si, uc);
    handlers_set_blocked(was);
  }
  blocking_resume(b, inside);
}

/* What the program asked for, from what the kernel holds. */
static void handlers_unwrap(int sig, struct sigaction *a) {
  bool ours = false;
  if (a->sa_flags & SA_SIGINFO) {
    ours = a->sa_sigaction == trampoline_info;
    if (ours) a->sa_sigaction = atomic_load(&info_handlers[sig]);
  } else {
    ours = a->sa_handler == trampoline_plain;
    if (ours) a->sa_handler = atomic_load(&plain_handlers[sig]);
  }
  if (ours && atomic_load(&masks_stop[sig])) sigaddset(&a->sa_mask, threads_suspend_signal());
}

/* ---- the stop signal's action, as the program sees it ----
 * A sequence lock: the writer makes seq odd, writes, makes it even; a
 * reader (the suspend handler) copies until it saw one even seq on both
 * sides.  Writers take the lock with every signal blocked, so a reader
 * never spins on a writer it interrupted. */
static struct {
  _Atomic unsigned seq;
  atomic_flag lock;
  struct sigaction act;
} prog = { .lock = ATOMIC_FLAG_INIT };

static struct sigaction prog_read(void) {
  struct sigaction a;
  for (;;) {
    unsigned s = atomic_load_explicit(&prog.seq, memory_order_acquire);
    if (s & 1) continue;
    memcpy(&a, &prog.act, sizeof a);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&prog.seq, memory_order_relaxed) == s) return a;
  }
}

/* Sets the program's action (if act) and returns the one before. */
static struct sigaction prog_swap(const struct sigaction *act) {
  sigset_t old_mask;
  os_spin_lock(&prog.lock, &old_mask);
  struct sigaction was = prog.act;
  if (act) {
    atomic_fetch_add_explicit(&prog.seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&prog.act, act, sizeof *act);
    atomic_fetch_add_explicit(&prog.seq, 1, memory_order_release);
  }
  os_spin_unlock(&prog.lock, &old_mask);
  return was;
}

void handlers_adopt(int sig, const struct sigaction *initial) {
  (void)sig;
  struct sigaction a = *initial;
  if (a.sa_handler != SIG_IGN) {
    memset(&a, 0, sizeof a);
    a.sa_handler = SIG_DFL;
  }
  prog_swap(&a);
}

/* The default action of a real-time signal ends the process with it. */
static void default_action(int sig) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  os_sigaction(sig, &dfl, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  os_tgkill(os_gettid(), sig);
  os_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- where an instance goes when this thread has it blocked ----
 * The kernel gives a signal sent to the process to a thread that does not
 * block it, and no thread blocks the stop signal in the kernel's eyes.  So
 * an instance sent to the process (anything but tgkill's SI_TKILL) that
 * lands on a thread where the program blocks it goes on to a thread that
 * waits for it (sigwait and the like), to the main thread if that one
 * does not block it, or to another thread that does not; if every thread
 * blocks it, it waits for the process, and the first thread to unblock
 * it (or to wait for it) takes it, as the kernel's shared queue would
 * have it.  An instance sent to one thread waits on that thread.
 * (pthread_sigqueue's instances, SI_QUEUE like sigqueue's, are taken for
 * the process's: nothing in the siginfo tells them apart.) */
#define WAITERS_MAX 16
static _Atomic pid_t waiters[WAITERS_MAX];
static _Atomic bool main_blocked;

/* Threads known not to block the signal: the main thread from start-up,
 * threads pthread_create made from their start, any thread once it
 * unblocked it; each lists itself (thread_ctl.listed) and takes itself
 * off when it blocks it.  A thread that exited leaves its entry behind
 * until a send to it fails. */
#define OPEN_MAX 1024
static _Atomic pid_t open_tids[OPEN_MAX];

/* Instances sent to the process while every thread blocked the signal,
 * oldest first; past PROCESS_HELD_MAX they are dropped, as the kernel
 * drops real-time signals past RLIMIT_SIGPENDING. */
#define PROCESS_HELD_MAX 64
static struct {
  atomic_flag lock;
  int n;
  siginfo_t held[PROCESS_HELD_MAX];
} process_held = { .lock = ATOMIC_FLAG_INIT };

void handlers_wait_begin(void) {
  pid_t self = os_gettid(), none = 0;
  for (int i = 0; i < WAITERS_MAX; i++)
    if (atomic_compare_exchange_strong(&waiters[i], &none, self)) return;
    else none = 0;
}

void handlers_wait_end(void) {
  pid_t self = os_gettid();
  for (int i = 0; i < WAITERS_MAX; i++) {
    pid_t mine = self;
    atomic_compare_exchange_strong(&waiters[i], &mine, 0);
  }
}

/* Replaces the first entry holding `from` by `to`; false if none does. */
static bool open_swap(pid_t from, pid_t to) {
  for (int i = 0; i < OPEN_MAX; i++) {
    pid_t e = from;
    if (atomic_compare_exchange_strong(&open_tids[i], &e, to)) return true;
  }
  return false;
}

/* Clears the entries of threads that exited. */
static void open_prune(void) {
  pid_t pid = os_getpid();
  for (int i = 0; i < OPEN_MAX; i++) {
    pid_t t = atomic_load(&open_tids[i]);
    if (t != 0 && os_syscall3(SYS_tgkill, pid, t, 0) == -ESRCH)
      atomic_compare_exchange_strong(&open_tids[i], &t, 0);
  }
}

/* Lists or unlists the calling thread as one that does not block the
 * signal.  A full list is pruned of exited threads (at the first miss and
 * every 256th after: with more live threads than entries it stays full);
 * still full, the thread stays unlisted (reached only as the main thread
 * or a waiter). */
static void set_listed(bool open) {
  if ((thread_ctl.listed != 0) == open) return;
  pid_t self = os_gettid();
  if (!open) {
    open_swap(self, 0);
    thread_ctl.listed = 0;
    return;
  }
  static _Atomic unsigned misses;
  bool done = open_swap(0, self);
  if (!done && atomic_fetch_add(&misses, 1) % 256 == 0) {
    open_prune();
    done = open_swap(0, self);
  }
  thread_ctl.listed = done;
}

static bool send_to(pid_t tid, siginfo_t *info) {
  return os_syscall4(SYS_rt_tgsigqueueinfo, os_getpid(), tid, info->si_signo, info) == 0;
}

static bool forward(siginfo_t *info) {
  if (info->si_code == SI_TKILL) return false;
  pid_t self = os_gettid(), pid = os_getpid();
  for (int i = 0; i < WAITERS_MAX; i++) {
    pid_t w = atomic_load(&waiters[i]);
    if (w != 0 && w != self && send_to(w, info)) return true;
  }
  if (pid != self && !atomic_load(&main_blocked) && send_to(pid, info)) return true;
  /* An entry of this thread is stale (it blocks the signal): an exited
   * thread's, whose tid it got.  Left there, two such threads could pass
   * an instance back and forth. */
  for (int i = 0; i < OPEN_MAX; i++) {
    pid_t t = atomic_load_explicit(&open_tids[i], memory_order_relaxed);
    if (t == self) atomic_compare_exchange_strong(&open_tids[i], &t, 0);
    if (t == 0 || t == self || t == pid) continue;
    if (send_to(t, info)) return true;
    atomic_compare_exchange_strong(&open_tids[i], &t, 0);   /* exited */
  }
  return false;
}

/* An instance to deliver later: for the process if it was sent to the
 * process and this thread blocks the signal, else on this thread (inside
 * the program's handler for it, the instance is this thread's next, as
 * the kernel would deliver it at the handler's return).  Dropped past the
 * room there is. */
static void hold(const siginfo_t *info) {
  if (info->si_code != SI_TKILL && thread_ctl.prog_blocked) {
    sigset_t old;
    os_spin_lock(&process_held.lock, &old);
    if (process_held.n < PROCESS_HELD_MAX) process_held.held[process_held.n++] = *info;
    os_spin_unlock(&process_held.lock, &old);
    return;
  }
  int n = thread_ctl.nheld;
  if (n < THREADS_HELD_MAX) {
    memcpy(&thread_ctl.held[n], info, sizeof *info);
    thread_ctl.nheld = n + 1;
  }
}

/* Moves what waits for the process to this thread's queue, after what
 * waits for this thread (the kernel, too, takes a thread's own pending
 * signals before the process's).  With every signal blocked. */
static void claim_process_held(void) {
  if (__atomic_load_n(&process_held.n, __ATOMIC_RELAXED) == 0) return;
  sigset_t old;
  os_spin_lock(&process_held.lock, &old);
  int room = THREADS_HELD_MAX - thread_ctl.nheld;
  int k = process_held.n < room ? process_held.n : room;
  memcpy(&thread_ctl.held[thread_ctl.nheld], process_held.held, (size_t)k * sizeof(siginfo_t));
  thread_ctl.nheld += k;
  process_held.n -= k;
  memmove(process_held.held, process_held.held + k, (size_t)process_held.n * sizeof(siginfo_t));
  os_spin_unlock(&process_held.lock, &old);
}

bool handlers_have_held(void) {
  return thread_ctl.nheld > 0 || __atomic_load_n(&process_held.n, __ATOMIC_RELAXED) > 0;
}

bool handlers_take_held(siginfo_t *info) {
  sigset_t all, old;
  sigfillset(&all);
  os_sigmask(SIG_BLOCK, &all, &old);
  claim_process_held();
  bool got = thread_ctl.nheld > 0;
  if (got) {
    if (info) *info = thread_ctl.held[0];
    int n = --thread_ctl.nheld;
    memmove(&thread_ctl.held[0], &thread_ctl.held[1], (size_t)n * sizeof thread_ctl.held[0]);
  }
  os_sigmask(SIG_SETMASK, &old, NULL);
  return got;
}

/* Runs the program's handler as the kernel would have: with its flags and
 * sa_mask added to the interrupted mask, the signal itself deferred
 * (unless SA_NODEFER) by pacegc rather than blocked, so a stop can still
 * park this thread. */
static void run_program_handler(int sig, const struct sigaction *a, siginfo_t *info, void *uc) {
  sigset_t during, all;
  memcpy(&during, &((ucontext_t *)uc)->uc_sigmask, sizeof during);
  for (int s = 1; s < NSIG; s++)
    if (sigismember(&a->sa_mask, s)) sigaddset(&during, s);
  sigdelset(&during, sig);
  uintptr_t outer = thread_ctl.prog_handler_frame;
  if (!(a->sa_flags & SA_NODEFER)) thread_ctl.prog_handler_frame = (uintptr_t)__builtin_frame_address(0);
  thread_ctl.handled++;
  bool inside;
  blocking_rec_t *b = blocking_suspend(&inside);
  os_sigmask(SIG_SETMASK, &during, &all);
  if (a->sa_flags & SA_SIGINFO) a->sa_sigaction(sig, info, uc);
  else a->sa_handler(sig);
  os_sigmask(SIG_SETMASK, &all, NULL);
  blocking_resume(b, inside);
  thread_ctl.prog_handler_frame = outer;
}

/* Whether an instance arriving now lands inside the program's handler for
 * the signal: below its frame on the same stack.  A handler left with
 * siglongjmp never cleared its mark; a frame above it shows that. */
static bool in_program_handler(void) {
  uintptr_t frame = thread_ctl.prog_handler_frame, here = (uintptr_t)__builtin_frame_address(0);
  if (frame == 0) return false;
  if (here < frame && frame - here < ((uintptr_t)64 << 20)) return true;
  thread_ctl.prog_handler_frame = 0;
  return false;
}

void handlers_foreign(int sig, siginfo_t *info, void *uc) {
  if (thread_ctl.prog_blocked && forward(info)) return;
  if (thread_ctl.prog_blocked || in_program_handler()) {
    hold(info);
    return;
  }
  struct sigaction a = prog_read();
  if (a.sa_handler == SIG_IGN) return;
  if (a.sa_handler == SIG_DFL) {
    default_action(sig);
    return;
  }
  if (a.sa_flags & SA_RESETHAND) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    prog_swap(&dfl);
  }
  run_program_handler(sig, &a, info, uc);
  /* What arrived meanwhile, in order, as the kernel would deliver it on
   * the handler's return. */
  while (thread_ctl.nheld > 0 && !thread_ctl.prog_blocked && !in_program_handler()) {
    siginfo_t next = thread_ctl.held[0];
    int n = --thread_ctl.nheld;
    memmove(&thread_ctl.held[0], &thread_ctl.held[1], (size_t)n * sizeof next);
    handlers_foreign(sig, &next, uc);
  }
}

void handlers_set_blocked(bool blocked) {
  bool changed = thread_ctl.prog_blocked != blocked;
  thread_ctl.prog_blocked = blocked;
  if (changed && os_gettid() == os_getpid()) atomic_store(&main_blocked, blocked);
  set_listed(!blocked);
  if (blocked || !handlers_have_held()) return;
  /* Sent again to this thread with their original information: they come
   * back through handlers_foreign, now unblocked. */
  sigset_t all, old;
  sigfillset(&all);
  os_sigmask(SIG_BLOCK, &all, &old);
  claim_process_held();
  int n = thread_ctl.nheld, sig = threads_suspend_signal();
  thread_ctl.nheld = 0;
  pid_t pid = os_getpid(), tid = os_gettid();
  for (int i = 0; i < n; i++)
    os_syscall4(SYS_rt_tgsigqueueinfo, pid, tid, sig, &thread_ctl.held[i]);
  os_sigmask(SIG_SETMASK, &old, NULL);
}

void handlers_after_fork_child(void) {
  for (int i = 0; i < OPEN_MAX; i++) atomic_store(&open_tids[i], 0);
  for (int i = 0; i < WAITERS_MAX; i++) atomic_store(&waiters[i], 0);
  /* A child starts with no signal pending, and the lock may have been
   * held by a thread it does not have. */
  process_held.n = 0;
  atomic_flag_clear(&process_held.lock);
  thread_ctl.listed = 0;
  set_listed(!thread_ctl.prog_blocked);
  atomic_store(&main_blocked, thread_ctl.prog_blocked != 0);
}

/* ---- sigaction and signal ---- */

static int stop_sigaction(const struct sigaction *act, struct sigaction *old) {
  if (act) {
    struct sigaction a = *act;
    sigdelset(&a.sa_mask, threads_suspend_signal());
    struct sigaction was = prog_swap(&a);
    if (old) *old = was;
  } else if (old) {
    *old = prog_read();
  }
  return 0;
}

int handlers_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  if (threads_is_suspend_signal(sig)) return stop_sigaction(act, old);
  if (act == NULL || sig <= 0 || sig >= NSIG || act->sa_handler == SIG_DFL ||
      act->sa_handler == SIG_IGN) {
    int r = os_sigaction(sig, act, old);
    if (r == 0 && old != NULL) handlers_unwrap(sig, old);
    return r;
  }
  /* The old action first: the tables are about to hold the new one. */
  if (old != NULL) {
    if (os_sigaction(sig, NULL, old) != 0) return -1;
    handlers_unwrap(sig, old);
  }
  struct sigaction wrapped = *act;
  int stop = threads_suspend_signal();
  atomic_store(&masks_stop[sig], stop != 0 && sigismember(&act->sa_mask, stop));
  threads_filter_mask(&wrapped.sa_mask);
  if (act->sa_flags & SA_SIGINFO) {
    atomic_store(&info_handlers[sig], act->sa_sigaction);
    wrapped.sa_sigaction = trampoline_info;
  } else {
    atomic_store(&plain_handlers[sig], act->sa_handler);
    wrapped.sa_handler = trampoline_plain;
  }
  return os_sigaction(sig, &wrapped, NULL);
}

/* signal() as glibc's: BSD semantics, SA_RESTART unless siginterrupt
 * asked otherwise (that state is glibc's and is read back through it),
 * the signal itself blocked while its handler runs. */
sighandler_t handlers_signal(int sig, sighandler_t handler) {
  if (sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  if (threads_is_suspend_signal(sig)) {
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    sigaddset(&act.sa_mask, sig);
    stop_sigaction(&act, &old);
    return old.sa_handler;   /* the union: the SA_SIGINFO handler's address too */
  }
  OS_REAL(signal);
  if (real == NULL) {
    errno = ENOSYS;
    return SIG_ERR;
  }
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
    if (os_sigaction(sig, NULL, &now) == 0) {
      int saved = errno;
      handlers_sigaction(sig, &now, NULL);
      errno = saved;
    }
  }
  return prev;
}
