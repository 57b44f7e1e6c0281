/*
 * Threads that cannot take the stop signal, stopped with ptrace instead.
 *
 * A thread that blocks the signal by a system call no wrapper sees (a raw
 * rt_sigprocmask; glibc's own helper threads for POSIX AIO, SIGEV_THREAD
 * timers and mq_notify, which block every signal) or that SIGSTOP or a
 * debugger's stop holds would never park, and a program with such a
 * thread would never be collected.  ptrace stops it anyway: a thread may
 * not trace its own thread group, so a helper process that shares
 * pacegc's memory (clone with CLONE_VM, not CLONE_THREAD) seizes each of
 * them, interrupts it, and copies its registers where the collector reads
 * them; when the world restarts it detaches and exits.  The helper is a
 * child the program's wait() never sees (it sends no SIGCHLD).
 *
 * Where ptrace is refused (a Yama ptrace_scope above 0, a seccomp filter,
 * a process that cannot be traced, a thread a debugger already traces)
 * tracer_stop() fails and the stop fails as before.  A thread waiting in
 * vfork cannot be stopped this way either: it stops only when its child
 * has let it go.
 */
#ifndef PACEGC_TRACER_H
#define PACEGC_TRACER_H

#include <sys/types.h>
#include "util.h"

#define TRACER_MAX 16

/* One thread the helper stopped: where its stack is live from, and its
 * registers, general and floating-point, which the collector scans. */
typedef struct traced {
  pid_t tid;
  uintptr_t sp;
  uint64_t regs[64];
  uint64_t fpregs[64];
} traced_t;

/* Why the threads could not all be stopped: the thread and the error
 * (ETIMEDOUT: not all stopped by the deadline). */
typedef struct tracer_failure {
  pid_t tid;
  int err;
} tracer_failure_t;

/* With the rest of the world parked: stops the n (at most TRACER_MAX)
 * threads by deadline_ns (os_monotonic_ns).  True if all are stopped
 * (tracer_threads() then describes them); false, with none left stopped
 * and *why set, otherwise.  Never calls malloc. */
bool tracer_stop(const pid_t *tids, size_t n, uint64_t deadline_ns, tracer_failure_t *why);

/* The threads the current stop holds by ptrace; n is 0 when none.  An
 * entry whose tid is 0 is a thread that exited before it could stop. */
const traced_t *tracer_threads(size_t *n);

/* Lets them go, and the helper exit; a no-op when there is none. */
void tracer_release(void);

#endif
