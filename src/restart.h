/*
 * Sleeps a cycle must not cut short.  The kernel never restarts
 * nanosleep, clock_nanosleep (and so sleep and usleep) after a signal
 * handler ran, SA_RESTART or not: a thread parked by a cycle would wake
 * early with EINTR.  These resume the sleep when pacegc's suspend signal
 * was the only one that arrived; the program's own signals still
 * interrupt them as before.
 */
#ifndef PACEGC_RESTART_H
#define PACEGC_RESTART_H

#include <time.h>

int restart_nanosleep(const struct timespec *req, struct timespec *rem);
/* Returns an error number, as clock_nanosleep does. */
int restart_clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                            struct timespec *rem);

#endif
