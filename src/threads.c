/*
 * Stopping the world with a real-time signal: see threads.h.
 *
 * Shared words (all in `stw`):
 *   seq        even: no stop.  The stopper makes it odd to begin stop S and
 *              even again to resume.  A handler that reads an even seq, or
 *              whose seq changed before it entered the park, returns at
 *              once: that is what makes late signals of abandoned stops
 *              harmless.  Parked threads futex-wait on it.
 *   inside     threads between entering and leaving park().  Resuming waits
 *              for zero, so no thread of stop S is still in park() when
 *              stop S+2 begins.
 *   next_slot  a parking thread claims slots[fetch_add(next_slot)], fills
 *              it and publishes it by storing tid last (release); a slot
 *              with tid != 0 is complete.
 *   acks       bumped after publishing; the stopper futex-waits on it.
 *
 * Invariant: a thread parks at most once per stop.  Handler runs are
 * serialised (sa_mask blocks every signal), the deferred park blocks every
 * signal too, and `no_park` keeps the stopper from parking itself.
 *
 * Rule 3: nothing from here to threads_start_world() allocates, uses
 * stdio or takes a lock: /proc/self/task is read with getdents64 into a
 * stack buffer, and the slot and tid tables are meta memory sized before
 * the stop begins.
 *
 * The libc calls that shim.c may wrap (sigaction, sigprocmask,
 * sigaltstack) are reached through __sigaction or raw system calls: with
 * -Bsymbolic our own calls would bind to those wrappers, which keep the
 * suspend signal away from the program and so from us.
 */
#include "threads.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <libunwind.h>

#include "meta.h"

/* glibc's real sigaction, under its exported alias. */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

#define MAX_COLLECTORS 256
#define MIN_SLOTS 256
#define MAX_ROUNDS 64              /* re-listings of /proc/self/task per stop */
/* Exited threads are looked for when no thread parked for a slice; the
 * slice starts short (threads that exit with the signal pending are common
 * under thread churn) and doubles up to the maximum. */
#define SLICE_MIN_NS 100000ull
#define SLICE_MAX_NS 2000000ull
#define KERNEL_SIGSET_BYTES 8      /* the kernel's sigset_t, not glibc's */

/* Bytes below the interrupted stack pointer that the ABI lets leaf code
 * use without moving it; the kernel skips them when it builds a frame. */
#if defined(__x86_64__)
#define RED_ZONE 128
#else
#define RED_ZONE 0
#endif

enum { TID_EMPTY, TID_SIGNALED, TID_PARKED, TID_GONE };

typedef struct tid_entry {
  pid_t tid;
  int state;
} tid_entry_t;

static struct {
  _Atomic int sig;              /* 0 until threads_init() chose one */
  _Atomic int init_state;       /* 0 not started, 1 choosing, 2 done */
  _Atomic uint32_t seq;
  _Atomic uint32_t acks;
  _Atomic uint32_t inside;
  _Atomic uint32_t next_slot;
  _Atomic bool overflow;        /* a parker found no free slot */
  _Atomic pid_t stopper;        /* tid holding the current stop, or 0 */
  _Atomic pid_t collectors[MAX_COLLECTORS];
  _Atomic size_t ncollectors;   /* high-water mark of collectors[] */
  /* Written only by the stopper while seq is even; read by parkers after
   * they loaded an odd seq (acquire). */
  stopped_thread_t *slots;
  size_t nslots;
  tid_entry_t *set;             /* open addressing, power-of-two size */
  size_t set_mask;
  size_t map_bytes;
  size_t used_slots;            /* slots written by the last stop */
} stw;

/* The stopper's view of one stop. */
typedef struct stop_ctx {
  pid_t pid, self;
  size_t entries;     /* tids in the set */
  size_t pending;     /* signalled, neither parked nor gone */
  size_t cursor;      /* slots already accounted for */
  uint64_t deadline;  /* CLOCK_MONOTONIC ns */
} stop_ctx_t;

__thread thread_ctl_t thread_ctl __attribute__((tls_model("initial-exec")));

/* Set while this thread must not park: it is the stopper, or already in
 * park(). */
static __thread bool no_park __attribute__((tls_model("initial-exec")));

/* ---- system calls ------------------------------------------------------ */

static pid_t sys_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static int sys_tgkill(pid_t pid, pid_t tid, int sig) {
  return (int)syscall(SYS_tgkill, pid, tid, sig);
}

static void sys_sigmask(int how, const sigset_t *set, sigset_t *old) {
  syscall(SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_BYTES);
}

static void sys_altstack(stack_t *ss) { syscall(SYS_sigaltstack, NULL, ss); }

/* Returns 0 or the errno (ETIMEDOUT, EAGAIN, EINTR).  timeout_ns < 0 waits
 * without limit. */
static int futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
  long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected,
                   timeout_ns < 0 ? NULL : &ts, NULL, 0);
  return r == 0 ? 0 : errno;
}

static void futex_wake(_Atomic uint32_t *word, int n) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An address at or below every frame of the caller: the caller's locals
 * and everything above them are live from here up. */
static __attribute__((noinline, noclone)) uintptr_t stack_pointer(void) {
  return (uintptr_t)__builtin_frame_address(0);
}

/* ---- the parked side ---------------------------------------------------- */

/* The alternate stack as it was when the signal came (the kernel saved it
 * in the ucontext; SS_AUTODISARM may have cleared the live setting since),
 * or as it is now for a deferred park.  [0, 0) if there is none. */
static void alt_range(const ucontext_t *uc, uintptr_t *lo, uintptr_t *hi) {
  stack_t ss;
  if (uc) ss = uc->uc_stack;
  else sys_altstack(&ss);
  bool none = (ss.ss_flags & SS_DISABLE) || ss.ss_size == 0;
  *lo = none ? 0 : (uintptr_t)ss.ss_sp;
  *hi = none ? 0 : (uintptr_t)ss.ss_sp + ss.ss_size;
}

static uintptr_t interrupted_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc;
  return 0;
#endif
}

/* Fills *t for this thread, parked at sp; uc is NULL for a deferred park,
 * whose sp is itself the interrupted position. */
static void fill_slot(stopped_thread_t *t, const ucontext_t *uc, uintptr_t sp) {
  uintptr_t lo, hi;
  alt_range(uc, &lo, &hi);
  uintptr_t isp = uc ? interrupted_sp(uc) : sp;
  bool on_alt = sp >= lo && sp < hi;
  bool isp_on_alt = isp >= lo && isp < hi;
  if (isp && !isp_on_alt) thread_ctl.stack_hint = isp;
  uintptr_t hint = thread_ctl.stack_hint;
  t->sp = sp;
  t->alt_lo = on_alt ? lo : 0;
  t->alt_hi = on_alt ? hi : 0;
  t->normal_sp = on_alt && isp && !isp_on_alt ? isp - RED_ZONE : 0;
  t->stack_hint = hint >= lo && hint < hi ? 0 : hint;
  __atomic_store_n(&t->tid, sys_gettid(), __ATOMIC_RELEASE);
}

/* Claims and fills a slot, then tells the stopper. */
static void publish(const ucontext_t *uc, uintptr_t sp) {
  uint32_t i = atomic_fetch_add(&stw.next_slot, 1);
  if (i < stw.nslots) fill_slot(&stw.slots[i], uc, sp);
  else atomic_store(&stw.overflow, true);
  atomic_fetch_add(&stw.acks, 1);
  futex_wake(&stw.acks, 1);
}

/* Copies the registers into *regs, in the caller's frame, so that
 * callee-saved ones are on the scanned stack even for a deferred park,
 * which has no kernel signal frame.  On x86-64 libunwind saves the x87
 * environment with fnstenv, which masks every x87 exception as a side
 * effect; the control word is put back so the program's floating-point
 * settings stay its own. */
static inline __attribute__((always_inline)) void spill_registers(unw_context_t *regs) {
#if defined(__x86_64__)
  unsigned short cw;
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  unw_getcontext(regs);
  __asm__ volatile("fldcw %0" : : "m"(cw));
#else
  unw_getcontext(regs);
#endif
}

/*
 * Parks this thread for stop `seq` unless that stop is already over.
 * `inside` is raised before seq is checked again, and the resumer changes
 * seq before it reads `inside` (both seq_cst): a thread either is waited
 * for or sees the new seq.
 */
static NOINLINE void park(uint32_t seq, const ucontext_t *uc) {
  unw_context_t regs;
  spill_registers(&regs);
  bool was = no_park;
  no_park = true;
  atomic_fetch_add(&stw.inside, 1);
  if (atomic_load(&stw.seq) == seq) {
    publish(uc, stack_pointer());
    while (atomic_load(&stw.seq) == seq) futex_wait(&stw.seq, seq, -1);
  }
  if (atomic_fetch_sub(&stw.inside, 1) == 1) futex_wake(&stw.inside, INT_MAX);
  no_park = was;
  __asm__ volatile("" : : "r"(&regs) : "memory");   /* keep regs alive to here */
}

/* Async-signal-safe throughout: atomics, TLS (initial-exec) and raw
 * system calls only. */
static void suspend_handler(int sig, siginfo_t *info, void *ucv) {
  (void)sig;
  (void)info;
  int saved_errno = errno;
  thread_ctl.suspends++;
  uint32_t seq = atomic_load(&stw.seq);
  if ((seq & 1) && !no_park) park(seq, (const ucontext_t *)ucv);
  errno = saved_errno;
}

void threads_note_stack(void) {
  stack_t ss;
  sys_altstack(&ss);
  if (!(ss.ss_flags & SS_ONSTACK)) thread_ctl.stack_hint = stack_pointer();
}

/* ---- set-up ------------------------------------------------------------- */

/* The highest real-time signal below SIGRTMAX-1 that nobody handles or
 * ignores yet.  SIGRTMAX and SIGRTMAX-1 are left to programs that count
 * down from the top, glibc's own ones lie below SIGRTMIN. */
static int choose_signal(void) {
  for (int s = SIGRTMAX - 2; s >= SIGRTMIN + 2; s--) {
    struct sigaction old;
    if (__sigaction(s, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL)
      return s;
  }
  return 0;
}

static void install_handler(int s) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = suspend_handler;
  sa.sa_flags = SA_RESTART | SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  __sigaction(s, &sa, NULL);
  /* An exec'ing parent may have left it blocked; threads inherit this. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, s);
  sys_sigmask(SIG_UNBLOCK, &set, NULL);
}

void threads_init(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&stw.init_state, &expected, 1)) {
    while (atomic_load(&stw.init_state) != 2) sched_yield();
    return;
  }
  int s = choose_signal();
  if (s) install_handler(s);
  atomic_store(&stw.sig, s);
  atomic_store(&stw.init_state, 2);
}

int threads_suspend_signal(void) { return atomic_load(&stw.sig); }

bool threads_is_suspend_signal(int sig) {
  int s = atomic_load(&stw.sig);
  return s != 0 && sig == s;
}

void threads_filter_mask(sigset_t *set) {
  int s = atomic_load(&stw.sig);
  if (s) sigdelset(set, s);
}

/* ---- collector threads -------------------------------------------------- */

bool threads_register_collector(void) {
  pid_t self = sys_gettid();
  for (size_t i = 0; i < MAX_COLLECTORS; i++) {
    pid_t free_slot = 0;
    if (atomic_compare_exchange_strong(&stw.collectors[i], &free_slot, self)) {
      size_t hw = atomic_load(&stw.ncollectors);
      while (hw < i + 1 && !atomic_compare_exchange_weak(&stw.ncollectors, &hw, i + 1)) {}
      return true;
    }
  }
  return false;
}

void threads_unregister_collector(void) {
  pid_t self = sys_gettid();
  size_t n = atomic_load(&stw.ncollectors);
  for (size_t i = 0; i < n; i++) {
    pid_t mine = self;
    atomic_compare_exchange_strong(&stw.collectors[i], &mine, 0);
  }
}

static bool is_collector(pid_t tid) {
  size_t n = atomic_load(&stw.ncollectors);
  for (size_t i = 0; i < n; i++)
    if (atomic_load(&stw.collectors[i]) == tid) return true;
  return false;
}

/* ---- /proc/self/task ---------------------------------------------------- */

struct dirent64_raw {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

typedef int (*task_fn)(stop_ctx_t *c, pid_t tid);

static pid_t parse_tid(const char *s) {
  pid_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    v = v * 10 + (*s - '0');
  }
  return v;
}

/* Calls fn for every thread of the process; returns the sum of its
 * results, or -1 if fn or the listing failed. */
static long for_each_task(task_fn fn, stop_ctx_t *c) {
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096] __attribute__((aligned(8)));
  long sum = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0) sum = -1;
      break;
    }
    for (long off = 0; off < n && sum >= 0;) {
      const struct dirent64_raw *d = (const struct dirent64_raw *)(buf + off);
      pid_t tid = parse_tid(d->d_name);
      int r = tid > 0 ? fn(c, tid) : 0;
      sum = r < 0 ? -1 : sum + r;
      off += d->d_reclen;
    }
    if (sum < 0) break;
  }
  close(fd);
  return sum;
}

static int count_task(stop_ctx_t *c, pid_t tid) {
  (void)c;
  (void)tid;
  return 1;
}

/* Whether the thread-group leader has exited (it stays listed, as a
 * zombie, while other threads run, and never takes a signal). */
static bool leader_is_dead(void) {
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char *paren = strrchr(buf, ')');
  return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* ---- tables ------------------------------------------------------------- */

/* One mapping: the slots, then the tid set at four entries per slot, so
 * the set stays at most half full while it holds 2 * nslots tids. */
static bool ensure_capacity(size_t threads) {
  size_t want = threads * 2 + 64;
  if (want < MIN_SLOTS) want = MIN_SLOTS;
  if (stw.nslots >= want) return true;
  size_t set_n = 1;
  while (set_n < want * 4) set_n <<= 1;
  size_t bytes = want * sizeof(stopped_thread_t) + set_n * sizeof(tid_entry_t);
  void *p = meta_map(bytes, "pacegc threads");
  if (!p) return false;
  if (stw.slots) meta_unmap(stw.slots, stw.map_bytes);
  stw.slots = p;
  stw.nslots = want;
  stw.set = (tid_entry_t *)((char *)p + want * sizeof(stopped_thread_t));
  stw.set_mask = set_n - 1;
  stw.map_bytes = bytes;
  stw.used_slots = 0;
  return true;
}

/* The entry holding tid, or the empty one where it would go; NULL when the
 * set is half full and tid is not in it. */
static tid_entry_t *set_find(stop_ctx_t *c, pid_t tid) {
  size_t i = ((size_t)(uint32_t)tid * 2654435761u) & stw.set_mask;
  for (;; i = (i + 1) & stw.set_mask) {
    tid_entry_t *e = &stw.set[i];
    if (e->tid == tid) return e;
    if (e->tid == 0) return c->entries * 2 < stw.set_mask + 1 ? e : NULL;
  }
}

static void set_insert(stop_ctx_t *c, tid_entry_t *e, pid_t tid, int state) {
  e->tid = tid;
  e->state = state;
  c->entries++;
  if (state == TID_SIGNALED) c->pending++;
}

/* ---- the stopper's side --------------------------------------------------- */

/* Signals tid unless it is known already; returns 1 if it was signalled. */
static int signal_task(stop_ctx_t *c, pid_t tid) {
  if (tid == c->self || is_collector(tid)) return 0;
  tid_entry_t *e = set_find(c, tid);
  if (!e) return -1;
  if (e->tid == tid) return 0;
  if (sys_tgkill(c->pid, tid, stw.sig) == 0) {
    set_insert(c, e, tid, TID_SIGNALED);
    return 1;
  }
  if (errno != ESRCH) return -1;   /* EAGAIN: the signal queue is full */
  set_insert(c, e, tid, TID_GONE);
  return 0;
}

/* Accounts for the slots published since the last call.  A thread may
 * park before we signal it (a late signal from an abandoned stop); it is
 * then recorded as parked and never signalled.  False if the set is full
 * or a thread parked twice (which would break the invariant). */
static bool collect_parked(stop_ctx_t *c) {
  size_t claimed = atomic_load(&stw.next_slot);
  if (claimed > stw.nslots) claimed = stw.nslots;
  while (c->cursor < claimed) {
    pid_t tid = __atomic_load_n(&stw.slots[c->cursor].tid, __ATOMIC_ACQUIRE);
    if (tid == 0) break;
    tid_entry_t *e = set_find(c, tid);
    if (!e || (e->tid == tid && e->state == TID_PARKED)) return false;
    if (e->tid != tid) set_insert(c, e, tid, TID_PARKED);
    else if (e->state == TID_SIGNALED) c->pending--;
    e->state = TID_PARKED;
    c->cursor++;
  }
  return true;
}

/* Signalled threads that will never park: exited, or the zombie leader. */
static void drop_exited(stop_ctx_t *c) {
  for (size_t i = 0; i <= stw.set_mask; i++) {
    tid_entry_t *e = &stw.set[i];
    if (e->tid == 0 || e->state != TID_SIGNALED) continue;
    bool gone = sys_tgkill(c->pid, e->tid, 0) != 0 && errno == ESRCH;
    if (gone || (e->tid == c->pid && leader_is_dead())) {
      e->state = TID_GONE;
      c->pending--;
    }
  }
}

static bool all_parked(stop_ctx_t *c) {
  return c->pending == 0 && c->cursor == atomic_load(&stw.next_slot);
}

/* Waits until every signalled thread has parked or gone, or the deadline. */
static bool await_parked(stop_ctx_t *c) {
  uint64_t slice = SLICE_MIN_NS;
  for (;;) {
    uint32_t seen = atomic_load(&stw.acks);
    if (!collect_parked(c) || atomic_load(&stw.overflow)) return false;
    if (all_parked(c)) return true;
    uint64_t now = now_ns();
    if (now >= c->deadline) return false;
    uint64_t left = c->deadline - now;
    if (futex_wait(&stw.acks, seen, (int64_t)(left < slice ? left : slice)) == ETIMEDOUT) {
      drop_exited(c);
      slice = slice * 2 < SLICE_MAX_NS ? slice * 2 : SLICE_MAX_NS;
    }
  }
}

/* Lists and signals until a listing taken with everyone parked shows no
 * new thread.  Only an unparked thread can create one, so each round
 * finds the children of threads that were still running in the last. */
static bool run_rounds(stop_ctx_t *c) {
  for (int round = 0; round < MAX_ROUNDS; round++) {
    long fresh = for_each_task(signal_task, c);
    if (fresh < 0 || !await_parked(c)) return false;
    if (fresh == 0) return true;
  }
  return false;
}

/* Resets the per-stop words and opens stop seq+1 (odd). */
static void begin_stop(void) {
  memset(stw.slots, 0, stw.used_slots * sizeof(stopped_thread_t));
  memset(stw.set, 0, (stw.set_mask + 1) * sizeof(tid_entry_t));
  atomic_store(&stw.acks, 0);
  atomic_store(&stw.next_slot, 0);
  atomic_store(&stw.overflow, false);
  atomic_fetch_add(&stw.seq, 1);
}

/* Closes the stop and waits until every parker has left park(). */
static void resume_all(void) {
  uint32_t used = atomic_load(&stw.next_slot);
  stw.used_slots = used < stw.nslots ? used : stw.nslots;
  atomic_fetch_add(&stw.seq, 1);
  futex_wake(&stw.seq, INT_MAX);
  for (uint32_t n; (n = atomic_load(&stw.inside)) != 0;)
    futex_wait(&stw.inside, n, -1);
}

static void release_stop(void) {
  no_park = false;
  atomic_store(&stw.stopper, 0);
}

bool threads_stop_world(world_t *w, unsigned timeout_ms) {
  w->nthreads = 0;
  threads_init();
  pid_t self = sys_gettid(), none = 0;
  if (!stw.sig || !atomic_compare_exchange_strong(&stw.stopper, &none, self)) return false;
  no_park = true;
  stop_ctx_t c = { .pid = getpid(), .self = self,
                   .deadline = now_ns() + (uint64_t)timeout_ms * 1000000u };
  long n = for_each_task(count_task, &c);
  if (n < 0 || !ensure_capacity((size_t)n)) {
    release_stop();
    return false;
  }
  begin_stop();
  if (!run_rounds(&c)) {
    resume_all();
    release_stop();
    return false;
  }
  w->threads = stw.slots;
  w->nthreads = c.cursor;
  w->capacity = stw.nslots;
  return true;
}

void threads_start_world(world_t *w) {
  w->nthreads = 0;
  if (atomic_load(&stw.stopper) != sys_gettid()) return;
  resume_all();
  release_stop();
}

/* The child has one thread and a copy of the parent's memory: the forking
 * thread cannot have been parked or stopping (gc.c's lock), but stale
 * counters, collector tids and slots are cleared all the same. */
void threads_after_fork_child(void) {
  atomic_store(&stw.seq, 0);
  atomic_store(&stw.acks, 0);
  atomic_store(&stw.inside, 0);
  atomic_store(&stw.next_slot, 0);
  atomic_store(&stw.overflow, false);
  atomic_store(&stw.stopper, 0);
  for (size_t i = 0; i < MAX_COLLECTORS; i++) atomic_store(&stw.collectors[i], 0);
  atomic_store(&stw.ncollectors, 0);
  stw.used_slots = stw.nslots;
  no_park = false;
}
