/* The marker threads: see markers.h. */
#include "markers.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

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
  mk.cpu_ns = 0;
  mk.generation++;
  pthread_cond_broadcast(&mk.go);
  pthread_mutex_unlock(&mk.lock);
  mark_work(0);
  pthread_mutex_lock(&mk.lock);
  while (mk.finished < n - 1) pthread_cond_wait(&mk.done, &mk.lock);
  mk.running = 0;
  pthread_mutex_unlock(&mk.lock);
}

uint64_t markers_last_cpu_ns(void) { return mk.cpu_ns; }

/* The helpers did not survive the fork. */
void markers_after_fork_child(void) {
  pthread_mutex_init(&mk.lock, NULL);
  pthread_cond_init(&mk.go, NULL);
  pthread_cond_init(&mk.done, NULL);
  mk.started = mk.registered = mk.running = mk.finished = 0;
}
