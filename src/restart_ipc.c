/* System V IPC, POSIX semaphores, message queues and AIO a cycle must
 * not cut short: see restart.h.  The kernel never restarts msgrcv, msgsnd, semop
 * and semtimedop after a handler, and glibc's timed semaphore and queue
 * waits (futex and mq waits with a deadline) end with EINTR too.  An
 * interrupted call did nothing, so it is made again: with the same
 * absolute deadline, or with what is left of a relative one. */
#include <aio.h>
#include <errno.h>
#include <mqueue.h>
#include <semaphore.h>
#include <sys/msg.h>
#include <sys/sem.h>

#include "restart.h"

#include "blocking.h"

#include "os.h"

static struct {
  __typeof__(msgrcv) *msgrcv;
  __typeof__(msgsnd) *msgsnd;
  __typeof__(semop) *semop;
  __typeof__(semtimedop) *semtimedop;
  __typeof__(sem_timedwait) *sem_timedwait;
  __typeof__(sem_clockwait) *sem_clockwait;
  __typeof__(mq_timedreceive) *mq_timedreceive;
  __typeof__(mq_timedsend) *mq_timedsend;
  __typeof__(aio_suspend) *aio_suspend;
} libc;

void restart_ipc_init(void) {
  LIBC(msgrcv);
  LIBC(msgsnd);
  LIBC(semop);
  LIBC(semtimedop);
  LIBC(sem_timedwait);
  LIBC(sem_clockwait);
  LIBC(mq_timedreceive);
  LIBC(mq_timedsend);
  LIBC(aio_suspend);
}

/* glibc's fn, made again while only a park cut it short. */
#define AGAIN(type, fn, call)                                              \
  do {                                                                     \
    if (LIBC(fn) == NULL) return errno = ENOSYS, -1;                       \
    RESTART(type, call);                                                   \
  } while (0)

EXPORT ssize_t msgrcv(int id, void *msg, size_t size, long type, int flags) {
  AGAIN(ssize_t, msgrcv, libc.msgrcv(id, msg, size, type, flags));
}

EXPORT int msgsnd(int id, const void *msg, size_t size, int flags) {
  AGAIN(int, msgsnd, libc.msgsnd(id, msg, size, flags));
}

EXPORT int semop(int id, struct sembuf *ops, size_t n) {
  AGAIN(int, semop, BLOCKING_CALL(libc.semop(id, ops, n), (uintptr_t)ops));
}

EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *timeout) {
  if (LIBC(semtimedop) == NULL) return errno = ENOSYS, -1;
  RESTART_TIMED(int, timeout,
                BLOCKING_CALL(libc.semtimedop(id, ops, n, timeout), (uintptr_t)ops));
}

EXPORT int sem_timedwait(sem_t *sem, const struct timespec *abstime) {
  AGAIN(int, sem_timedwait,
        BLOCKING_CALL(libc.sem_timedwait(sem, abstime), (uintptr_t)sem, (uintptr_t)abstime));
}

EXPORT int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abstime) {
  AGAIN(int, sem_clockwait, BLOCKING_CALL(libc.sem_clockwait(sem, clock, abstime),
                                          (uintptr_t)sem, (uintptr_t)abstime));
}

EXPORT ssize_t mq_timedreceive(mqd_t q, char *msg, size_t len, unsigned *prio,
                               const struct timespec *abstime) {
  AGAIN(ssize_t, mq_timedreceive, libc.mq_timedreceive(q, msg, len, prio, abstime));
}

EXPORT int mq_timedsend(mqd_t q, const char *msg, size_t len, unsigned prio,
                        const struct timespec *abstime) {
  AGAIN(int, mq_timedsend, libc.mq_timedsend(q, msg, len, prio, abstime));
}

static int aio_suspend_restarting(const struct aiocb *const list[], int n,
                                  const struct timespec *timeout) {
  if (LIBC(aio_suspend) == NULL) return errno = ENOSYS, -1;
  RESTART_TIMED(int, timeout, libc.aio_suspend(list, n, timeout));
}

/* Both names: <aio.h> calls it aio_suspend64 when off_t is 64 bits (as
 * here), and struct aiocb64 is struct aiocb on 64-bit systems. */
_Static_assert(sizeof(struct aiocb64) == sizeof(struct aiocb), "aiocb64 is aiocb");

EXPORT int aio_suspend64(const struct aiocb64 *const list[], int n,
                         const struct timespec *timeout) {
  return aio_suspend_restarting((const struct aiocb *const *)list, n, timeout);
}

EXPORT int aio_suspend_plain(const struct aiocb *const list[], int n,
                             const struct timespec *timeout) __asm__("aio_suspend");
int aio_suspend_plain(const struct aiocb *const list[], int n, const struct timespec *timeout) {
  return aio_suspend_restarting(list, n, timeout);
}
