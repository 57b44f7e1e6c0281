/*
 * Calls a cycle must not cut short.  The kernel never restarts a sleep
 * (nanosleep, clock_nanosleep, and so sleep and usleep) or a wait for
 * file descriptors with a timeout (poll, ppoll, select, pselect,
 * epoll_wait, epoll_pwait) after a signal handler ran, SA_RESTART or
 * not: a thread parked by a cycle would come back early with EINTR.  These
 * call glibc's own functions (so they stay cancellation points) and go on
 * with the time that is left when pacegc's suspend signal was the only one
 * that arrived; the program's own signals still interrupt them as before.
 */
#ifndef PACEGC_RESTART_H
#define PACEGC_RESTART_H

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

int restart_nanosleep(const struct timespec *req, struct timespec *rem);
/* Returns an error number, as clock_nanosleep does. */
int restart_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                            struct timespec *rem);

int restart_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
int restart_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
                  const sigset_t *mask);
int restart_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout);
int restart_pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
                    const sigset_t *mask);
int restart_epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout_ms,
                        const sigset_t *mask);

#endif
