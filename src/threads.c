/*
 * Stopping the world with a real-time signal: see threads.h.
 *
 * Shared words (all in `stw`):
 *   seq        even: no stop.  The stopper makes it odd to begin stop S and
 *              even again to resume.  A handler that reads an even seq, or
 *              whose seq changed before it entered the park, returns at
 *              once: that is what makes late signals of abandoned stops
 *              harmless.  Parked threads futex-wait on it.
 *   inside     threads between entering and leaving park().  A stop
 *              waits for zero before its deadline starts, so no thread of
 *              stop S is still in park() when stop S+2 clears the slots.
 *              Resuming does not wait: the woken threads' scheduling
 *              delays would be the stopper's pause, and by the next stop
 *              they are long out.
 *   next_slot  a parking thread claims slots[fetch_add(next_slot)], fills
 *              it and publishes it by storing tid last (release); a slot
 *              with tid != 0 is complete.
 *   acks       bumped after publishing; the stopper futex-waits on it.
 *   stopper    the tid holding the current stop.  The stopper's own
 *              handler never parks (it compares tids, so a thread cloned
 *              without thread-local storage of its own is treated right).
 *
 * Invariant: a thread parks at most once per stop.  The handler's sa_mask
 * blocks every signal, so its runs on one thread are serialised, and a
 * slot published twice for one tid fails the stop rather than feed the
 * collector a duplicate.
 *
 * Only instances pacegc sent park: rt_tgsigqueueinfo with SI_QUEUE, this
 * process's pid and a random cookie.  Every other instance of the signal
 * is the program's (handlers.c).
 *
 * A thread that cannot take the signal (it blocks it by a raw system
 * call, is stopped, or waits for a vfork child) is seen in /proc and
 * handed to the tracer once every other thread has parked; a vfork
 * waiter, or one the tracer cannot take, fails the stop at once instead
 * of at its timeout.
 *
 * Rule 3: nothing from here to threads_start_world() allocates, uses
 * stdio or takes a lock: /proc/self/task is read with getdents64 into a
 * stack buffer, and the slot and tid tables are meta memory sized before
 * the stop begins.
 */
#include "threads.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/random.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "blocking.h"
#include "handlers.h"
#include "meta.h"
#include "os.h"
#include "tracer.h"

#define MAX_COLLECTORS 256
#define MIN_SLOTS 256
#define MAX_ROUNDS 64              /* re-listings of /proc/self/task per stop */
/* Exited threads are looked for when no thread parked for a slice; the
 * slice starts short (threads that exit with the signal pending are common
 * under thread churn) and doubles up to the maximum. */
#define SLICE_MIN_NS 100000ull
#define SLICE_MAX_NS 2000000ull
/* Threads that have not parked are looked at after this long, then again
 * every CHECK_EVERY: one that blocks the signal, is stopped or waits for a
 * vfork child at two looks in a row will not park, and the stop gives up
 * without waiting out its timeout.  Two looks, because glibc blocks every
 * signal for a moment in pthread_create and posix_spawn.  glibc also
 * blocks every signal for the whole of a thread's exit, where the thread
 * may wait for a lock that a parked thread holds; without the tracer such
 * a thread gets LIBC_LOOKS before the stop gives up on it, with the tracer
 * it is traced after two like any other. */
#define CHECK_FIRST_NS 10000000ull
#define CHECK_EVERY_NS 40000000ull
#define CHECK_KNOWN_NS 1000000ull
/* How long the tracer may take once the rest have parked: each thread it
 * stops is blocked in the kernel or spinning, and an interrupt takes it
 * at once unless it waits uninterruptibly, which is not worth stalling
 * the parked world for: the stop fails and is tried again later.  (Given
 * the stop's whole deadline, 2 s, a timed call of tests/programs/eintr
 * ended over a second late in 2 of 3 CI runs.) */
#define TRACER_WAIT_NS 500000000ull
#define LIBC_LOOKS 4

/* Bytes below the interrupted stack pointer that the ABI lets leaf code
 * use without moving it; the kernel skips them when it builds a frame. */
#if defined(__x86_64__)
#define RED_ZONE 128
#else
#define RED_ZONE 0
#endif

/* TID_BLOCKING: inside a blocking call when the stop began (blocking.h):
 * not signalled, its record published by the stopper. */
enum { TID_EMPTY, TID_SIGNALED, TID_PARKED, TID_GONE, TID_TRACE, TID_BLOCKING };

typedef struct tid_entry {
  pid_t tid;
  int state;
  stop_status_t seen;   /* what the last look at it found, STOP_OK if nothing */
  uint8_t looks;        /* how many looks in a row found that */
  uint32_t slot;        /* TID_BLOCKING: the slot holding its record */
} tid_entry_t;

static struct {
  _Atomic int sig;              /* 0 until threads_init() chose one */
  bool use_ptrace;              /* stop with ptrace those that cannot park */
  _Atomic int init_state;       /* 0 not started, 1 choosing, 2 done */
  void *cookie;                 /* the value only pacegc's sends carry */
  _Atomic uint32_t seq;
  _Atomic uint32_t acks;
  _Atomic uint32_t inside;
  _Atomic uint32_t next_slot;
  _Atomic bool overflow;        /* a parker found no free slot */
  _Atomic pid_t stopper;        /* tid holding the current stop, or 0 */
  _Atomic uint32_t execs;       /* threads between threads_exec_begin and _end */
  _Atomic pid_t pid;            /* the process execs counts for (not a vfork child's) */
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
  /* Threads the tracer stopped last time: one look that finds them still
   * unable to park is enough, and the first look comes early. */
  pid_t traced_last[TRACER_MAX];
  size_t ntraced_last;
} stw;

/* The stopper's view of one stop. */
typedef struct stop_ctx {
  pid_t self;
  int tasks_fd;                 /* /proc/self/task */
  size_t entries;               /* tids in the set */
  size_t pending;               /* signalled, neither parked, traced nor gone */
  size_t cursor;                /* slots already accounted for */
  uint64_t deadline;            /* CLOCK_MONOTONIC ns */
  uint64_t next_check;          /* when to look at the unparked in /proc */
  stop_result_t *why;
  pid_t trace[TRACER_MAX];      /* for the tracer, once the rest have parked */
  size_t ntrace;
  stop_status_t trace_why;      /* why the first of them could not park */
  bool traced;                  /* the tracer holds trace[] */
  size_t claimed_untraced;      /* slots claimed when the tracer had them all */
  size_t dropped;               /* records replaced by a later one */
} stop_ctx_t;

__thread thread_ctl_t thread_ctl __attribute__((tls_model("initial-exec")));

/* An address at or below every frame of the caller: the caller's locals
 * and everything above them are live from here up. */
static __attribute__((noinline, noclone)) uintptr_t stack_pointer(void) {
  return (uintptr_t)__builtin_frame_address(0);
}

/* ---- the parked side ---------------------------------------------------- */

/* The alternate stack as it was when the signal came (the kernel saved it
 * in the ucontext; SS_AUTODISARM may have cleared the live setting since).
 * [0, 0) if there is none. */
static void alt_range(const ucontext_t *uc, uintptr_t *lo, uintptr_t *hi) {
  stack_t ss = uc->uc_stack;
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

/* Fills *t for this thread, parked at sp.  The kernel's signal frame,
 * every register of the interrupted code in it, lies above sp on the
 * stack the handler runs on. */
static void fill_slot(stopped_thread_t *t, const ucontext_t *uc, uintptr_t sp) {
  uintptr_t lo, hi;
  alt_range(uc, &lo, &hi);
  uintptr_t isp = interrupted_sp(uc);
  bool on_alt = sp >= lo && sp < hi;
  bool isp_on_alt = isp >= lo && isp < hi;
  t->sp = sp;
  t->alt_lo = on_alt ? lo : 0;
  t->alt_hi = on_alt ? hi : 0;
  t->normal_sp = on_alt && isp && !isp_on_alt ? isp - RED_ZONE : 0;
  landing_capture(&t->landed, uc);
  t->blocking = t->dropped = false;
  __atomic_store_n(&t->tid, os_gettid(), __ATOMIC_RELEASE);
}

/* Claims and fills a slot, then tells the stopper. */
/* The next free slot, its index in *i; NULL (and overflow set) if none. */
static stopped_thread_t *claim_slot(uint32_t *i) {
  *i = atomic_fetch_add(&stw.next_slot, 1);
  if (*i < stw.nslots) return &stw.slots[*i];
  atomic_store(&stw.overflow, true);
  return NULL;
}

static void publish(const ucontext_t *uc, uintptr_t sp) {
  uint32_t i;
  stopped_thread_t *t = claim_slot(&i);
  if (t != NULL) fill_slot(t, uc, sp);
  atomic_fetch_add(&stw.acks, 1);
  os_futex_wake(&stw.acks, 1);
}

/*
 * Parks this thread for stop `seq` unless that stop is already over.
 * `inside` is raised before seq is checked again, and the resumer changes
 * seq before it reads `inside` (both seq_cst): a thread either is waited
 * for or sees the new seq.
 */
static NOINLINE void park(uint32_t seq, const ucontext_t *uc) {
  atomic_fetch_add(&stw.inside, 1);
  if (atomic_load(&stw.seq) == seq) {
    publish(uc, stack_pointer());
    while (atomic_load(&stw.seq) == seq) os_futex_wait(&stw.seq, seq, -1);
  }
  if (atomic_fetch_sub(&stw.inside, 1) == 1) os_futex_wake(&stw.inside, INT_MAX);
}

/* Whether pacegc sent this instance.  Another process may queue any
 * si_code below zero and any si_pid, but cannot know the cookie. */
static bool is_ours(const siginfo_t *info) {
  return info->si_code == SI_QUEUE && info->si_value.sival_ptr == stw.cookie &&
         info->si_pid == os_getpid();
}

/* Async-signal-safe throughout: atomics, TLS (initial-exec) and raw
 * system calls only. */
static void suspend_handler(int sig, siginfo_t *info, void *ucv) {
  int saved_errno = errno;
  if (!is_ours(info)) {
    handlers_foreign(sig, info, ucv);
  } else {
    thread_ctl.suspends++;
    uint32_t seq = atomic_load(&stw.seq);
    if ((seq & 1) && atomic_load(&stw.stopper) != os_gettid())
      park(seq, (const ucontext_t *)ucv);
  }
  errno = saved_errno;
}

/* ---- set-up ------------------------------------------------------------- */

/* Random, so that no other process can forge a stop; odd, so never NULL,
 * the value a program's own sigqueue most often carries. */
static void *make_cookie(void) {
  uint64_t c = 0;
  if (os_syscall3(SYS_getrandom, &c, sizeof c, GRND_NONBLOCK) != (long)sizeof c)
    c = os_monotonic_ns() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&c;
  return (void *)(uintptr_t)(c | 1);
}

/* The program keeps its view of the signal (handlers.c): the action the
 * process started with, and whether it came blocked through exec.  The
 * kernel gets pacegc's handler and never blocks the signal. */
static void install_handler(int s) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = suspend_handler;
  sa.sa_flags = SA_RESTART | SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  os_sigaction(s, NULL, &old);
  handlers_adopt(s, &old);
  os_sigaction(s, &sa, NULL);
  sigset_t set, was;
  sigemptyset(&set);
  sigaddset(&set, s);
  os_sigmask(SIG_UNBLOCK, &set, &was);
  handlers_set_blocked(sigismember(&was, s));
}

void threads_init(int sig, bool use_ptrace) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&stw.init_state, &expected, 1)) {
    while (atomic_load(&stw.init_state) != 2) sched_yield();
    return;
  }
  atomic_store(&stw.pid, os_getpid());
  int s = sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : SIGRTMAX - 2;
  stw.use_ptrace = use_ptrace;
  stw.cookie = make_cookie();
  install_handler(s);
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

thread_inherit_t threads_inherit_get(void) {
  return (thread_inherit_t){ .prog_blocked = thread_ctl.prog_blocked != 0 };
}

void threads_inherit_set(thread_inherit_t in) { handlers_set_blocked(in.prog_blocked); }

/* ---- collector threads -------------------------------------------------- */

bool threads_register_collector(void) {
  pid_t self = os_gettid();
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
  pid_t self = os_gettid();
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

typedef int (*task_fn)(stop_ctx_t *c, pid_t tid);

typedef struct task_call { task_fn fn; stop_ctx_t *c; } task_call_t;

static long task_call(void *arg, long tid) {
  const task_call_t *t = arg;
  return tid > 0 ? t->fn(t->c, (pid_t)tid) : 0;
}

/* Calls fn for every thread of the process; returns the sum of its
 * results, or -1 if fn or the listing failed. */
static long for_each_task(task_fn fn, stop_ctx_t *c) {
  task_call_t t = { fn, c };
  return os_dir_numbers(c->tasks_fd, task_call, &t);
}

static int count_task(stop_ctx_t *c, pid_t tid) {
  (void)c;
  (void)tid;
  return 1;
}

/* The single-letter state after "(comm) " in a stat line; 0 if unknown. */
static char stat_state(const char *stat) {
  const char *paren = strrchr(stat, ')');
  return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* /proc/self/stat into buf, NUL-terminated; false if it cannot be read. */
static bool read_process_stat(char *buf, size_t len) {
  int fd = os_proc_fd(OS_PROC_STAT);
  ssize_t n = fd < 0 ? -1 : os_pread(fd, buf, len - 1, 0);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

/* Whether the thread-group leader has exited (it stays listed, as a
 * zombie, while other threads run, and never takes a signal). */
static bool leader_is_dead(void) {
  char buf[512];
  if (!read_process_stat(buf, sizeof buf)) return false;
  char s = stat_state(buf);
  return s == 'Z' || s == 'X';
}

/* The process's thread count (stat's 20th field, num_threads), or -1.
 * It sizes the tables: one read, where listing /proc/self/task costs a
 * directory entry per thread. */
static long process_threads(void) {
  char buf[512];
  if (!read_process_stat(buf, sizeof buf)) return -1;
  const char *p = strrchr(buf, ')');
  for (int field = 2; p != NULL && field < 20; field++) p = strchr(p + 1, ' ');
  if (p == NULL || p[1] < '0' || p[1] > '9') return -1;
  long n = 0;
  for (p++; *p >= '0' && *p <= '9'; p++) n = n * 10 + (*p - '0');
  return n;
}

/* The value of lowercase hex digits (a "SigBlk:" mask, a "syscall"
 * argument after its "0x"). */
static uint64_t hex_mask(const char *hex) {
  uint64_t m = 0;
  for (; (*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f'); hex++)
    m = m << 4 | (uint64_t)(*hex <= '9' ? *hex - '0' : *hex - 'a' + 10);
  return m;
}

/* Signals 1..31 but SIGKILL and SIGSTOP, which no mask holds. */
#define STANDARD_SIGNALS (0x7fffffffull & ~(1ull << (SIGKILL - 1)) & ~(1ull << (SIGSTOP - 1)))

/* Why a signalled thread might never park, from what /proc says of it;
 * *libc set when it blocks every standard signal, as glibc does. */
static stop_status_t why_not_parked(stop_ctx_t *c, pid_t tid, bool *libc) {
  char buf[2048];
  *libc = false;
  if (!os_read_task_file(c->tasks_fd, tid, "stat", buf, sizeof buf)) return STOP_OK;
  char state = stat_state(buf);
  if (state == 'T' || state == 't') return STOP_STOPPED;
  if (os_read_task_file(c->tasks_fd, tid, "status", buf, sizeof buf)) {
    const char *blk = strstr(buf, "\nSigBlk:\t");
    uint64_t mask = blk ? hex_mask(blk + 9) : 0;
    if (mask >> (atomic_load(&stw.sig) - 1) & 1) {
      *libc = (mask & STANDARD_SIGNALS) == STANDARD_SIGNALS;
      return STOP_BLOCKED;
    }
  }
  /* A vfork parent sleeps in clone or vfork, with CLONE_VFORK. */
  if (state == 'D' && os_read_task_file(c->tasks_fd, tid, "syscall", buf, sizeof buf)) {
    long nr = 0;
    const char *s = buf;
    for (; *s >= '0' && *s <= '9'; s++) nr = nr * 10 + (*s - '0');
    if (nr == SYS_vfork || nr == SYS_clone3) return STOP_VFORK;
    if (nr == SYS_clone && s[0] == ' ' && (hex_mask(s + 3) & 0x4000 /* CLONE_VFORK */))
      return STOP_VFORK;
  }
  return STOP_OK;
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
  void *p = meta_map(bytes, "pacegc-threads");
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
  e->seen = STOP_OK;
  e->looks = 0;
  c->entries++;
  if (state == TID_SIGNALED) c->pending++;
}

/* ---- the stopper's side --------------------------------------------------- */

/* Records why the stop fails; returns false for the caller to pass on. */
static bool fail(stop_ctx_t *c, stop_status_t status, pid_t tid, int err) {
  c->why->status = status;
  c->why->tid = tid;
  c->why->err = err;
  return false;
}

/* Signals tid unless it is known already; returns 1 if it was signalled,
 * -1 (the stop failed) if it could not be. */
static int signal_task(stop_ctx_t *c, pid_t tid) {
  if (tid == c->self || is_collector(tid)) return 0;
  tid_entry_t *e = set_find(c, tid);
  if (!e) {
    fail(c, STOP_TABLES, tid, 0);
    return -1;
  }
  if (e->tid == tid) return 0;
  int r = os_sigqueue_thread(tid, atomic_load(&stw.sig), SI_QUEUE, stw.cookie);
  if (r == 0) {
    set_insert(c, e, tid, TID_SIGNALED);
    return 1;
  }
  if (r != -ESRCH) {   /* EAGAIN: the signal queue is full */
    fail(c, STOP_SEND, tid, -r);
    return -1;
  }
  set_insert(c, e, tid, TID_GONE);
  return 0;
}

/* Where tid is in the tracer's list, or c->ntrace. */
static size_t trace_index(const stop_ctx_t *c, pid_t tid) {
  size_t i = 0;
  while (i < c->ntrace && c->trace[i] != tid) i++;
  return i;
}

/* A thread put aside for the tracer parked by itself after all (it
 * unblocked the signal, or its stop ended): it is no longer traced. */
static void untrace(stop_ctx_t *c, pid_t tid) {
  size_t i = trace_index(c, tid);
  if (i < c->ntrace) c->trace[i] = c->trace[--c->ntrace];
}

static void drop_slot(stop_ctx_t *c, size_t i) {
  stw.slots[i].dropped = true;
  c->dropped++;
}

/*
 * Accounts for the slots published since the last call.  A thread may
 * park before we signal it (a late signal from an abandoned stop); it is
 * then recorded as parked and never signalled.  Slots the tracer's
 * threads fill come through here too.  False if the set is full or a
 * thread parked twice (which would break the invariant).
 *
 * A thread on the tracer's list may take the signal while the tracer
 * comes for it: it may park and then be traced too (its slot is then a
 * duplicate), or be frozen between claiming a slot and filling it (the
 * slot stays empty).  Every other thread had parked when the tracer came,
 * so an empty slot among those claimed by the time it held them is such
 * a thread's; both kinds are dropped by compact_slots().
 */
static bool collect_parked(stop_ctx_t *c) {
  size_t claimed = atomic_load(&stw.next_slot);
  if (claimed > stw.nslots) claimed = stw.nslots;
  for (; c->cursor < claimed; c->cursor++) {
    pid_t tid = __atomic_load_n(&stw.slots[c->cursor].tid, __ATOMIC_ACQUIRE);
    if (tid == 0) {
      if (c->traced && c->cursor < c->claimed_untraced) continue;
      break;
    }
    tid_entry_t *e = set_find(c, tid);
    if (!e) return fail(c, STOP_TABLES, tid, 0);
    if (stw.slots[c->cursor].blocking) {
      /* The stopper's own record: dropped if a park of the thread came
       * first. */
      if (e->state != TID_BLOCKING || e->slot != c->cursor) drop_slot(c, c->cursor);
      continue;
    }
    /* A park (a late signal of an abandoned stop) replaces the record
     * of the blocking call it interrupted: it lies lower on the stack. */
    if (e->tid == tid && e->state == TID_BLOCKING) drop_slot(c, e->slot);
    if (e->tid == tid && e->state == TID_PARKED) {
      if (c->traced && trace_index(c, tid) < c->ntrace) continue;
      return fail(c, STOP_TABLES, tid, 0);
    }
    if (e->tid != tid) set_insert(c, e, tid, TID_PARKED);
    else if (e->state == TID_SIGNALED) c->pending--;
    else if (e->state == TID_TRACE && !c->traced) untrace(c, tid);
    e->state = TID_PARKED;
  }
  return true;
}

/* Drops what collect_parked() let through: records it dropped, and for
 * traced threads empty slots and, for a thread recorded twice, the record
 * with the higher sp (the traced one, taken later, lies lower and covers
 * the other).  Returns how many slots are left. */
static size_t compact_slots(const stop_ctx_t *c, size_t n) {
  if (!c->traced && c->dropped == 0) return n;
  size_t kept[TRACER_MAX], out = 0;
  for (size_t k = 0; k < TRACER_MAX; k++) kept[k] = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    stopped_thread_t s = stw.slots[i];
    if (s.tid == 0 || s.dropped) continue;
    size_t k = trace_index(c, s.tid);
    if (k < c->ntrace && kept[k] != SIZE_MAX) {
      if (s.sp < stw.slots[kept[k]].sp) stw.slots[kept[k]] = s;
      continue;
    }
    if (k < c->ntrace) kept[k] = out;
    stw.slots[out++] = s;
  }
  return out;
}

/* Signalled threads that will never park: exited, or the zombie leader. */
static void drop_exited(stop_ctx_t *c) {
  pid_t pid = os_getpid();
  for (size_t i = 0; i <= stw.set_mask; i++) {
    tid_entry_t *e = &stw.set[i];
    if (e->tid == 0 || e->state != TID_SIGNALED) continue;
    bool gone = os_tgkill(e->tid, 0) == -ESRCH;
    if (gone || (e->tid == pid && leader_is_dead())) {
      e->state = TID_GONE;
      c->pending--;
    }
  }
}

static bool traced_last_time(pid_t tid) {
  for (size_t i = 0; i < stw.ntraced_last; i++)
    if (stw.traced_last[i] == tid) return true;
  return false;
}

/* Looks at every thread still not parked.  One found unable to park at
 * enough looks in a row is left to the tracer if it blocks the signal or
 * is stopped; false (and *why set) if it waits in vfork or the tracer is
 * off or has no room for it.  Once the tracer has run in this stop, one
 * found later is waited for until the deadline instead: it is almost
 * always a thread created meanwhile, which glibc starts with every signal
 * blocked until it is set up (under load, for more than two looks). */
static bool check_pending(stop_ctx_t *c) {
  for (size_t i = 0; i <= stw.set_mask; i++) {
    tid_entry_t *e = &stw.set[i];
    if (e->tid == 0 || e->state != TID_SIGNALED) continue;
    bool libc;
    stop_status_t now = why_not_parked(c, e->tid, &libc);
    e->looks = now == e->seen && e->looks < UINT8_MAX ? e->looks + 1 : 1;
    e->seen = now;
    unsigned needed = libc && !stw.use_ptrace ? LIBC_LOOKS : 2;
    if (now == STOP_OK || (e->looks < needed && !traced_last_time(e->tid))) continue;
    if (now == STOP_VFORK || !stw.use_ptrace || c->ntrace == TRACER_MAX)
      return fail(c, now, e->tid, 0);
    if (c->traced) continue;
    if (c->ntrace == 0) c->trace_why = now;
    c->trace[c->ntrace++] = e->tid;
    e->state = TID_TRACE;
    c->pending--;
  }
  return true;
}

/* A thread the stopper publishes itself, stopped at sp with no signal
 * frame below it: its receive record from `landing` (NULL: none), its
 * slot's index in *i.  False if there was no slot. */
static bool publish_stopped(pid_t tid, uintptr_t sp, const landing_t *landing, bool blocking,
                            uint32_t *i) {
  stopped_thread_t *s = claim_slot(i);
  if (s == NULL) return false;
  s->sp = sp;
  s->alt_lo = s->alt_hi = s->normal_sp = 0;
  if (landing != NULL) landing_copy(&s->landed, landing);
  else s->landed.n = 0;
  s->blocking = blocking;
  s->dropped = false;
  __atomic_store_n(&s->tid, tid, __ATOMIC_RELEASE);
  return true;
}

/* A thread inside a blocking call (blocking.h), published by the
 * stopper as if it had parked at the call's frame. */
static void publish_blocking(void *arg, pid_t tid, uintptr_t sp, const landing_t *landing) {
  stop_ctx_t *c = arg;
  if (tid == c->self || c->why->status != STOP_OK) return;
  tid_entry_t *e = set_find(c, tid);
  if (e == NULL) {
    fail(c, STOP_TABLES, tid, 0);
    return;
  }
  if (e->tid == tid) return;   /* parked already, or a duplicate record */
  uint32_t i;
  if (!publish_stopped(tid, sp, landing, true, &i)) return;
  set_insert(c, e, tid, TID_BLOCKING);
  e->slot = i;
}

/* A thread the tracer stopped, published as if it had parked; its
 * receive record is out of reach (README: hazards). */
static void publish_traced(const traced_t *t) {
  uint32_t i;
  publish_stopped(t->tid, t->sp, NULL, false, &i);
}

/* Once every other thread has parked: the tracer stops those that
 * cannot park. */
static bool trace_the_rest(stop_ctx_t *c) {
  tracer_failure_t tf;
  uint64_t until = os_monotonic_ns() + TRACER_WAIT_NS;
  if (!tracer_stop(c->trace, c->ntrace, until < c->deadline ? until : c->deadline, &tf))
    return fail(c, c->trace_why, tf.tid, tf.err);
  c->traced = true;
  c->claimed_untraced = atomic_load(&stw.next_slot);
  size_t n, kept = 0;
  const traced_t *t = tracer_threads(&n);
  for (size_t i = 0; i < n; i++) {
    if (t[i].tid == 0) {   /* exited: it will not be found in the set again */
      tid_entry_t *e = set_find(c, c->trace[i]);
      if (e && e->tid == c->trace[i]) e->state = TID_GONE;
      continue;
    }
    publish_traced(&t[i]);
    stw.traced_last[kept++] = t[i].tid;
  }
  stw.ntraced_last = kept;
  return true;
}

static bool all_parked(stop_ctx_t *c) {
  return c->pending == 0 && c->cursor == atomic_load(&stw.next_slot);
}

/* Waits until every signalled thread has parked or gone, or one cannot,
 * or the deadline. */
static bool await_parked(stop_ctx_t *c) {
  uint64_t slice = SLICE_MIN_NS;
  for (;;) {
    uint32_t seen = atomic_load(&stw.acks);
    if (!collect_parked(c)) return false;
    if (atomic_load(&stw.overflow)) return fail(c, STOP_TABLES, 0, 0);
    if (all_parked(c)) {
      if (c->ntrace == 0 || c->traced) return true;
      if (!trace_the_rest(c)) return false;
      continue;
    }
    uint64_t now = os_monotonic_ns();
    if (now >= c->deadline) {
      for (size_t i = 0; i <= stw.set_mask; i++)
        if (stw.set[i].tid != 0 && stw.set[i].state == TID_SIGNALED)
          return fail(c, STOP_TIMEOUT, stw.set[i].tid, 0);
      return fail(c, STOP_TIMEOUT, 0, 0);
    }
    if (now >= c->next_check) {
      if (!check_pending(c)) return false;
      c->next_check = now + CHECK_EVERY_NS;
    }
    uint64_t left = c->deadline - now;
    if (os_futex_wait(&stw.acks, seen, (int64_t)(left < slice ? left : slice)) == -ETIMEDOUT) {
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
    bool traced_before = c->traced;
    long fresh = for_each_task(signal_task, c);
    if (fresh < 0) return c->why->status != STOP_OK ? false : fail(c, STOP_NO_TASKS, 0, 0);
    if (!await_parked(c)) return false;
    /* A traced thread ran until the tracer froze it, after this listing:
     * one more listing finds what it created meanwhile. */
    if (fresh == 0 && c->traced == traced_before) return true;
  }
  return fail(c, STOP_TABLES, 0, 0);   /* the listing never settled */
}

/* Waits until every parker of the last stop has left park(): one that
 * published before the last resume may not have run since. */
static void await_last_parkers(void) {
  for (uint32_t n; (n = atomic_load(&stw.inside)) != 0;)
    os_futex_wait(&stw.inside, n, -1);
}

/* Resets the per-stop words and opens stop seq+1 (odd); the last stop's
 * parkers are out (await_last_parkers). */
static void begin_stop(void) {
  memset(stw.slots, 0, stw.used_slots * sizeof(stopped_thread_t));
  memset(stw.set, 0, (stw.set_mask + 1) * sizeof(tid_entry_t));
  atomic_store(&stw.acks, 0);
  atomic_store(&stw.next_slot, 0);
  atomic_store(&stw.overflow, false);
  atomic_fetch_add(&stw.seq, 1);
}

/* Closes the stop and wakes the parkers. */
static void resume_all(void) {
  uint32_t used = atomic_load(&stw.next_slot);
  stw.used_slots = used < stw.nslots ? used : stw.nslots;
  atomic_fetch_add(&stw.seq, 1);
  os_futex_wake(&stw.seq, INT_MAX);
}

bool threads_stop_world(world_t *w, unsigned timeout_ms, stop_result_t *why) {
  w->nthreads = 0;
  *why = (stop_result_t){ STOP_OK, 0, 0 };
  pid_t self = os_gettid(), none = 0;
  if (!atomic_load(&stw.sig) || !atomic_compare_exchange_strong(&stw.stopper, &none, self)) {
    why->status = atomic_load(&stw.sig) ? STOP_BUSY : STOP_NO_SIGNAL;
    return false;
  }
  /* Before the deadline starts: that wait was the last stop's restart. */
  await_last_parkers();
  uint64_t now = os_monotonic_ns();
  stop_ctx_t c = { .self = self, .tasks_fd = os_proc_fd(OS_PROC_TASK), .why = why,
                   .deadline = now + (uint64_t)timeout_ms * 1000000u,
                   .next_check = now + (stw.ntraced_last ? CHECK_KNOWN_NS : CHECK_FIRST_NS) };
  bool ok = c.tasks_fd >= 0 || fail(&c, STOP_NO_TASKS, 0, 0);
  if (ok) {
    long n = process_threads();
    if (n < 0) n = for_each_task(count_task, &c);
    ok = n < 0 ? fail(&c, STOP_NO_TASKS, 0, 0)
               : ensure_capacity((size_t)n) || fail(&c, STOP_TABLES, 0, 0);
  }
  if (ok) {
    begin_stop();
    /* After the stop is open (seq odd): a thread about to exec either
     * saw it and waits for its end, or is seen here (threads_exec_begin). */
    if (atomic_load(&stw.execs) != 0) {
      ok = fail(&c, STOP_BUSY, 0, 0);
    } else {
      /* After the stop is open: blocking.h's handshake. */
      blocking_each_inside(publish_blocking, &c);
      ok = c.why->status == STOP_OK && run_rounds(&c);
    }
    if (!ok) {
      tracer_release();
      resume_all();
    }
  }
  if (!c.traced) stw.ntraced_last = 0;
  if (!ok) {
    atomic_store(&stw.stopper, 0);
    return false;
  }
  w->threads = stw.slots;
  w->nthreads = compact_slots(&c, c.cursor);
  w->capacity = stw.nslots;
  return true;
}

/* A vfork child (posix_spawn, subprocess) runs in its parent's memory
 * until it execs, and never comes back to count itself out: it has no
 * other thread a stop could signal, so it counts for nothing. */
static bool in_vfork_child(void) { return os_getpid() != atomic_load(&stw.pid); }

void threads_exec_begin(void) {
  if (in_vfork_child()) return;
  atomic_fetch_add(&stw.execs, 1);
  for (uint32_t seq; ((seq = atomic_load(&stw.seq)) & 1) != 0;)
    os_futex_wait(&stw.seq, seq, -1);
}

void threads_exec_end(void) {
  if (!in_vfork_child()) atomic_fetch_sub(&stw.execs, 1);
}

void threads_await_stop_end(void) {
  for (uint32_t seq; ((seq = atomic_load(&stw.seq)) & 1) != 0;) {
    if (atomic_load(&stw.stopper) == os_gettid()) return;
    os_futex_wait(&stw.seq, seq, -1);
  }
}

bool threads_world_stopped_by_me(void) {
  return (atomic_load(&stw.seq) & 1) && atomic_load(&stw.stopper) == os_gettid();
}

void threads_start_world(world_t *w) {
  w->nthreads = 0;
  if (atomic_load(&stw.stopper) != os_gettid()) return;
  tracer_release();
  resume_all();
  atomic_store(&stw.stopper, 0);
}

/* The child has one thread and a copy of the parent's memory: the forking
 * thread cannot have been parked or stopping (gc.c's lock), but stale
 * counters, collector and traced tids and slots are cleared all the same. */
void threads_after_fork_child(void) {
  atomic_store(&stw.seq, 0);
  atomic_store(&stw.acks, 0);
  atomic_store(&stw.inside, 0);
  atomic_store(&stw.next_slot, 0);
  atomic_store(&stw.overflow, false);
  atomic_store(&stw.stopper, 0);
  atomic_store(&stw.execs, 0);   /* the threads between them are gone */
  atomic_store(&stw.pid, os_getpid());
  for (size_t i = 0; i < MAX_COLLECTORS; i++) atomic_store(&stw.collectors[i], 0);
  atomic_store(&stw.ncollectors, 0);
  stw.ntraced_last = 0;
  stw.used_slots = stw.nslots;
  handlers_after_fork_child();
}
