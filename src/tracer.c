/* Threads stopped with ptrace: see tracer.h. */
#include "tracer.h"

#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "meta.h"
#include "os.h"

#define TRACER_STACK ((size_t)64 << 10)
/* How long a seize refused with EPERM is retried while the thread still
 * exists: a thread that is exiting (glibc blocks every signal for its
 * last steps, so it comes here) is refused until the kernel reaps it. */
#define EXITING_WAIT_NS ((int64_t)100000000)

enum { TR_WORKING, TR_STOPPED, TR_FAILED };

/* Shared by the stopper and the helper (which runs in pacegc's memory
 * with the stopper's thread pointer: it calls nothing that uses TLS). */
typedef struct ctl {
  _Atomic uint32_t state;      /* TR_*; the stopper waits on it */
  _Atomic uint32_t release;    /* 1: detach and exit; the helper waits on it */
  pid_t helper;                /* the helper's pid while it lives, else 0 */
  pid_t tgid;                  /* the program's */
  size_t n;
  traced_t t[TRACER_MAX];
  int resend[TRACER_MAX];      /* a signal to hand back at detach, or 0 */
  tracer_failure_t failure;    /* TR_FAILED: which thread, which error */
} ctl_t;

static ctl_t *ctl;             /* meta memory, then the helper's stack */

static long ptrace_raw(long req, pid_t tid, void *addr, void *data) {
  return os_syscall4(SYS_ptrace, req, tid, addr, data);
}

static uintptr_t regs_sp(const uint64_t *regs) {
#if defined(__x86_64__)
  return (uintptr_t)((const struct user_regs_struct *)regs)->rsp;
#elif defined(__aarch64__)
  return (uintptr_t)regs[31];
#else
#error "tracer: unsupported architecture"
#endif
}

/* Bytes below the stack pointer leaf code may use (the x86-64 red zone). */
#if defined(__x86_64__)
#define RED_ZONE 128
#else
#define RED_ZONE 0
#endif

static bool failed(ctl_t *c, size_t i, long err) {
  c->failure = (tracer_failure_t){ c->t[i].tid, (int)(err < 0 ? -err : err) };
  return false;
}

/* PTRACE_SEIZE, retried while the kernel refuses it (EPERM) to a thread
 * that still exists: one exiting is refused until it is reaped, and then
 * is gone (ESRCH). */
static long seize(const ctl_t *c, pid_t tid) {
  int64_t until = (int64_t)os_monotonic_ns() + EXITING_WAIT_NS;
  for (;;) {
    long r = ptrace_raw(PTRACE_SEIZE, tid, 0, 0);
    if (r != -EPERM || (int64_t)os_monotonic_ns() > until) return r;
    if (os_syscall3(SYS_tgkill, c->tgid, tid, 0) == -ESRCH) return -ESRCH;
    struct timespec ms = { 0, 1000000 };
    os_syscall2(SYS_nanosleep, &ms, NULL);
  }
}

/* Seizes, interrupts and reads thread i; false (c->failure set) if any
 * step fails (the thread is left seized if the first succeeded: *seized
 * says so).  A thread that exits meanwhile (one caught in glibc's thread
 * exit often does) is no failure: its tid becomes 0. */
static bool stop_one(ctl_t *c, size_t i, bool *seized) {
  traced_t *t = &c->t[i];
  long r = seize(c, t->tid);
  *seized = r == 0;
  if (r == -ESRCH) {
    t->tid = 0;
    return true;
  }
  if (!*seized) return failed(c, i, r);
  r = ptrace_raw(PTRACE_INTERRUPT, t->tid, 0, 0);
  if (r == -ESRCH) {
    t->tid = 0;
    return true;
  }
  if (r != 0) return failed(c, i, r);
  int status = 0;
  r = os_syscall4(SYS_wait4, t->tid, &status, __WALL, 0);
  if (r != t->tid) return failed(c, i, r < 0 ? r : ECHILD);
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    t->tid = 0;
    return true;
  }
  if (!WIFSTOPPED(status)) return failed(c, i, ECHILD);
  /* A signal-delivery stop holds the signal back: it goes in again at
   * detach.  An interrupt or group stop has none to give. */
  c->resend[i] = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
  struct iovec gp = { t->regs, sizeof t->regs }, fp = { t->fpregs, sizeof t->fpregs };
  r = ptrace_raw(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &gp);
  if (r != 0) return failed(c, i, r);
  ptrace_raw(PTRACE_GETREGSET, t->tid, (void *)NT_PRFPREG, &fp);
  t->sp = regs_sp(t->regs) - RED_ZONE;
  return true;
}

/* The helper: stops every thread, tells the stopper, waits for the word
 * to let them go. */
static int helper(void *arg) {
  ctl_t *c = arg;
  bool seized[TRACER_MAX] = { false };
  bool ok = true;
  for (size_t i = 0; i < c->n && ok; i++) ok = stop_one(c, i, &seized[i]);
  atomic_store(&c->state, ok ? TR_STOPPED : TR_FAILED);
  os_futex_wake(&c->state, 1);
  while (ok && atomic_load(&c->release) == 0) os_futex_wait(&c->release, 0, -1);
  /* Not one that exited (tid 0): nothing is left to let go. */
  for (size_t i = 0; i < c->n; i++)
    if (seized[i] && c->t[i].tid != 0)
      ptrace_raw(PTRACE_DETACH, c->t[i].tid, 0, (void *)(long)c->resend[i]);
  os_syscall1(SYS_exit, 0);
  return 0;
}

/* Reaps the helper, killing it first if it is stuck; tracees are let go
 * by the kernel when their tracer dies. */
static void helper_end(bool kill_it) {
  if (ctl->helper == 0) return;
  if (kill_it) os_syscall2(SYS_kill, ctl->helper, SIGKILL);
  int status;
  while (os_syscall4(SYS_wait4, ctl->helper, &status, __WALL, 0) == -EINTR) {}
  ctl->helper = 0;
  ctl->n = 0;
}

bool tracer_stop(const pid_t *tids, size_t n, uint64_t deadline_ns, tracer_failure_t *why) {
  *why = (tracer_failure_t){ n > 0 ? tids[0] : 0, E2BIG };
  if (n == 0 || n > TRACER_MAX) return false;
  if (ctl == NULL && (ctl = meta_map(sizeof *ctl + TRACER_STACK, "pacegc-tracer")) == NULL) {
    why->err = ENOMEM;
    return false;
  }
  memset(ctl->t, 0, sizeof ctl->t);
  ctl->tgid = os_getpid();
  for (size_t i = 0; i < n; i++) ctl->t[i].tid = tids[i];
  ctl->n = n;
  atomic_store(&ctl->state, TR_WORKING);
  atomic_store(&ctl->release, 0);
  char *top = (char *)(ctl + 1) + TRACER_STACK;
  /* No CLONE_THREAD: a thread may not trace its own thread group.  No
   * exit signal: the program's wait() never sees the helper. */
  int pid = clone(helper, (void *)align_down((uintptr_t)top, 16),
                  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED, ctl);
  if (pid <= 0) {
    ctl->n = 0;
    why->err = errno;
    return false;
  }
  ctl->helper = pid;
  uint32_t s;
  while ((s = atomic_load(&ctl->state)) == TR_WORKING) {
    int64_t left = (int64_t)(deadline_ns - os_monotonic_ns());
    if (left <= 0) break;
    os_futex_wait(&ctl->state, TR_WORKING, left);
  }
  if (s == TR_STOPPED) return true;
  *why = s == TR_FAILED ? ctl->failure : (tracer_failure_t){ tids[0], ETIMEDOUT };
  helper_end(s == TR_WORKING);
  return false;
}

const traced_t *tracer_threads(size_t *n) {
  *n = ctl != NULL && ctl->helper != 0 ? ctl->n : 0;
  return ctl != NULL ? ctl->t : NULL;
}

void tracer_release(void) {
  if (ctl == NULL || ctl->helper == 0) return;
  atomic_store(&ctl->release, 1);
  os_futex_wake(&ctl->release, 1);
  helper_end(false);
}
