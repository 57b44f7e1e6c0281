/*
 * Threads inside a blocking call are stopped already: the Go runtime's
 * syscall state, for an unmodified program.
 *
 * A thread that waits in poll, a sleep or a condition variable runs none
 * of the program's code until the call returns.  Signalling it at every
 * stop wakes it, costs two context switches and makes the stop wait for
 * it; a thousand idle threads made each stop 13 to 50 ms.  Instead, pacegc's
 * wrapper of such a call spills the callee-saved registers and the call's
 * pointer arguments into its own frame and marks the thread as inside the
 * call; a stop that finds the mark scans the thread's stack from that
 * frame up, as if the thread had parked there, and does not signal it.
 *
 * Invariants:
 *   - Between blocking_enter and leaving, the thread runs only pacegc's
 *     wrapper, glibc's function and the kernel: nothing that moves a
 *     pointer of the program.  The program's caller-saved registers are
 *     dead across the call (the ABI), the callee-saved ones are in the
 *     frame, and every word above it is the program's stack.
 *   - Only calls whose kernel side writes no address into the program's
 *     memory are wrapped this way: sleeps, descriptor waits (epoll's data
 *     words stay roots while registered: kernroots.h), futex waits.  A
 *     receive is not: bytes it takes off a queue in the middle of a stop
 *     could land in a buffer the scan has passed.
 *   - Leaving is a Dekker handshake with the stopper: the thread clears
 *     its mark (seq_cst) and then reads the stop word; the stopper makes
 *     the stop word odd (seq_cst) and then reads the marks.  Either the
 *     stopper sees the thread outside and signals it, or the thread sees
 *     the stop and waits for its end before it returns to the program.
 *   - A program handler that interrupts the call runs outside: its
 *     trampoline (handlers.c) leaves the call before the handler and
 *     enters again after it.
 *   - A cancelled thread runs its cleanup handlers, the program's code,
 *     from inside the call (glibc longjmps past the wrapper's frame to
 *     the frame that pushed them): pacegc's pthread_cancel marks the
 *     target first, and a marked thread is signalled like any other.
 *   - A vfork child, on its parent's stack and TLS, opens no call: the
 *     parent's registers are in the kernel (pacegc's vfork, blocking.c).
 *
 * Only threads pacegc started (its pthread_create wrapper) and the thread
 * that loaded it have a record, and a call opens only on the thread's own
 * stack: a thread cloned without TLS of its own, or a handler running on
 * an alternate stack, is signalled as before.
 * PACEGC_GODEBUG=stopblocked=1 signals every thread.
 */
#ifndef PACEGC_BLOCKING_H
#define PACEGC_BLOCKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "landing.h"
#include "os.h"
#include "runwait.h"
#include "threads.h"
#include "util.h"

/* One thread's record, in bookkeeping memory that is never unmapped (a
 * stop reads it while the thread may be exiting). */
typedef struct blocking_rec {
  _Atomic pid_t tid;            /* owner; 0: free */
  _Atomic uint32_t inside;      /* 1 while the owner is inside a blocking call */
  uintptr_t sp;                 /* the call's frame: lowest live address */
  uintptr_t lo, hi;             /* the owner's stack */
  const landing_t *landing;     /* the owner's receive record (landing.h) */
  uintptr_t self;               /* the owner's pthread_t */
  _Atomic uint32_t cancelled;   /* a cancellation was asked for: never trusted */
  _Atomic uint32_t calls;       /* calls opened (and reopened after a handler) */
  runwait_seen_t seen;          /* runwait.c's last reading of the owner */
} blocking_rec_t;

#define BLOCKING_ARGS 5   /* a zero, then up to four of the call's */

/* The wrapper's spill: scanned as the lowest words of the thread's stack. */
typedef struct blocking_frame {
  uintptr_t regs[OS_SAVED_REGS];
  uintptr_t args[BLOCKING_ARGS];
  blocking_rec_t *rec;          /* the record marked, or NULL */
} blocking_frame_t;

/* At start-up, on the thread that loads pacegc: whether threads in
 * blocking calls are left alone (trusted).  That thread gets its record
 * here. */
void blocking_init(bool trusted);

/* The calling thread's stack is [lo, hi): it gets a record, given back
 * when it exits.  Called by pacegc's thread start routine. */
void blocking_register(uintptr_t lo, uintptr_t hi);

void blocking_enter_slow(blocking_frame_t *f);
void blocking_leave_slow(blocking_rec_t *r);

/* Marks the thread as inside the call that follows, f being its spill. */
ALWAYS_INLINE void blocking_enter(blocking_frame_t *f) {
  f->rec = NULL;
  if (thread_ctl.blocking != NULL) blocking_enter_slow(f);
}

/* Leaves the call, and waits for a stop in progress to end before the
 * program runs again.  Keeps errno. */
ALWAYS_INLINE void blocking_leave(blocking_frame_t *f) {
  if (f->rec != NULL) blocking_leave_slow(f->rec);
  __asm__ volatile("" : : "r"(f) : "memory");   /* the spill lives to here */
}

/*
 * `call`, made as a blocking call, its value the statement's.  The
 * arguments after it (pointers the call's kernel side uses, up to four,
 * as uintptr_t) stay roots while it runs, as the registers holding them
 * would for a parked thread.
 */
#define BLOCKING_CALL(call, ...)                                              \
  ({                                                                          \
    blocking_frame_t bf_ = { .args = { 0, ##__VA_ARGS__ } };                  \
    OS_SAVE_REGISTERS(bf_.regs);                                              \
    blocking_enter(&bf_);                                                     \
    __typeof__(call) r_ = (call);                                             \
    blocking_leave(&bf_);                                                     \
    r_;                                                                       \
  })

/* Around a program handler, which may interrupt a blocking call: leaves
 * it (waiting out a stop), keeps calls from opening inside the handler,
 * and returns what blocking_resume needs to put things back.  A handler
 * left with longjmp leaves the thread without blocking calls: it is
 * signalled like any other from then on. */
blocking_rec_t *blocking_suspend(bool *was_inside);
void blocking_resume(blocking_rec_t *r, bool was_inside);

/* For the stopper, after it opened a stop: calls fn for each thread
 * inside a blocking call, with the record's tid and stack pointer.  The
 * thread stays inside, or waits for the stop's end, until it is over. */
typedef void (*blocking_fn)(void *arg, pid_t tid, uintptr_t sp, const landing_t *landing);
void blocking_each_inside(blocking_fn fn, void *arg);

/* For runwait.c, under gc.c's lock: calls fn for each record that has an
 * owner.  fn may read the owner's fields and owns r->seen. */
void blocking_each_record(void (*fn)(void *arg, blocking_rec_t *r), void *arg);

/* condwrap.c's lookups of glibc's waits, at start-up. */
void condwrap_init(void);

/* fork: the child's only thread is the forking one, inside no call. */
void blocking_after_fork_child(void);

#endif
