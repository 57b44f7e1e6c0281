/*
 * Pointers the program hands to the kernel and may keep nowhere else
 * (DESIGN.md rule 1): the `data` of epoll registrations and each thread's
 * alternate signal stack.  Each one is kept in a table that the collector
 * scans as a root until the registration is removed (EPOLL_CTL_DEL, close()
 * of the epoll descriptor, sigaltstack with SS_DISABLE or another stack).
 *
 * A registration whose file descriptor is closed without EPOLL_CTL_DEL
 * stays in the table until the pair (epoll fd, fd) is registered again:
 * that costs retention of one object, never a wrong free.
 *
 * And the value every POSIX timer of the process carries (sigev_value),
 * which the kernel keeps from timer_create until timer_delete and queues
 * with each expiry: read at each cycle from /proc/self/timers, whatever
 * made the timer (glibc, a raw system call).
 */
#ifndef PACEGC_KERNROOTS_H
#define PACEGC_KERNROOTS_H

#include <signal.h>
#include <sys/epoll.h>
#include "roots.h"

/* After a successful epoll_ctl(). */
void kernroots_epoll_ctl(int epfd, int op, int fd, const struct epoll_event *ev);

/* After sigaltstack(ss, ...) succeeded on the calling thread. */
void kernroots_sigaltstack(const stack_t *ss);

/* After close(fd) succeeded, or every descriptor in [lo, hi] was closed. */
void kernroots_close(int fd);
void kernroots_close_range(unsigned lo, unsigned hi);

/* With the world stopped: adds the table and the timers' values to the
 * roots. */
void kernroots_add_roots(roots_t *r);

/* fork: the child's epoll instances are copies; the table stays valid,
 * but its lock may have been held by a thread that is gone. */
void kernroots_after_fork_child(void);

#endif
