/* Socket calls, read and write a cycle must not cut short: see restart.h.
 *
 * On a socket with SO_RCVTIMEO or SO_SNDTIMEO the kernel ends these with
 * EINTR after any handler, SA_RESTART or not.  Nothing was transferred
 * then, so the call can be made again; what is left of the socket's
 * timeout is waited for with poll first, so the call as a whole never
 * waits longer than the program asked (unless another thread takes the
 * data that poll saw arrive).  A connect that was interrupted goes on in
 * the kernel: it is waited for and its result read, as connect(2) says.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "restart.h"

#include "landing.h"
#include "os.h"
#include "transit.h"

/* glibc's functions.  read, write and connect through their exported
 * aliases: pacegc's own jemalloc calls read and write through these
 * wrappers, possibly before anything could be looked up. */
extern ssize_t __read(int fd, void *buf, size_t n);
extern ssize_t __write(int fd, const void *buf, size_t n);
extern int __connect(int fd, const struct sockaddr *addr, socklen_t len);
extern void __chk_fail(void) __attribute__((noreturn));

static struct {
  __typeof__(poll) *poll;
  __typeof__(readv) *readv;
  __typeof__(writev) *writev;
  __typeof__(recv) *recv;
  __typeof__(recvfrom) *recvfrom;
  __typeof__(recvmsg) *recvmsg;
  __typeof__(recvmmsg) *recvmmsg;
  __typeof__(send) *send;
  __typeof__(sendto) *sendto;
  __typeof__(sendmsg) *sendmsg;
  __typeof__(sendmmsg) *sendmmsg;
  __typeof__(accept) *accept;
  __typeof__(accept4) *accept4;
} libc;

void restart_io_init(void) {
  LIBC(poll);
  LIBC(readv);
  LIBC(writev);
  LIBC(recv);
  LIBC(recvfrom);
  LIBC(recvmsg);
  LIBC(recvmmsg);
  LIBC(send);
  LIBC(sendto);
  LIBC(sendmsg);
  LIBC(sendmmsg);
  LIBC(accept);
  LIBC(accept4);
}

/* The deadline of a call on fd begun at start_ns: its socket's timeout
 * for `opt` (SO_RCVTIMEO or SO_SNDTIMEO), none if it has none or fd is
 * not a socket. */
static deadline_t socket_deadline(int fd, int opt, uint64_t start_ns) {
  struct timeval tv;
  socklen_t len = sizeof tv;
  int saved = errno;
  bool has = getsockopt(fd, SOL_SOCKET, opt, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec);
  errno = saved;
  if (!has) return (deadline_t){.forever = true};
  return (deadline_t){.end_ns = (int64_t)start_ns + (int64_t)tv.tv_sec * 1000000000 +
                                (int64_t)tv.tv_usec * 1000};
}

/* After a park cut a call on fd short: waits until fd is ready for
 * `events` within the deadline.  1: call again; 0: the time is up (errno
 * EAGAIN, as the kernel reports a socket timeout); -1: poll failed (a
 * program handler ran: errno EINTR). */
static int socket_wait(int fd, short events, const deadline_t *d) {
  if (LIBC(poll) == NULL) return errno = ENOSYS, -1;
  for (;;) {
    struct pollfd p = { fd, events, 0 };
    signals_seen_t before = restart_seen();
    int r = libc.poll(&p, 1, restart_left_ms(d));
    if (r > 0) return 1;
    if (r == 0) return errno = EAGAIN, 0;
    if (!restart_parked_only(errno, before)) return -1;
  }
}

/* Makes `call` (an expression returning ssize_t) again while only a park
 * cut it short and fd becomes ready in time; its value is the last
 * call's. */
#define RESTART_IO(fd, opt, events, call)                              \
  ({                                                                   \
    uint64_t start_ = os_monotonic_ns();                               \
    ssize_t r_;                                                        \
    for (;;) {                                                         \
      signals_seen_t before_ = restart_seen();                         \
      r_ = (call);                                                     \
      if (r_ >= 0 || !restart_parked_only(errno, before_)) break;      \
      deadline_t d_ = socket_deadline((fd), (opt), start_);            \
      if (socket_wait((fd), (events), &d_) <= 0) {                     \
        r_ = -1;                                                       \
        break;                                                         \
      }                                                                \
    }                                                                  \
    r_;                                                                \
  })

#define OUT(fd, call) return RESTART_IO(fd, SO_SNDTIMEO, POLLOUT, call)

/* A receive: restarted like the rest, and what it gets recorded for the
 * collector when fd may carry the process's addresses (landing.h). */
#define RECEIVE(fd, begin, call, end)                                  \
  do {                                                                 \
    bool landing_ = transit_may_carry(fd);                             \
    if (landing_) begin;                                               \
    ssize_t got_ = RESTART_IO(fd, SO_RCVTIMEO, POLLIN, call);          \
    if (landing_) {                                                    \
      int errno_ = errno;                                              \
      end;                                                             \
      errno = errno_;                                                  \
    }                                                                  \
    return got_;                                                       \
  } while (0)

#define IN_BUF(fd, buf, n, call) \
  RECEIVE(fd, landing_begin(fd, buf, n), call, landing_end(got_))

EXPORT ssize_t read(int fd, void *buf, size_t n) { IN_BUF(fd, buf, n, __read(fd, buf, n)); }

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  IN_BUF(fd, buf, n, __read(fd, buf, n));
}

EXPORT ssize_t write(int fd, const void *buf, size_t n) { OUT(fd, __write(fd, buf, n)); }

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n) {
  if (LIBC(readv) == NULL) return errno = ENOSYS, -1;
  RECEIVE(fd, landing_begin_iov(fd, iov, iov && n > 0 ? (size_t)n : 0), libc.readv(fd, iov, n),
          landing_end(got_));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n) {
  if (LIBC(writev) == NULL) return errno = ENOSYS, -1;
  OUT(fd, libc.writev(fd, iov, n));
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags) {
  if (LIBC(recv) == NULL) return errno = ENOSYS, -1;
  IN_BUF(fd, buf, n, libc.recv(fd, buf, n, flags));
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return recv(fd, buf, n, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                        socklen_t *len) {
  if (LIBC(recvfrom) == NULL) return errno = ENOSYS, -1;
  IN_BUF(fd, buf, n, libc.recvfrom(fd, buf, n, flags, addr, len));
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *addr, socklen_t *len) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, addr, len);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  if (LIBC(recvmsg) == NULL) return errno = ENOSYS, -1;
  bool iov = msg != NULL && msg->msg_iov != NULL;
  RECEIVE(fd, landing_begin_iov(fd, iov ? msg->msg_iov : NULL, iov ? msg->msg_iovlen : 0),
          libc.recvmsg(fd, msg, flags), landing_end(got_));
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *timeout) {
  if (LIBC(recvmmsg) == NULL) return errno = ENOSYS, -1;
  RECEIVE(fd, landing_begin_mmsg(fd, v, v ? n : 0), libc.recvmmsg(fd, v, n, flags, timeout),
          landing_end_mmsg(v, (int)got_));
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags) {
  if (LIBC(send) == NULL) return errno = ENOSYS, -1;
  OUT(fd, libc.send(fd, buf, n, flags));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                      socklen_t len) {
  if (LIBC(sendto) == NULL) return errno = ENOSYS, -1;
  OUT(fd, libc.sendto(fd, buf, n, flags, addr, len));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  if (LIBC(sendmsg) == NULL) return errno = ENOSYS, -1;
  OUT(fd, libc.sendmsg(fd, msg, flags));
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags) {
  if (LIBC(sendmmsg) == NULL) return errno = ENOSYS, -1;
  OUT(fd, libc.sendmmsg(fd, v, n, flags));
}

static int accept_restarting(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  return (int)RESTART_IO(fd, SO_RCVTIMEO, POLLIN,
                         flags < 0 ? libc.accept(fd, addr, len) : libc.accept4(fd, addr, len, flags));
}

/* The new socket is of the listener's kind (transit.h). */
EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  if (LIBC(accept) == NULL) return errno = ENOSYS, -1;
  int r = accept_restarting(fd, addr, len, -1);
  if (r >= 0) transit_note_like(r, fd);
  return r;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  if (LIBC(accept4) == NULL || flags < 0) return errno = flags < 0 ? EINVAL : ENOSYS, -1;
  int r = accept_restarting(fd, addr, len, flags);
  if (r >= 0) transit_note_like(r, fd);
  return r;
}

/* An interrupted connect goes on in the kernel (or, on a local socket
 * waiting for room in the listener's backlog, never started): calling it
 * again either starts it or says it is under way (EALREADY), and then
 * its end is waited for and its result read from SO_ERROR. */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  uint64_t start = os_monotonic_ns();
  signals_seen_t before = restart_seen();
  int r = __connect(fd, addr, len);
  while (r < 0 && restart_parked_only(errno, before)) {
    deadline_t d = socket_deadline(fd, SO_SNDTIMEO, start);
    if (!d.forever && restart_left_ms(&d) == 0) return errno = EAGAIN, -1;
    before = restart_seen();
    r = __connect(fd, addr, len);
    if (r == 0 || errno == EISCONN) return 0;
    if (errno != EALREADY) continue;
    int ready = socket_wait(fd, POLLOUT, &d);
    if (ready < 0) return -1;
    if (ready == 0) return errno = EINPROGRESS, -1;
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) return -1;
    if (err == 0) return 0;
    return errno = err, -1;
  }
  return r;
}
