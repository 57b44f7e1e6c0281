/* A watchdog for the programs that test hangs and stalls: a forked
 * process that kills the program with SIGKILL if it has not exited after
 * a number of seconds.  A process rather than alarm() or a thread, so that
 * it fires whatever the program's threads are doing: all parked in a
 * signal handler, blocking every signal, or stopped by a collector that
 * never resumes them.  Before killing it prints
 *     FAIL NAME: watchdog: still running after N s, killed
 * on stderr; the program then ends with SIGKILL (status 137 from a shell).
 *
 * Call tu_watchdog() first thing in main, before any thread exists.  The
 * watchdog dies with the program (PR_SET_PDEATHSIG), so it never outlives
 * a run; it never allocates after the fork.  Header-only, like
 * testutil.h. */
#ifndef PACEGC_WATCHDOG_H
#define PACEGC_WATCHDOG_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static inline void tu_watchdog(const char *name, unsigned seconds)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	CHECK(pid >= 0, "fork (watchdog)");
	if (pid > 0)
		return;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	struct timespec ts = { (time_t)seconds, 0 };
	while (syscall(SYS_nanosleep, &ts, &ts) != 0)
		;
	char msg[160];
	int n = snprintf(msg, sizeof msg,
			 "FAIL %s: watchdog: still running after %u s, killed\n",
			 name, seconds);
	if (n > 0)
		(void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
	kill(parent, SIGKILL);
	_exit(0);
}

#endif
