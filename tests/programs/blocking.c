/* Threads idle in a blocking call are left alone by stops, and their
 * stacks still count (src/blocking.h).
 *
 * Eight threads each wait in one call: pthread_cond_wait,
 * pthread_cond_timedwait, sem_wait, sem_timedwait, poll, select,
 * epoll_wait and nanosleep.  Before waiting, each makes a pattern-filled
 * object whose only reference is its own stack (a local it checks after
 * the wait) and a box of two more, and counts its voluntary context
 * switches.  The main thread forces CYCLES cycles while it allocates,
 * fills and frees objects of the same size, so that anything reclaimed by
 * mistake is written over; then it wakes each waiter its own way (the
 * sleeper with a signal whose handler pacegc runs while the thread is
 * inside its call).  Each waiter checks its objects and that it was woken
 * only a few times while it waited: a thread a stop signalled would count
 * a switch per cycle.  Last, a thread cancelled in pthread_cond_wait runs
 * its cleanup handler, the program's code, which reads a pipe (a call
 * pacegc does not treat as blocking) while cycles run: each must stop it
 * (a switch per cycle: it goes back to sleep in read), not take it for a
 * thread still inside its wait.  Then the roles turn: the main thread
 * waits in poll while another forces the cycles.  Output does not depend
 * on timing.
 * Usage: blocking */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define CYCLES 40
#define OBJ 4096
#define MAX_SWITCHES 8    /* waits, wake-ups and the odd spurious one */

enum { COND, COND_TIMED, SEM, SEM_TIMED, POLL, SELECT, EPOLL, SLEEP, NKINDS };
static const char *const names[NKINDS] = { "cond", "cond_timed", "sem", "sem_timed",
					   "poll", "select", "epoll", "sleep" };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static int pipes[NKINDS][2];
static _Atomic int ready, done;
static pthread_t threads[NKINDS];
static char result[NKINDS][160];

static void on_usr1(int sig) { (void)sig; }

static long voluntary_switches(void)
{
	FILE *f = fopen("/proc/thread-self/status", "r");
	char line[256];
	long n = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

static struct timespec far_deadline(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 3600;
	return t;
}

static void wait_once(int kind)
{
	struct timespec t;
	struct pollfd p = { .fd = pipes[kind][0], .events = POLLIN };
	fd_set set;
	int ep;
	struct epoll_event ev = { .events = EPOLLIN }, got;
	switch (kind) {
	case COND:
		pthread_mutex_lock(&mu);
		while (!atomic_load(&done)) pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		break;
	case COND_TIMED:
		t = far_deadline();
		pthread_mutex_lock(&mu);
		while (!atomic_load(&done)) pthread_cond_timedwait(&cv, &mu, &t);
		pthread_mutex_unlock(&mu);
		break;
	case SEM:
		while (sem_wait(&sem) != 0) CHECK(errno == EINTR, "sem_wait: %d", errno);
		break;
	case SEM_TIMED:
		t = far_deadline();
		while (sem_timedwait(&sem, &t) != 0) CHECK(errno == EINTR, "sem_timedwait: %d", errno);
		break;
	case POLL:
		CHECK(poll(&p, 1, -1) == 1, "poll: %d", errno);
		break;
	case SELECT:
		FD_ZERO(&set);
		FD_SET(pipes[kind][0], &set);
		CHECK(select(pipes[kind][0] + 1, &set, NULL, NULL, NULL) == 1, "select: %d", errno);
		break;
	case EPOLL:
		ep = epoll_create1(0);
		CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, pipes[kind][0], &ev) == 0, "epoll");
		CHECK(epoll_wait(ep, &got, 1, -1) == 1, "epoll_wait: %d", errno);
		close(ep);
		break;
	case SLEEP:
		t = (struct timespec){ 3600, 0 };
		while (!atomic_load(&done)) nanosleep(&t, NULL);
		break;
	}
}

static void *waiter(void *arg)
{
	int kind = (int)(intptr_t)arg;
	uint64_t seed = 1000 + (uint64_t)kind;
	/* The only references: this frame, and the box it points to. */
	unsigned char *volatile obj = tu_make(OBJ, seed);
	void **volatile box = malloc(2 * sizeof(void *));
	box[0] = tu_make(OBJ, seed + 100);
	box[1] = tu_make(OBJ, seed + 200);
	long before = voluntary_switches();
	atomic_fetch_add(&ready, 1);
	wait_once(kind);
	long switches = voluntary_switches() - before;
	size_t bad = tu_check(obj, OBJ, seed);
	size_t bad0 = tu_check(box[0], OBJ, seed + 100), bad1 = tu_check(box[1], OBJ, seed + 200);
	snprintf(result[kind], sizeof result[kind], "%s: objects %s, %s", names[kind],
		 bad == OBJ && bad0 == OBJ && bad1 == OBJ ? "intact" : "OVERWRITTEN",
		 switches >= 0 && switches <= MAX_SWITCHES ? "left alone" : "woken by cycles");
	if (switches > MAX_SWITCHES)
		fprintf(stderr, "%s: %ld voluntary switches while it waited\n", names[kind], switches);
	free(box[0]);
	free(box[1]);
	free(box);
	free(obj);
	return NULL;
}

static _Atomic int in_cleanup;
static int cleanup_pipe[2];
static long cleanup_switches = -1;

static void read_in_cleanup(void *arg)
{
	(void)arg;
	char c;
	long before = voluntary_switches();
	atomic_store(&in_cleanup, 1);
	CHECK(read(cleanup_pipe[0], &c, 1) == 1, "read: %d", errno);
	cleanup_switches = voluntary_switches() - before;
}

static void *cancelled(void *arg)
{
	static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
	(void)arg;
	pthread_mutex_lock(&mu);
	pthread_cleanup_push(read_in_cleanup, NULL);
	atomic_fetch_add(&ready, 1);
	for (;;) pthread_cond_wait(&never, &mu);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Cancels a thread inside pthread_cond_wait; its cleanup handler reads
 * a pipe while cycles run. */
static void cancel_phase(void)
{
	pthread_t t;
	CHECK(pipe(cleanup_pipe) == 0, "pipe");
	atomic_store(&ready, 0);
	CHECK(pthread_create(&t, NULL, cancelled, NULL) == 0, "create");
	while (atomic_load(&ready) < 1) tu_sleep_ms(1);
	pthread_mutex_lock(&mu);   /* it waits: it gave the mutex up */
	pthread_mutex_unlock(&mu);
	tu_sleep_ms(50);
	pthread_cancel(t);
	while (!atomic_load(&in_cleanup)) tu_sleep_ms(1);
	tu_sleep_ms(50);   /* inside read */
	for (int c = 0; c < CYCLES / 2; c++) {
		tu_gc();
		tu_sleep_ms(2);
	}
	tu_write_all(cleanup_pipe[1], "x", 1);
	void *ret;
	pthread_join(t, &ret);
	pthread_mutex_unlock(&mu);   /* the cancelled wait took it back */
	bool stopped = tu_collect_ptr == NULL || cleanup_switches >= CYCLES / 4;
	if (!stopped)
		fprintf(stderr, "cancel: %ld switches while its cleanup ran\n", cleanup_switches);
	printf("cancel: %s, cleanup %s\n", ret == PTHREAD_CANCELED ? "cancelled" : "not cancelled",
	       stopped ? "stopped by cycles" : "NEVER STOPPED");
}

static int main_pipe[2];

static void *collector(void *arg)
{
	(void)arg;
	tu_sleep_ms(50);   /* main is inside poll */
	for (int c = 0; c < CYCLES / 2; c++) {
		tu_gc();
		tu_sleep_ms(2);
	}
	tu_write_all(main_pipe[1], "x", 1);
	return NULL;
}

/* The main thread waits in poll while another thread forces cycles. */
static void main_phase(void)
{
	pthread_t t;
	CHECK(pipe(main_pipe) == 0, "pipe");
	unsigned char *volatile obj = tu_make(OBJ, 77);
	long before = voluntary_switches();
	CHECK(pthread_create(&t, NULL, collector, NULL) == 0, "create");
	struct pollfd p = { .fd = main_pipe[0], .events = POLLIN };
	CHECK(poll(&p, 1, -1) == 1, "poll: %d", errno);
	long switches = voluntary_switches() - before;
	pthread_join(t, NULL);
	if (switches > MAX_SWITCHES)
		fprintf(stderr, "main: %ld voluntary switches while it waited\n", switches);
	printf("main: objects %s, %s\n", tu_check(obj, OBJ, 77) == OBJ ? "intact" : "OVERWRITTEN",
	       switches <= MAX_SWITCHES ? "left alone" : "woken by cycles");
	free(obj);
}

int main(void)
{
	tu_gc_init();
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
	for (int k = 0; k < NKINDS; k++) {
		CHECK(pipe(pipes[k]) == 0, "pipe");
		CHECK(pthread_create(&threads[k], NULL, waiter, (void *)(intptr_t)k) == 0, "create");
	}
	while (atomic_load(&ready) < NKINDS) tu_sleep_ms(1);
	tu_sleep_ms(100);   /* every waiter inside its call */
	void *junk[64];
	for (int c = 0; c < CYCLES; c++) {
		tu_gc();
		for (int j = 0; j < 64; j++) {
			junk[j] = malloc(OBJ);
			memset(junk[j], 0xa5, OBJ);
		}
		for (int j = 0; j < 64; j++) free(junk[j]);
		tu_sleep_ms(2);
	}
	atomic_store(&done, 1);
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	sem_post(&sem);
	sem_post(&sem);
	for (int k = POLL; k <= EPOLL; k++) tu_write_all(pipes[k][1], "x", 1);
	pthread_kill(threads[SLEEP], SIGUSR1);
	for (int k = 0; k < NKINDS; k++) {
		pthread_join(threads[k], NULL);
		printf("%s\n", result[k]);
	}
	cancel_phase();
	main_phase();
	return 0;
}
