/* Threads inside a blocking call: see blocking.h. */
#include "blocking.h"

#include <errno.h>
#include <pthread.h>

#include "meta.h"

/* Where vfork is wrapped (below); elsewhere no call opens. */
#if defined(__x86_64__)
#define BLOCKING_ARCH 1
#else
#define BLOCKING_ARCH 0
#endif

/* Records live in chunks mapped on demand and never unmapped, so a
 * record's address stays valid for the stopper whatever its owner does. */
#define CHUNK_RECS 1024
#define MAX_CHUNKS 256                  /* 262144 threads with a record */

static struct {
  bool enabled;                         /* threads get records */
  bool trusted;                         /* a stop leaves marked threads alone */
  pthread_key_t key;                    /* its destructor gives a record back */
  _Atomic(blocking_rec_t *) chunks[MAX_CHUNKS];
  _Atomic size_t used;                  /* records ever handed out (high-water) */
  atomic_flag grow;                     /* held while a chunk is mapped */
} B = { .grow = ATOMIC_FLAG_INIT };

static blocking_rec_t *rec_at(size_t i) {
  blocking_rec_t *c = atomic_load_explicit(&B.chunks[i / CHUNK_RECS], memory_order_acquire);
  return c == NULL ? NULL : &c[i % CHUNK_RECS];
}

/* The owner exits (its key destructor runs).  A cancelled thread may
 * still be marked inside its call (glibc unwound past the wrapper; the
 * mark was not trusted since pthread_cancel): that ends here. */
static void give_back(void *p) {
  blocking_rec_t *r = p;
  thread_ctl.blocking = NULL;
  atomic_store(&r->inside, 0);
  atomic_store(&r->cancelled, 0);
  atomic_store(&r->tid, 0);
}

/* The thread that loads pacegc (the main thread) has a record too; the
 * others get theirs from pacegc's thread start routine.  Records exist
 * with stopblocked=1 too: runwait.c reads them. */
void blocking_init(bool trusted) {
  B.enabled = BLOCKING_ARCH && pthread_key_create(&B.key, give_back) == 0;
  B.trusted = B.enabled && trusted;
  uintptr_t lo, hi;
  if (B.enabled && os_thread_stack(&lo, &hi)) blocking_register(lo, hi);
}

/* A free record: one given back, else the next unused, mapping its chunk. */
static blocking_rec_t *claim(pid_t tid) {
  size_t used = atomic_load(&B.used);
  for (size_t i = 0; i < used; i++) {
    blocking_rec_t *r = rec_at(i);
    pid_t none = 0;
    if (r != NULL && atomic_compare_exchange_strong(&r->tid, &none, tid)) return r;
  }
  sigset_t old;
  os_spin_lock(&B.grow, &old);
  blocking_rec_t *r = NULL;
  size_t i = atomic_load(&B.used);
  if (i < (size_t)MAX_CHUNKS * CHUNK_RECS) {
    _Atomic(blocking_rec_t *) *chunk = &B.chunks[i / CHUNK_RECS];
    if (atomic_load(chunk) == NULL)
      atomic_store(chunk, meta_map(CHUNK_RECS * sizeof(blocking_rec_t), "pacegc-blocking"));
    if (atomic_load(chunk) != NULL) {
      r = rec_at(i);
      atomic_store(&r->tid, tid);
      atomic_store(&B.used, i + 1);
    }
  }
  os_spin_unlock(&B.grow, &old);
  return r;
}

void blocking_register(uintptr_t lo, uintptr_t hi) {
  if (!B.enabled || thread_ctl.blocking != NULL) return;
  blocking_rec_t *r = claim(os_gettid());
  if (r == NULL) return;
  r->lo = lo;
  r->hi = hi;
  r->landing = &thread_ctl.landing;
  r->self = (uintptr_t)pthread_self();
  if (pthread_setspecific(B.key, r) != 0) {
    atomic_store(&r->tid, 0);
    return;
  }
  thread_ctl.blocking = r;
}

/* ---- vfork ----
 * A vfork child runs on its parent's stack with its parent's TLS until it
 * execs or exits, while the parent waits in the kernel with its registers
 * there, out of any scan's reach: a blocking call the child made would
 * mark the parent as stopped at the child's frame.  So vfork marks the
 * thread for as long as the child runs, and the child opens no call.
 * (glibc's posix_spawn, system and popen children run no wrapper.) */
static __thread int vforking __attribute__((used));   /* read by the asm below */

#if defined(__x86_64__)
long blocking_vfork_failed(long r);
long blocking_vfork_failed(long r) {
  errno = (int)-r;
  return -1;
}

/* glibc's vfork, with the mark: the return address cannot stay on the
 * stack the child is about to use. */
__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "  .cfi_startproc\n"
        "  movq vforking@gottpoff(%rip), %rcx\n"
        "  movl $1, %fs:(%rcx)\n"
        "  popq %rdi\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  .cfi_register %rip, %rdi\n"
        "  movl $58, %eax\n"                   /* SYS_vfork */
        "  syscall\n"
        "  pushq %rdi\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  .cfi_rel_offset %rip, 0\n"
        "  testq %rax, %rax\n"
        "  jz 1f\n"                            /* the child keeps the mark */
        "  movq vforking@gottpoff(%rip), %rcx\n"
        "  movl $0, %fs:(%rcx)\n"
        "  cmpq $-4095, %rax\n"
        "  jb 1f\n"
        "  movq %rax, %rdi\n"
        "  jmp blocking_vfork_failed\n"
        "1:\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size vfork, .-vfork\n");
#endif

/* Only the owner writes: a plain increment, read by runwait.c. */
static void count_call(blocking_rec_t *r) {
  atomic_store_explicit(&r->calls, atomic_load_explicit(&r->calls, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

void blocking_enter_slow(blocking_frame_t *f) {
  blocking_rec_t *r = thread_ctl.blocking;
  uintptr_t sp = (uintptr_t)f;
  if (sp - r->lo >= r->hi - r->lo || vforking) return;   /* not its own stack, or a vfork child */
  r->sp = sp;
  count_call(r);
  atomic_store(&r->inside, 1);               /* seq_cst: blocking.h */
  f->rec = r;
}

void blocking_leave_slow(blocking_rec_t *r) {
  int saved_errno = errno;
  atomic_store(&r->inside, 0);               /* seq_cst, then the stop word */
  threads_await_stop_end();
  errno = saved_errno;
}

blocking_rec_t *blocking_suspend(bool *was_inside) {
  blocking_rec_t *r = thread_ctl.blocking;
  *was_inside = false;
  if (r == NULL) return NULL;
  thread_ctl.blocking = NULL;                /* no call opens inside the handler */
  if (atomic_load_explicit(&r->inside, memory_order_relaxed)) {
    *was_inside = true;
    blocking_leave_slow(r);
  }
  return r;
}

void blocking_resume(blocking_rec_t *r, bool was_inside) {
  if (r == NULL) return;
  thread_ctl.blocking = r;
  if (!was_inside) return;
  count_call(r);                                 /* the handler ran outside */
  atomic_store(&r->inside, 1);                   /* r->sp: the same frame */
}

void blocking_each_record(void (*fn)(void *arg, blocking_rec_t *r), void *arg) {
  size_t used = atomic_load(&B.used);
  for (size_t i = 0; i < used; i++) {
    blocking_rec_t *r = rec_at(i);
    if (r != NULL && atomic_load_explicit(&r->tid, memory_order_relaxed) != 0) fn(arg, r);
  }
}

void blocking_each_inside(blocking_fn fn, void *arg) {
  if (!B.trusted) return;
  size_t used = atomic_load(&B.used);
  for (size_t i = 0; i < used; i++) {
    blocking_rec_t *r = rec_at(i);
    if (r == NULL || !atomic_load(&r->inside) || atomic_load(&r->cancelled)) continue;
    pid_t tid = atomic_load(&r->tid);
    if (tid != 0) fn(arg, tid, r->sp, r->landing);
  }
}

/* ---- cancellation ----
 * Marked before glibc is asked: the canceller runs the program's code, so
 * no stop is in progress (or it would be parked), and any stop after the
 * mark signals the target, whose cleanup handlers may run at any time. */
EXPORT int pthread_cancel(pthread_t t) {
  OS_REAL(pthread_cancel);
  size_t used = atomic_load(&B.used);
  for (size_t i = 0; i < used; i++) {
    blocking_rec_t *r = rec_at(i);
    if (r != NULL && atomic_load(&r->tid) != 0 && r->self == (uintptr_t)t)
      atomic_store(&r->cancelled, 1);
  }
  return real ? real(t) : ESRCH;
}

void blocking_after_fork_child(void) {
  atomic_flag_clear(&B.grow);
  vforking = 0;
  blocking_rec_t *mine = thread_ctl.blocking;
  pid_t self = os_gettid();
  size_t used = atomic_load(&B.used);
  for (size_t i = 0; i < used; i++) {
    blocking_rec_t *r = rec_at(i);
    if (r == NULL) continue;
    atomic_store(&r->inside, 0);
    if (r != mine) atomic_store(&r->cancelled, 0);
    atomic_store(&r->tid, r == mine ? self : 0);
  }
}
