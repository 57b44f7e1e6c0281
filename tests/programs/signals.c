/* Signal handlers that allocate while collection cycles run.
 *
 *   signals alarm          setitimer(ITIMER_REAL) sends SIGALRM every
 *                          millisecond; the handler mallocs, fills, checks
 *                          and frees objects and replaces one it keeps in
 *                          a static variable.  SIGALRM is blocked in every
 *                          thread but one, which never calls malloc itself
 *                          (so the plain run is safe too: glibc's malloc
 *                          is not reentrant); worker threads allocate
 *                          meanwhile, so the handler's mallocs race with
 *                          theirs and with cycles, and may start cycles
 *                          inside the handler.
 *   signals altstack       a thread takes SIGUSR1 on a sigaltstack
 *                          (mmap'd).  The handler allocates an object,
 *                          keeps its only pointer in a local variable (on
 *                          the alternate stack), runs cycles and allocates
 *                          while workers allocate too, then checks it.
 *   signals altstack_heap  the same with the alternate stack itself from
 *                          malloc, its only pointer in the sigaltstack
 *                          registration (the program's copy is cleared),
 *                          as many programs do.  Between signals the thread
 *                          allocates objects of the stack's size and checks
 *                          them after the next signal: had the stack been
 *                          reclaimed and handed out again, the handler's
 *                          frames would overwrite one of them.
 * Meant to run with PACEGC_GODEBUG=gcstress=N.  Deterministic output; any
 * corruption exits 1. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "testutil.h"

#define NWORKERS 3
#define ALARMS 600
#define ALT_SIGNALS 20
#define ALT_SIZE (64 << 10)

static atomic_int stop_workers;

/* ---- workers: allocate and check their own objects until told ---- */

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 500 + id;
	enum { N = 200 };
	unsigned char *p[N] = { 0 };
	size_t size[N];
	uint64_t seed[N];
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&stop_workers)) {
		unsigned j = tu_next(&rng) % N;
		if (p[j]) {
			size_t bad = tu_check(p[j], size[j], seed[j]);
			if (bad != size[j])
				FAIL("worker %lu: object %p (%zu bytes) corrupted "
				     "at byte %zu", (unsigned long)id, (void *)p[j],
				     size[j], bad);
			free(p[j]);
		}
		uint64_t r = tu_next(&rng);
		/* Some objects of the alternate stack's size, so a reclaimed
		 * stack would be handed out to a worker too. */
		size[j] = r % 8 == 0 ? ALT_SIZE : 1 + (r >> 8) % 600;
		seed[j] = tu_next(&rng);
		p[j] = malloc(size[j]);
		CHECK(p[j] != NULL, "malloc");
		tu_fill(p[j], size[j], seed[j]);
	}
	for (int j = 0; j < N; j++) {
		if (p[j])
			CHECK(tu_check(p[j], size[j], seed[j]) == size[j],
			      "worker corruption at end");
		free(p[j]);
	}
	return NULL;
}

static pthread_t workers[NWORKERS];

static void start_workers(void)
{
	for (uintptr_t i = 0; i < NWORKERS; i++)
		CHECK(pthread_create(&workers[i], NULL, worker, (void *)i) == 0,
		      "pthread_create");
}

static void stop_all_workers(void)
{
	atomic_store(&stop_workers, 1);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(workers[i], NULL);
}

/* ---- alarm ---- */

static volatile sig_atomic_t alarms;
static unsigned char *handler_keep;
static uint64_t handler_keep_seed;
static size_t handler_keep_size;
static uint64_t handler_rng = 4242;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	unsigned char *p[4];
	size_t size[4];
	for (int i = 0; i < 4; i++) {
		size[i] = 1 + tu_next(&handler_rng) % (i == 3 ? 100000 : 500);
		p[i] = malloc(size[i]);
		if (!p[i])
			FAIL("malloc in the handler");
		tu_fill(p[i], size[i], alarms * 4 + i);
	}
	if (handler_keep) {
		if (tu_check(handler_keep, handler_keep_size, handler_keep_seed) !=
		    handler_keep_size)
			FAIL("the object kept by the handler (in a static "
			     "variable) was corrupted between signals");
		free(handler_keep);
	}
	handler_keep_size = 1 + tu_next(&handler_rng) % 5000;
	handler_keep_seed = tu_next(&handler_rng);
	handler_keep = malloc(handler_keep_size);
	if (!handler_keep)
		FAIL("malloc in the handler");
	tu_fill(handler_keep, handler_keep_size, handler_keep_seed);
	for (int i = 0; i < 4; i++) {
		if (tu_check(p[i], size[i], alarms * 4 + i) != size[i])
			FAIL("object allocated in the handler corrupted");
		free(p[i]);
	}
	alarms++;
	errno = saved;
}

static int alarm_test(void)
{
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	/* Workers block everything (inherited mask plus their own). */
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	start_workers();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	/* This thread: no malloc while SIGALRM may arrive, just work on
	 * memory allocated before (and by nobody else). */
	static unsigned char own[4096];
	tu_fill(own, sizeof own, 1);
	while (alarms < ALARMS)
		CHECK(tu_check(own, sizeof own, 1) == sizeof own,
		      "own buffer changed");
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	stop_all_workers();
	CHECK(handler_keep && tu_check(handler_keep, handler_keep_size,
				       handler_keep_seed) == handler_keep_size,
	      "the handler's kept object at the end");
	free(handler_keep);
	printf("signals alarm: %d SIGALRM handlers allocated and freed, all "
	       "objects intact\n", ALARMS);
	return 0;
}

/* ---- alternate stack ---- */

static uintptr_t alt_lo_x, alt_hi_x; /* the stack's bounds, XOR-ed: */
#define HIDE 0x5555555555555555ULL   /* not pointers to it */
static volatile sig_atomic_t alt_runs;
static uint64_t alt_rng = 777;

/* Allocation churn in the handler, for gcstress and for reuse of freed
 * memory: anything reclaimed wrongly is likely handed out here. */
static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		size_t size = 1 + tu_next(&alt_rng) % 2000;
		unsigned char *p = malloc(size);
		if (!p)
			FAIL("malloc in the handler");
		memset(p, 0xcc, size);
		free(p);
	}
}

static void on_usr1(int sig)
{
	(void)sig;
	int saved = errno;
	char here;
	uintptr_t sp = (uintptr_t)&here;
	if (sp < (alt_lo_x ^ HIDE) || sp >= (alt_hi_x ^ HIDE))
		FAIL("the handler does not run on the alternate stack");
	/* The only pointer to this object: a local on the alternate stack
	 * (volatile: in memory, not only a register). */
	size_t size = 100 + alt_runs * 37;
	uint64_t seed = 9000 + alt_runs;
	unsigned char *volatile only = malloc(size);
	if (!only)
		FAIL("malloc in the handler");
	tu_fill(only, size, seed);
	for (int k = 0; k < 3; k++) {
		churn(300);
		tu_gc_cycles(2, 15);
	}
	churn(300);
	size_t bad = tu_check(only, size, seed);
	if (bad != size)
		FAIL("object held only by a local on the alternate stack "
		     "corrupted at byte %zu (signal %d)", bad, (int)alt_runs);
	free(only);
	alt_runs++;
	errno = saved;
}

static void *alt_thread(void *arg)
{
	int from_heap = arg != NULL;
	stack_t ss;
	memset(&ss, 0, sizeof ss);
	ss.ss_size = ALT_SIZE;
	if (from_heap) {
		ss.ss_sp = malloc(ALT_SIZE);
	} else {
		ss.ss_sp = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(ss.ss_sp != MAP_FAILED, "mmap");
	}
	CHECK(ss.ss_sp != NULL, "alternate stack");
	alt_lo_x = (uintptr_t)ss.ss_sp ^ HIDE;
	alt_hi_x = ((uintptr_t)ss.ss_sp + ALT_SIZE) ^ HIDE;
	CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack: %s", strerror(errno));
	/* From here the kernel's registration is the only pointer to a
	 * heap-allocated stack. */
	*(void *volatile *)&ss.ss_sp = NULL;

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	uint64_t rng = 31337;
	enum { N = 16 };
	for (int i = 0; i < ALT_SIGNALS; i++) {
		/* Objects of the stack's size, allocated after cycles had
		 * their chance to reclaim the stack. */
		unsigned char *p[N];
		uint64_t seed[N];
		for (int k = 0; k < N; k++) {
			seed[k] = tu_next(&rng);
			p[k] = malloc(ALT_SIZE);
			CHECK(p[k] != NULL, "malloc");
			tu_fill(p[k], ALT_SIZE, seed[k]);
		}
		CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0,
		      "pthread_kill");
		CHECK(alt_runs == i + 1, "handler did not run");
		for (int k = 0; k < N; k++) {
			size_t bad = tu_check(p[k], ALT_SIZE, seed[k]);
			if (bad != ALT_SIZE)
				FAIL("an object of the alternate stack's size "
				     "was overwritten at byte %zu: the stack "
				     "(held only by sigaltstack) was reclaimed "
				     "and handed out again", bad);
			free(p[k]);
		}
		tu_gc_cycles(2, 15);
	}
	stack_t off = { .ss_flags = SS_DISABLE };
	CHECK(sigaltstack(&off, &ss) == 0, "sigaltstack disable");
	if (from_heap)
		free(ss.ss_sp); /* the registration gave the pointer back */
	else
		munmap(ss.ss_sp, ALT_SIZE);
	return NULL;
}

static int altstack_test(int from_heap)
{
	tu_gc_init();
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	start_workers();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, alt_thread,
			     from_heap ? (void *)1 : NULL) == 0,
	      "pthread_create");
	pthread_join(t, NULL);
	stop_all_workers();
	printf("signals %s: %d handlers on the alternate stack kept their "
	       "objects through cycles\n",
	       from_heap ? "altstack_heap" : "altstack", ALT_SIGNALS);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "alarm") == 0)
		return alarm_test();
	if (strcmp(mode, "altstack") == 0)
		return altstack_test(0);
	if (strcmp(mode, "altstack_heap") == 0)
		return altstack_test(1);
	fprintf(stderr, "usage: signals alarm|altstack|altstack_heap\n");
	return 2;
}
