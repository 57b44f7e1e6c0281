/* Thread stacks whose bounds pacegc knows: see stacks.h. */
#include <pthread.h>

#include "stacks.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "blocking.h"
#include "heap.h"
#include "meta.h"
#include "os.h"
#include "threads.h"

#define STACKS_MIN_CAP 256

static struct {
  stack_block_t *blocks;     /* meta memory */
  size_t n, cap;
  atomic_flag lock;
} st = { .lock = ATOMIC_FLAG_INIT };

static void forget_locked(size_t i) { st.blocks[i] = st.blocks[--st.n]; }

/* A full table first drops the blocks of threads that are gone: they only
 * spare scanning, and the next cycle would prune them anyway. */
static bool make_room_locked(void) {
  if (st.n < st.cap) return true;
  for (size_t i = st.n; i-- > 0;)
    if (os_syscall3(SYS_tgkill, os_getpid(), st.blocks[i].tid, 0) == -ESRCH) forget_locked(i);
  if (st.n < st.cap) return true;
  size_t cap = st.cap ? 2 * st.cap : STACKS_MIN_CAP;
  stack_block_t *b = meta_grow(st.blocks, st.cap * sizeof *b, st.n * sizeof *b,
                               cap * sizeof *b, "pacegc-stacks");
  if (b == NULL) return false;
  st.blocks = b;
  st.cap = cap;
  return true;
}

/* Records the calling thread's block, replacing any it overlaps. */
static void register_self(void) {
  uintptr_t lo, hi;
  if (!os_thread_stack(&lo, &hi)) return;
  stack_block_t b = { os_gettid(), lo, hi, (uintptr_t)pthread_self() };
  sigset_t old;
  os_spin_lock(&st.lock, &old);
  for (size_t i = st.n; i-- > 0;)
    if (st.blocks[i].tid == b.tid || (st.blocks[i].lo < b.hi && b.lo < st.blocks[i].hi))
      forget_locked(i);
  if (make_room_locked()) st.blocks[st.n++] = b;
  os_spin_unlock(&st.lock, &old);
  blocking_register(b.lo, b.hi);
}

stack_block_t *stacks_table(size_t *n) {
  *n = st.n;
  return st.blocks;
}

void stacks_forget(size_t i) { forget_locked(i); }

bool stacks_is_dead_block(const stack_block_t *b) {
#if defined(__x86_64__)
  /* glibc's tcbhead_t begins { tcb, dtv, self }: the thread pointer points
   * at itself twice (the x86-64 TLS ABI requires the first). */
  if (b->tcb < b->lo || b->tcb + 3 * sizeof(uintptr_t) > b->hi) return false;
  const uintptr_t *t = (const uintptr_t *)b->tcb;
  return t[0] == b->tcb && t[2] == b->tcb;
#else
  (void)b;
  return false;
#endif
}

void stacks_after_fork_child(void) { atomic_flag_clear(&st.lock); }

/* ---- the wrapper ---- */

/* The start routine and its argument live in a heap allocation until the
 * new thread has read them: the only copy of `arg` may be here, and the
 * record is reachable from the new thread's descriptor, which is scanned. */
typedef struct start {
  void *(*fn)(void *);
  void *arg;
  thread_inherit_t inherit;
} start_t;

static void *trampoline(void *p) {
  start_t s = *(start_t *)p;
  heap_thread_starting = 1;
  free(p);
  threads_inherit_set(s.inherit);
  register_self();
  heap_thread_starting = 0;
  return s.fn(s.arg);
}

static int real_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                       void *arg) {
  OS_REAL(pthread_create);
  return real ? real(t, attr, fn, arg) : EAGAIN;
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg) {
  start_t *s = malloc(sizeof *s);
  if (s == NULL) return EAGAIN;
  *s = (start_t){ fn, arg, threads_inherit_get() };
  int r = real_create(t, attr, trampoline, s);
  if (r != 0) free(s);
  return r;
}

int stacks_create_internal(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                           void *arg) {
  return real_create(t, attr, fn, arg);
}
