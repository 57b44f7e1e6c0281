/*
 * The libc functions that close or replace descriptors, wrapped so that
 * (DESIGN.md rules 1, 2):
 *   - the descriptors pacegc keeps open (os.h) survive a program that
 *     closes every descriptor: closing one of them "succeeds" and leaves
 *     it open, and a dup2 or dup3 onto one moves pacegc's elsewhere first;
 *   - epoll registrations stay roots until taken back (kernroots.h);
 * and the functions that make pipes and sockets, so that the bytes queued
 * in them are read at each cycle (transit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernroots.h"
#include "os.h"
#include "transit.h"

extern int __close(int fd);
extern int __dup2(int fd, int fd2);

static struct {
  __typeof__(dup) *dup;
  __typeof__(dup3) *dup3;
  __typeof__(pipe) *pipe;
  __typeof__(pipe2) *pipe2;
  __typeof__(socket) *socket;
  __typeof__(socketpair) *socketpair;
} libc;

/* After fd was closed, or given to something else. */
static void forget(int fd) {
  kernroots_close(fd);
  transit_close(fd);
}

EXPORT int close(int fd) {
  if (unlikely(os_is_own_fd(fd))) return 0;
  int r = __close(fd);
  if (r == 0) forget(fd);
  return r;
}

/* close_range(2) with pacegc's descriptors left out of the range: the
 * kernel is asked for each piece between them. */
EXPORT int close_range(unsigned first, unsigned last, int flags) {
  if (first > last) return errno = EINVAL, -1;
  int own[OS_OWN_FDS_MAX];
  size_t n = os_own_fds(own, OS_OWN_FDS_MAX);
  unsigned lo = first;
  for (size_t i = 0; i <= n; i++) {
    bool cut = i < n && (unsigned)own[i] >= lo && (unsigned)own[i] <= last;
    if (i < n && !cut) continue;
    unsigned hi = cut ? (unsigned)own[i] : last;
    if (hi > lo || (!cut && hi == lo)) {
      unsigned end = cut ? hi - 1 : hi;
      long r = os_syscall3(SYS_close_range, lo, end, flags);
      if (r < 0) return errno = (int)-r, -1;
      flags &= ~CLOSE_RANGE_UNSHARE;   /* the table is this process's own now */
      if (!(flags & CLOSE_RANGE_CLOEXEC)) {
        kernroots_close_range(lo, end);
        transit_close_range(lo, end);
      }
    }
    if (!cut || hi == last) return 0;
    lo = hi + 1;
  }
  return 0;
}

EXPORT void closefrom(int lowfd) {
  if (lowfd < 0) lowfd = 0;
  if (close_range((unsigned)lowfd, ~0u, 0) == 0) return;
  /* Kernels before 5.9: every number up to the limit, one by one. */
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++) close((int)fd);
}

EXPORT int dup2(int fd, int fd2) {
  if (fd != fd2) os_vacate_fd(fd2);
  int r = __dup2(fd, fd2);
  if (r >= 0 && fd != fd2) {
    forget(fd2);
    transit_note_like(fd2, fd);
  }
  return r;
}

EXPORT int dup3(int fd, int fd2, int flags) {
  if (LIBC(dup3) == NULL) return errno = ENOSYS, -1;
  if (fd != fd2) os_vacate_fd(fd2);
  int r = libc.dup3(fd, fd2, flags);
  if (r >= 0) {
    forget(fd2);
    transit_note_like(fd2, fd);
  }
  return r;
}

EXPORT int dup(int fd) {
  if (LIBC(dup) == NULL) return errno = ENOSYS, -1;
  int r = libc.dup(fd);
  if (r >= 0) transit_note_like(r, fd);
  return r;
}

EXPORT int pipe(int fd[2]) {
  if (LIBC(pipe) == NULL) return errno = ENOSYS, -1;
  int r = libc.pipe(fd);
  if (r == 0) transit_note(fd[0], TRANSIT_PIPE);
  return r;
}

EXPORT int pipe2(int fd[2], int flags) {
  if (LIBC(pipe2) == NULL) return errno = ENOSYS, -1;
  int r = libc.pipe2(fd, flags);
  if (r == 0) transit_note(fd[0], TRANSIT_PIPE);
  return r;
}

EXPORT int socket(int domain, int type, int protocol) {
  if (LIBC(socket) == NULL) return errno = ENOSYS, -1;
  int r = libc.socket(domain, type, protocol);
  if (r >= 0) transit_note_socket(r, domain, type);
  return r;
}

EXPORT int socketpair(int domain, int type, int protocol, int fd[2]) {
  if (LIBC(socketpair) == NULL) return errno = ENOSYS, -1;
  int r = libc.socketpair(domain, type, protocol, fd);
  if (r == 0) {
    transit_note_socket(fd[0], domain, type);
    transit_note_socket(fd[1], domain, type);
  }
  return r;
}

/* Registered epoll data stays a root until it is taken back. */
EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
  long r = os_syscall4(SYS_epoll_ctl, epfd, op, fd, event);
  if (r < 0) return errno = (int)-r, -1;
  kernroots_epoll_ctl(epfd, op, fd, event);
  return 0;
}
