/* The background collector thread: see background.h. */
#include "background.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>

#include "meta.h"
#include "os.h"
#include "stacks.h"
#include "threads.h"

/* Cycles run on this stack: as large as gc.c's own for inline cycles. */
#define BACKGROUND_STACK ((size_t)512 << 10)

enum { BG_NONE, BG_READY, BG_FAILED };

/* Invariant: `busy` is set from a request until the thread is done with
 * it; requests bumps (and wakes the thread) only when busy goes from
 * clear to set, so each bump is one call of run. */
static struct {
  _Atomic int state;
  _Atomic uint32_t requests;
  _Atomic bool busy;
  _Atomic pid_t tid;
  void (*run)(void);
} bg;

static void *background_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  os_sigmask(SIG_SETMASK, &all, NULL);
  if (!threads_register_collector()) {
    atomic_store(&bg.state, BG_FAILED);
    return NULL;
  }
  atomic_store(&bg.tid, os_gettid());
  atomic_store(&bg.state, BG_READY);
  uint32_t seen = 0;
  for (;;) {
    uint32_t now = atomic_load(&bg.requests);
    if (now == seen) {
      os_futex_wait(&bg.requests, seen, -1);
      continue;
    }
    seen = now;
    bg.run();
    atomic_store(&bg.busy, false);
  }
}

bool background_start(void (*run)(void)) {
  int state = atomic_load(&bg.state);
  if (state != BG_NONE) return state == BG_READY;
  bg.run = run;
  void *stack = meta_map(BACKGROUND_STACK, "pacegc-background-stack");
  pthread_attr_t attr;
  pthread_t t;
  bool ok = stack != NULL;
  if (ok) {
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, BACKGROUND_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    ok = stacks_create_internal(&t, &attr, background_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) meta_unmap(stack, BACKGROUND_STACK);
  }
  if (!ok) {
    atomic_store(&bg.state, BG_FAILED);
    return false;
  }
  /* It registers before it says ready; a request before then waits. */
  while (atomic_load(&bg.state) == BG_NONE) sched_yield();
  return atomic_load(&bg.state) == BG_READY;
}

bool background_request(void) {
  if (atomic_load_explicit(&bg.state, memory_order_acquire) != BG_READY) return false;
  if (atomic_load_explicit(&bg.busy, memory_order_relaxed) || atomic_exchange(&bg.busy, true))
    return true;
  atomic_fetch_add(&bg.requests, 1);
  os_futex_wake(&bg.requests, 1);
  return true;
}

bool background_is_me(void) {
  return atomic_load_explicit(&bg.state, memory_order_relaxed) == BG_READY &&
         atomic_load(&bg.tid) == os_gettid();
}

/* The thread did not survive the fork. */
void background_after_fork_child(void) {
  atomic_store(&bg.state, BG_NONE);
  atomic_store(&bg.busy, false);
  atomic_store(&bg.requests, 0);
  atomic_store(&bg.tid, 0);
}
