/*
 * The exported allocation family.  Each function forwards to the heap (or
 * to stats.c for the glibc introspection calls); the semantics, errno
 * values included, are glibc's.  Then the few libc wrappers the collector
 * needs, forwarding to threads.c, kernroots.c and restart.c.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handlers.h"
#include "heap.h"
#include "kernroots.h"
#include "restart.h"
#include "stats.h"
#include "threads.h"

EXPORT void *malloc(size_t n) { return heap_malloc(n); }

EXPORT void free(void *p) {
  if (likely(p != NULL)) heap_free(p, "free");
}

EXPORT void *calloc(size_t nmemb, size_t size) { return heap_calloc(nmemb, size); }

EXPORT void *realloc(void *p, size_t n) { return heap_realloc(p, n); }

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) {
  return heap_reallocarray(p, nmemb, size);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t n) {
  return heap_posix_memalign(out, alignment, n);
}

EXPORT void *aligned_alloc(size_t alignment, size_t n) { return heap_memalign(alignment, n); }
EXPORT void *memalign(size_t alignment, size_t n) { return heap_memalign(alignment, n); }
EXPORT void *valloc(size_t n) { return heap_memalign(PAGE_SIZE, n); }
EXPORT void *pvalloc(size_t n) { return heap_pvalloc(n); }

EXPORT size_t malloc_usable_size(void *p) { return heap_usable_size(p); }

EXPORT void free_sized(void *p, size_t size) {
  (void)size;
  free(p);
}

EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size) {
  (void)alignment;
  (void)size;
  free(p);
}

EXPORT struct mallinfo2 mallinfo2(void) { return stats_mallinfo2(); }
EXPORT struct mallinfo mallinfo(void) { return stats_mallinfo(); }
EXPORT int malloc_trim(size_t pad) { return stats_malloc_trim(pad); }
EXPORT int mallopt(int param, int value) { return stats_mallopt(param, value); }
EXPORT void malloc_stats(void) { stats_malloc_stats(); }
EXPORT int malloc_info(int options, FILE *fp) { return stats_malloc_info(options, fp); }

/* ---- libc wrappers the collector needs (DESIGN.md rules 1 and 7) ---- */

int __sigsuspend(const sigset_t *mask);
int __close(int fd);

/* glibc exports no alias of pthread_sigmask; found once, on first use. */
static int real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
  static int (*fn)(int, const sigset_t *, sigset_t *);
  if (fn == NULL) fn = (int (*)(int, const sigset_t *, sigset_t *))dlsym(RTLD_NEXT, "pthread_sigmask");
  return fn(how, set, old);
}

/* The suspend signal keeps pacegc's handler: installing another one
 * "succeeds" and changes nothing. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  if (unlikely(threads_is_suspend_signal(sig))) {
    if (old) memset(old, 0, sizeof *old);
    return 0;
  }
  return handlers_sigaction(sig, act, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t handler) {
  if (unlikely(threads_is_suspend_signal(sig))) return SIG_DFL;
  return handlers_signal(sig, handler);
}

/* Masks never block the suspend signal. */
EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
  if (set == NULL || how == SIG_UNBLOCK) return real_pthread_sigmask(how, set, old);
  sigset_t filtered = *set;
  threads_filter_mask(&filtered);
  return real_pthread_sigmask(how, &filtered, old);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  int err = pthread_sigmask(how, set, old);
  if (err == 0) return 0;
  errno = err;
  return -1;
}

EXPORT int sigsuspend(const sigset_t *mask) {
  sigset_t filtered = *mask;
  threads_filter_mask(&filtered);
  return __sigsuspend(&filtered);
}

/* Registered epoll data stays a root until it is taken back. */
EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
  int r = (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
  if (r == 0) kernroots_epoll_ctl(epfd, op, fd, event);
  return r;
}

/* A malloc'd alternate stack may be known only to the kernel. */
EXPORT int sigaltstack(const stack_t *ss, stack_t *old) {
  int r = (int)syscall(SYS_sigaltstack, ss, old);
  if (r == 0 && ss != NULL) kernroots_sigaltstack(ss);
  return r;
}

EXPORT int close(int fd) {
  int r = __close(fd);
  if (r == 0) kernroots_close(fd);
  return r;
}

/* Sleeps a cycle does not cut short (restart.c). */
EXPORT int nanosleep(const struct timespec *req, struct timespec *rem) {
  return restart_nanosleep(req, rem);
}

EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                           struct timespec *rem) {
  return restart_clock_nanosleep(clock, flags, req, rem);
}

EXPORT unsigned int sleep(unsigned int seconds) {
  struct timespec req = {seconds, 0}, rem = {0, 0};
  if (restart_nanosleep(&req, &rem) == 0) return 0;
  return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
}

EXPORT int usleep(useconds_t usec) {
  struct timespec req = {usec / 1000000, (long)(usec % 1000000) * 1000};
  return restart_nanosleep(&req, NULL);
}

/* Waits a cycle does not cut short (restart.c). */
EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms) {
  return restart_poll(fds, n, timeout_ms);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                 const sigset_t *mask) {
  return restart_ppoll(fds, n, timeout, mask);
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout) {
  return restart_select(n, r, w, e, timeout);
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
                   const sigset_t *mask) {
  return restart_pselect(n, r, w, e, timeout, mask);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms) {
  return restart_epoll_pwait(epfd, events, max, timeout_ms, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout_ms,
                       const sigset_t *mask) {
  return restart_epoll_pwait(epfd, events, max, timeout_ms, mask);
}
