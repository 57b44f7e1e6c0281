/* Waits with a timeout are not cut short by cycles.
 *
 * A waiter thread waits on a pipe nobody writes to, WAIT_MS each time,
 * with poll, ppoll, select, pselect, epoll_wait, epoll_pwait, nanosleep
 * and usleep, while the main thread forces a cycle every few milliseconds
 * (pacegc_collect via tu_gc; nothing in a plain run).  Each wait must end
 * by its timeout: 0 returned, not -1/EINTR, and at least WAIT_MS gone.
 * Then the program's own signal must still interrupt a wait: SIGUSR1,
 * blocked in the waiter, is sent while it waits in ppoll and pselect with
 * it unblocked in the call's mask, so it is delivered inside the call
 * (never before or after it), which must fail with EINTR.  sigaction and
 * signal must give back the handlers the program installed.
 * The output does not depend on timing.  Usage: waits */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 200

static int pipefd[2], epfd;
static _Atomic int waiting_for_signal, done;
static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void on_other(int sig)
{
	(void)sig;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int wait_once(int kind)
{
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	struct timespec ts = { 0, WAIT_MS * 1000000L };
	struct timeval tv = { 0, WAIT_MS * 1000 };
	struct epoll_event ev;
	fd_set r;
	FD_ZERO(&r);
	FD_SET(pipefd[0], &r);
	switch (kind) {
	case 0: return poll(&p, 1, WAIT_MS);
	case 1: return ppoll(&p, 1, &ts, NULL);
	case 2: return select(pipefd[0] + 1, &r, NULL, NULL, &tv);
	case 3: return pselect(pipefd[0] + 1, &r, NULL, NULL, &ts, NULL);
	case 4: return epoll_wait(epfd, &ev, 1, WAIT_MS);
	case 5: return epoll_pwait(epfd, &ev, 1, WAIT_MS, NULL);
	case 6: return nanosleep(&ts, NULL);
	default: return usleep(WAIT_MS * 1000);
	}
}

static const char *const names[] = {
	"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait", "nanosleep", "usleep",
};

/* With SIGUSR1 blocked here and unblocked only in the call's mask. */
static int wait_for_signal(int kind)
{
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	struct timespec ts = { 10, 0 };
	sigset_t mask;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	sigdelset(&mask, SIGUSR1);
	fd_set r;
	FD_ZERO(&r);
	FD_SET(pipefd[0], &r);
	atomic_store(&waiting_for_signal, 1);
	return kind == 0 ? ppoll(&p, 1, &ts, &mask)
			 : pselect(pipefd[0] + 1, &r, NULL, NULL, &ts, &mask);
}

static void *waiter(void *arg)
{
	(void)arg;
	for (int kind = 0; kind < 8; kind++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = wait_once(kind);
		int err = errno;
		long ms = elapsed_ms(&t0);
		printf("%s: returned %d%s, %s\n", names[kind], r, r < 0 && err == EINTR ? " (EINTR)" : "",
		       ms >= WAIT_MS - 1 ? "after its timeout" : "EARLY");
	}
	for (int kind = 0; kind < 2; kind++) {
		got_usr1 = 0;
		int r = wait_for_signal(kind);
		int err = errno;
		printf("%s with SIGUSR1: returned %d%s, handler %s\n", kind ? "pselect" : "ppoll", r,
		       r < 0 && err == EINTR ? " (EINTR)" : "", got_usr1 ? "ran" : "did not run");
	}
	atomic_store(&done, 1);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	tu_gc_init();
	CHECK(pipe(pipefd) == 0, "pipe");
	epfd = epoll_create1(0);
	CHECK(epfd >= 0, "epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN };
	CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, pipefd[0], &ev) == 0, "epoll_ctl");
	struct sigaction sa = { .sa_handler = on_usr1 }, now;
	sigaction(SIGUSR1, &sa, NULL);
	/* pacegc wraps handlers (src/handlers.h); the program sees its own. */
	sigaction(SIGUSR1, NULL, &now);
	printf("sigaction gives back the handler: %s\n", now.sa_handler == on_usr1 ? "yes" : "no");
	struct sigaction other = { .sa_handler = on_other }, prev;
	sigaction(SIGUSR2, &other, NULL);
	sigaction(SIGUSR2, &sa, &prev);
	printf("sigaction gives back the handler it replaces: %s\n",
	       prev.sa_handler == on_other ? "yes" : "no");
	signal(SIGUSR2, on_usr1);
	printf("signal gives back the handler: %s\n", signal(SIGUSR2, SIG_DFL) == on_usr1 ? "yes" : "no");
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);   /* the waiter inherits it */

	pthread_t t;
	CHECK(pthread_create(&t, NULL, waiter, NULL) == 0, "pthread_create");
	while (!atomic_load(&done)) {
		if (atomic_exchange(&waiting_for_signal, 0)) {
			tu_sleep_ms(20);           /* cycles meanwhile would only park it */
			pthread_kill(t, SIGUSR1);  /* pending until the call unblocks it */
		}
		tu_gc();
		tu_sleep_ms(3);
	}
	pthread_join(t, NULL);
	printf("waits: done\n");
	return 0;
}
