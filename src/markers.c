/* The marker threads: see markers.h. */
#include "markers.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "mark.h"
#include "meta.h"
#include "os.h"
#include "stacks.h"
#include "threads.h"
#include "util.h"

#define MARKER_STACK ((size_t)256 << 10)

/* Invariant: `started` helpers exist (ids 1..started), each registered as
 * a collector thread.  A run bumps `generation`; each helper runs once per
 * generation and counts itself in `finished`. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t go, done;
  int started, running;
  uint64_t generation;
  int finished;
  uint64_t cpu_ns;
  int registered;
  /* markers_set_fraction: the fractional worker and its budget. */
  int fractional_id;
  double fraction;
  uint64_t pace_wall0, pace_cpu0;   /* at its first markers_pace; 0: not yet */
  uint64_t idle_check_at;           /* next look at the CPU's idleness */
  long switches;                    /* its involuntary switches so far */
  bool idle;                        /* a CPU was idle at the last look */
} mk = { .lock = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
         .done = PTHREAD_COND_INITIALIZER };

static void *helper_main(void *arg) {
  int id = (int)(intptr_t)arg;
  /* Every signal blocked, the suspend signal too (raw syscall: the shim's
   * wrapper would keep it open). */
  sigset_t all;
  sigfillset(&all);
  os_sigmask(SIG_SETMASK, &all, NULL);
  bool ok = threads_register_collector();
  pthread_mutex_lock(&mk.lock);
  mk.registered += ok ? 1 : 0;
  uint64_t seen = mk.generation;
  pthread_cond_broadcast(&mk.done);
  if (!ok) {
    pthread_mutex_unlock(&mk.lock);
    return NULL;
  }
  for (;;) {
    while (mk.generation == seen || id >= mk.running) {
      seen = mk.generation;
      pthread_cond_wait(&mk.go, &mk.lock);
    }
    seen = mk.generation;
    pthread_mutex_unlock(&mk.lock);
    uint64_t cpu0 = os_thread_cpu_ns();
    mark_work(id);
    uint64_t cpu = os_thread_cpu_ns() - cpu0;
    pthread_mutex_lock(&mk.lock);
    mk.cpu_ns += cpu;
    mk.finished++;
    pthread_cond_broadcast(&mk.done);
  }
}

static bool start_helper(int id) {
  void *stack = meta_map(MARKER_STACK, "pacegc-marker-stack");
  if (stack == NULL) return false;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, stack, MARKER_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  bool ok = stacks_create_internal(&t, &attr, helper_main, (void *)(intptr_t)id) == 0;
  pthread_attr_destroy(&attr);
  if (!ok) meta_unmap(stack, MARKER_STACK);
  return ok;
}

int markers_prepare(int n) {
  if (n > MARKERS_MAX) n = MARKERS_MAX;
  pthread_mutex_lock(&mk.lock);
  while (mk.started < n - 1 && start_helper(mk.started + 1)) mk.started++;
  while (mk.registered < mk.started) pthread_cond_wait(&mk.done, &mk.lock);
  int usable = 1 + mk.registered;
  pthread_mutex_unlock(&mk.lock);
  return usable < n ? usable : n;
}

void markers_run(int n) {
  pthread_mutex_lock(&mk.lock);
  mk.running = n;
  mk.finished = 0;
  mk.generation++;
  pthread_cond_broadcast(&mk.go);
  pthread_mutex_unlock(&mk.lock);
  mark_work(0);
  pthread_mutex_lock(&mk.lock);
  while (mk.finished < n - 1) pthread_cond_wait(&mk.done, &mk.lock);
  mk.running = 0;
  pthread_mutex_unlock(&mk.lock);
}

uint64_t markers_take_cpu_ns(void) {
  pthread_mutex_lock(&mk.lock);
  uint64_t cpu = mk.cpu_ns;
  mk.cpu_ns = 0;
  pthread_mutex_unlock(&mk.lock);
  return cpu;
}

void markers_set_fraction(int fractional_id, double fraction) {
  mk.fractional_id = fractional_id;
  mk.fraction = fraction;
  mk.pace_wall0 = mk.pace_cpu0 = 0;
  mk.idle = false;
}

/* Longest single sleep: the worker looks again at least this often. */
#define PACE_SLEEP_MAX_NS 10000000ull
/* How often the fractional worker asks whether a CPU is idle. */
#define IDLE_CHECK_NS 2000000ull

static long involuntary_switches(void) {
  struct rusage ru;
  return os_syscall2(SYS_getrusage, RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : -1;
}

/*
 * Go's idle mark workers: a processor with nothing else to run marks.
 * Here, a CPU is taken for idle when the worker, running flat out, was
 * not preempted since the last look: nothing else of this process or of
 * any other wanted its CPU (CPU other processes use is not idle), and
 * the worker does not sleep.  It keeps its normal priority: in
 * SCHED_IDLE, a busy machine would starve it, and the mark with it.
 */
static bool cpu_idle(uint64_t now) {
  if (now < mk.idle_check_at) return mk.idle;
  long sw = involuntary_switches();
  mk.idle = sw >= 0 && sw == mk.switches && mk.idle_check_at != 0;
  mk.switches = sw;
  mk.idle_check_at = now + IDLE_CHECK_NS;
  return mk.idle;
}

void markers_pace(int id) {
  if (id != mk.fractional_id || mk.fraction <= 0) return;
  uint64_t now = os_monotonic_ns(), cpu = os_thread_cpu_ns();
  if (mk.pace_wall0 == 0) {
    mk.pace_wall0 = now;
    mk.pace_cpu0 = cpu;
    mk.idle_check_at = 0;
    cpu_idle(now);
    return;
  }
  /* Time on an idle CPU is not counted against the fraction. */
  if (cpu_idle(now)) {
    mk.pace_wall0 = now;
    mk.pace_cpu0 = cpu;
    return;
  }
  /* Sleep until cpu / wall is back at the fraction. */
  double due = (double)(cpu - mk.pace_cpu0) / mk.fraction;
  double ahead = due - (double)(now - mk.pace_wall0);
  if (ahead <= 0) return;
  uint64_t ns = ahead > (double)PACE_SLEEP_MAX_NS ? PACE_SLEEP_MAX_NS : (uint64_t)ahead;
  struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
  os_syscall2(SYS_nanosleep, &ts, NULL);
}

/* The helpers did not survive the fork. */
void markers_after_fork_child(void) {
  pthread_mutex_init(&mk.lock, NULL);
  pthread_cond_init(&mk.go, NULL);
  pthread_cond_init(&mk.done, NULL);
  mk.started = mk.registered = mk.running = mk.finished = 0;
}
