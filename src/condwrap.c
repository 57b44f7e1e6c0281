/*
 * Waits on condition variables and semaphores, exported so that a thread
 * idle in one is not signalled by every stop (blocking.h).  glibc restarts
 * these waits itself when a signal interrupts them; the wrappers only
 * mark the thread as inside a blocking call around glibc's own function.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include "blocking.h"
#include "os.h"

static struct {
  __typeof__(pthread_cond_wait) *pthread_cond_wait;
  __typeof__(pthread_cond_timedwait) *pthread_cond_timedwait;
  __typeof__(pthread_cond_clockwait) *pthread_cond_clockwait;
  __typeof__(sem_wait) *sem_wait;
} libc;

void condwrap_init(void) {
  LIBC(pthread_cond_wait);
  LIBC(pthread_cond_timedwait);
  LIBC(pthread_cond_clockwait);
  LIBC(sem_wait);
}

/* The condition and the mutex stay roots while the thread waits: glibc
 * takes the mutex again before it returns. */
EXPORT int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex) {
  if (LIBC(pthread_cond_wait) == NULL) return ENOSYS;
  return BLOCKING_CALL(libc.pthread_cond_wait(cond, mutex), (uintptr_t)cond, (uintptr_t)mutex);
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                                  const struct timespec *abstime) {
  if (LIBC(pthread_cond_timedwait) == NULL) return ENOSYS;
  return BLOCKING_CALL(libc.pthread_cond_timedwait(cond, mutex, abstime), (uintptr_t)cond,
                       (uintptr_t)mutex, (uintptr_t)abstime);
}

EXPORT int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock,
                                  const struct timespec *abstime) {
  if (LIBC(pthread_cond_clockwait) == NULL) return ENOSYS;
  return BLOCKING_CALL(libc.pthread_cond_clockwait(cond, mutex, clock, abstime),
                       (uintptr_t)cond, (uintptr_t)mutex, (uintptr_t)abstime);
}

EXPORT int sem_wait(sem_t *sem) {
  if (LIBC(sem_wait) == NULL) return errno = ENOSYS, -1;
  return BLOCKING_CALL(libc.sem_wait(sem), (uintptr_t)sem);
}
