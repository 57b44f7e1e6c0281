/* fork, exec and dlopen while collection cycles run.
 *
 * Threads run throughout:
 *   - workers allocate, fill, check and free (with gcstress they start
 *     cycles all the time);
 *   - a collector thread calls pacegc_collect() every millisecond (when
 *     preloaded), so a cycle is as likely as not under way at any moment;
 *   - a dlopen thread loads MODULE (libdltarget), makes it allocate into
 *     its globals and its dynamic TLS (a malloc'd block reached only
 *     through the thread's DTV), runs cycles, checks both, and unloads it.
 * Meanwhile the main thread forks ROUNDS times.  Each child allocates and
 * frees, starts a thread, runs a cycle of its own, and then either execs
 * /bin/echo or re-execs this program as "forkcycle child N", which
 * allocates (with pacegc preloaded again, and any gcstress) and prints.
 * Every child has a watchdog alarm.  The parent waits for each child
 * before the next fork, so the output is deterministic.
 * Usage: forkcycle MODULE   (forkcycle child N: internal) */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define NWORKERS 3
#define ROUNDS 24
#define DL_ROUNDS 12
#define WATCHDOG 60

static atomic_int stop;
static atomic_long work_done;
static const char *self_exe;
static const char *module;

static void *worker(void *arg)
{
	uint64_t rng = 1234 + (uintptr_t)arg;
	enum { N = 128 };
	unsigned char *p[N] = { 0 };
	size_t size[N];
	uint64_t seed[N];
	while (!atomic_load(&stop)) {
		unsigned j = tu_next(&rng) % N;
		if (p[j]) {
			size_t bad = tu_check(p[j], size[j], seed[j]);
			if (bad != size[j])
				FAIL("worker: object %p (%zu bytes) corrupted at "
				     "byte %zu", (void *)p[j], size[j], bad);
			free(p[j]);
		}
		uint64_t r = tu_next(&rng);
		size[j] = r % 32 == 0 ? (r >> 8) % (300 << 10) : 1 + (r >> 8) % 700;
		seed[j] = tu_next(&rng);
		p[j] = malloc(size[j]);
		CHECK(p[j] != NULL, "malloc");
		tu_fill(p[j], size[j], seed[j]);
		atomic_fetch_add(&work_done, 1);
	}
	for (int j = 0; j < N; j++) {
		if (p[j])
			CHECK(tu_check(p[j], size[j], seed[j]) == size[j],
			      "worker corruption at end");
		free(p[j]);
	}
	return NULL;
}

static void *collector(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		tu_gc();
		tu_sleep_ms(1);
	}
	return NULL;
}

static void *dlopen_thread(void *arg)
{
	(void)arg;
	for (int round = 0; round < DL_ROUNDS; round++) {
		void *h = dlopen(module, RTLD_NOW);
		CHECK(h, "dlopen: %s", dlerror());
		int (*check_ctor)(void) = (int (*)(void))dlsym(h, "dl_check_ctor");
		void *(*make)(size_t, uint64_t) =
			(void *(*)(size_t, uint64_t))dlsym(h, "dl_make");
		int (*consume)(void *, size_t, uint64_t) =
			(int (*)(void *, size_t, uint64_t))dlsym(h, "dl_consume");
		void (*tls)(void) = (void (*)(void))dlsym(h, "dl_tls");
		int (*tls_check)(void) = (int (*)(void))dlsym(h, "dl_tls_check");
		CHECK(check_ctor && make && consume && tls && tls_check,
		      "dlsym: %s", dlerror());
		tls();
		for (size_t n = 1; n < (1 << 18); n = n * 5 + 3) {
			void *p = make(n, n + round);
			CHECK(p && tu_check(p, n, n + round) == n, "dl_make");
			CHECK(consume(p, n, n + round), "dl_consume");
		}
		tu_gc_cycles(3, 15);
		CHECK(check_ctor(), "the module's globals lost their objects");
		CHECK(tls_check(), "the module's thread-local object corrupted");
		CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
	}
	return NULL;
}

static void child_allocs(uint64_t seed0)
{
	uint64_t rng = seed0;
	enum { N = 400 };
	unsigned char *v[N];
	size_t size[N];
	for (int i = 0; i < N; i++) {
		size[i] = 1 + tu_next(&rng) % 3000;
		v[i] = malloc(size[i]);
		CHECK(v[i], "child malloc");
		tu_fill(v[i], size[i], seed0 + i);
	}
	tu_gc();
	for (int i = 0; i < N; i++) {
		CHECK(tu_check(v[i], size[i], seed0 + i) == size[i],
		      "child: object corrupted");
		free(v[i]);
	}
}

static void *child_thread(void *arg)
{
	child_allocs((uintptr_t)arg);
	return strdup("child thread result");
}

static void wait_ok(pid_t pid, int round)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(st))
		FAIL("round %d: child killed by signal %d%s", round,
		     WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (hung)" : "");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "round %d: child exited %d", round, WEXITSTATUS(st));
}

static void fork_round(int round)
{
	/* Fork while the workers are busy: wait for some work, not time. */
	long before = atomic_load(&work_done);
	while (atomic_load(&work_done) < before + 500)
		sched_yield();
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(WATCHDOG);
		child_allocs(round * 1000);
		pthread_t t;
		void *res;
		CHECK(pthread_create(&t, NULL, child_thread,
				     (void *)(uintptr_t)(round * 1000 + 1)) == 0,
		      "pthread_create in the child");
		pthread_join(t, &res);
		CHECK(res && strcmp(res, "child thread result") == 0,
		      "child thread result");
		free(res);
		char arg[32];
		snprintf(arg, sizeof arg, "%d", round);
		if (round % 2)
			execl("/bin/echo", "echo", "round", arg,
			      "child exec'd echo", (char *)NULL);
		else
			execl(self_exe, self_exe, "child", arg, (char *)NULL);
		FAIL("exec: %s", strerror(errno));
	}
	wait_ok(pid, round);
}

/* The re-exec'd child: a fresh process under the same LD_PRELOAD. */
static int child_main(int round)
{
	tu_gc_init();
	child_allocs(round * 7 + 3);
	printf("round %d child re-exec'd itself and allocated\n", round);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0)
		return child_main(atoi(argv[2]));
	CHECK(argc == 2, "usage: forkcycle MODULE");
	module = argv[1];
	self_exe = "/proc/self/exe";
	tu_gc_init();
	pthread_t w[NWORKERS], c, d;
	for (uintptr_t i = 0; i < NWORKERS; i++)
		CHECK(pthread_create(&w[i], NULL, worker, (void *)i) == 0,
		      "pthread_create");
	CHECK(pthread_create(&c, NULL, collector, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&d, NULL, dlopen_thread, NULL) == 0,
	      "pthread_create");
	for (int round = 0; round < ROUNDS; round++)
		fork_round(round);
	pthread_join(d, NULL);
	atomic_store(&stop, 1);
	pthread_join(c, NULL);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(w[i], NULL);
	printf("forkcycle: %d forks and %d dlopen rounds during cycles ok\n",
	       ROUNDS, DL_ROUNDS);
	return 0;
}
