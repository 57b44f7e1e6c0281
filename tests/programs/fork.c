/* fork while other threads allocate.
 *
 * The parent runs several threads that allocate, fill, verify and free in a
 * loop.  While they run it forks, a few times over:
 *   - a child that allocates and frees (small, large, aligned, realloc,
 *     and in a new thread of its own), then execs /bin/echo;
 *   - a child that forks again: the grandchild allocates and _exits with a
 *     known status, the child checks it and exits normally through exit();
 *   - posix_spawn and system() (vfork-like paths) from a thread.
 * The parent waits for each child and checks its status.  A watchdog alarm
 * in every child turns a deadlock into a clear failure.  The output is
 * deterministic: the parent waits for each child before the next fork. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

#define NWORKERS 4
#define ROUNDS 6
#define WATCHDOG 60

static atomic_int stop;
static atomic_long work_done[NWORKERS];

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 77 + id;
	void *slot[64] = { 0 };
	size_t size[64] = { 0 };
	uint64_t seed[64] = { 0 };
	while (!atomic_load(&stop)) {
		unsigned j = tu_next(&rng) % 64;
		if (slot[j]) {
			CHECK(tu_check(slot[j], size[j], seed[j]) == size[j],
			      "worker %lu: corruption", (unsigned long)id);
			free(slot[j]);
		}
		uint64_t r = tu_next(&rng);
		size[j] = r % 16 == 0 ? (r >> 8) % (512 << 10) : (r >> 8) % 512;
		seed[j] = tu_next(&rng);
		slot[j] = malloc(size[j]);
		CHECK(slot[j] != NULL, "malloc");
		tu_fill(slot[j], size[j], seed[j]);
		atomic_fetch_add(&work_done[id], 1);
	}
	for (int j = 0; j < 64; j++) {
		if (slot[j])
			CHECK(tu_check(slot[j], size[j], seed[j]) == size[j],
			      "worker corruption at end");
		free(slot[j]);
	}
	return NULL;
}

/* Allocation work any child does before it execs or exits. */
static void child_allocs(uint64_t seed0)
{
	uint64_t rng = seed0;
	void *v[500];
	for (int i = 0; i < 500; i++) {
		size_t n = 1 + tu_next(&rng) % 2000;
		v[i] = malloc(n);
		CHECK(v[i], "child malloc");
		tu_fill(v[i], n, i);
		CHECK(tu_check(v[i], n, i) == n, "child pattern");
	}
	for (int i = 0; i < 500; i += 2)
		free(v[i]);
	for (int i = 1; i < 500; i += 2) {
		v[i] = realloc(v[i], 5000);
		CHECK(v[i], "child realloc");
		free(v[i]);
	}
	void *big = malloc(8 << 20);
	CHECK(big, "child large malloc");
	memset(big, 1, 8 << 20);
	free(big);
	void *al = NULL;
	CHECK(posix_memalign(&al, 4096, 10000) == 0 &&
		      (uintptr_t)al % 4096 == 0,
	      "child posix_memalign");
	free(al);
	char *z = calloc(1000, 100);
	CHECK(z && tu_all_zero(z, 100000), "child calloc");
	free(z);
}

static void *child_thread(void *arg)
{
	child_allocs((uintptr_t)arg);
	return strdup("child thread result");
}

static int wait_for(pid_t pid, const char *what)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGALRM)
			FAIL("%s: hung (watchdog fired)", what);
		FAIL("%s: killed by signal %d", what, WTERMSIG(st));
	}
	CHECK(WIFEXITED(st), "%s: odd status %d", what, st);
	return WEXITSTATUS(st);
}

/* Wait until every worker made progress since the last call, so the fork
 * happens while they are busy (counts, not time). */
static void let_workers_run(void)
{
	long before[NWORKERS];
	for (int i = 0; i < NWORKERS; i++)
		before[i] = atomic_load(&work_done[i]);
	for (int i = 0; i < NWORKERS; i++)
		while (atomic_load(&work_done[i]) < before[i] + 200)
			sched_yield();
}

static void fork_exec_child(int round)
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(WATCHDOG);
		child_allocs(round);
		pthread_t t;
		void *res;
		CHECK(pthread_create(&t, NULL, child_thread,
				     (void *)(uintptr_t)(round + 100)) == 0,
		      "pthread_create in child");
		pthread_join(t, &res);
		CHECK(res && strcmp(res, "child thread result") == 0,
		      "child thread result");
		free(res);
		char arg[64];
		snprintf(arg, sizeof arg, "round %d: child exec'd echo", round);
		execl("/bin/echo", "echo", arg, (char *)NULL);
		FAIL("execl /bin/echo: %s", strerror(errno));
	}
	int code = wait_for(pid, "exec child");
	CHECK(code == 0, "exec child exited %d", code);
}

static void fork_fork_child(int round)
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		alarm(WATCHDOG);
		child_allocs(round + 1000);
		pid_t gpid = fork();
		CHECK(gpid >= 0, "second fork");
		if (gpid == 0) {
			alarm(WATCHDOG);
			child_allocs(round + 2000);
			_exit(40 + round);
		}
		int gcode = wait_for(gpid, "grandchild");
		CHECK(gcode == 40 + round, "grandchild exited %d", gcode);
		child_allocs(round + 3000);
		printf("round %d: grandchild exited %d\n", round, gcode);
		exit(7); /* through atexit and stdio teardown */
	}
	int code = wait_for(pid, "fork-fork child");
	CHECK(code == 7, "fork-fork child exited %d", code);
}

static void *spawner(void *arg)
{
	int round = (int)(uintptr_t)arg;
	char msg[64];
	snprintf(msg, sizeof msg, "round %d: posix_spawn echo", round);
	char *argv[] = { "echo", msg, NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, "/bin/echo", NULL, NULL, argv, environ);
	CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
	CHECK(wait_for(pid, "posix_spawn child") == 0, "spawned echo failed");
	return NULL;
}

int main(void)
{
	pthread_t w[NWORKERS];
	for (uintptr_t i = 0; i < NWORKERS; i++)
		CHECK(pthread_create(&w[i], NULL, worker, (void *)i) == 0,
		      "pthread_create");
	for (int round = 0; round < ROUNDS; round++) {
		let_workers_run();
		fork_exec_child(round);
		let_workers_run();
		fork_fork_child(round);
		let_workers_run();
		/* posix_spawn from another thread, then wait for it here. */
		pthread_t s;
		fflush(stdout);
		CHECK(pthread_create(&s, NULL, spawner,
				     (void *)(uintptr_t)round) == 0,
		      "pthread_create");
		pthread_join(s, NULL);
		fflush(stdout);
		int rc = system("echo system: sh ran");
		CHECK(rc == 0, "system() returned %d", rc);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(w[i], NULL);
	printf("fork: %d rounds ok\n", ROUNDS);
	return 0;
}
