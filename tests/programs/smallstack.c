/* Collection cycles on threads with small stacks (issue 8, item 6).
 *
 * A cycle runs on whichever thread crossed the trigger or asked for it, on
 * that thread's stack, whatever its size.  Programs make threads with
 * small stacks on purpose (pthread_attr_setstacksize down to
 * PTHREAD_STACK_MIN, 16 KiB on x86-64: thread pools, coroutine runtimes,
 * servers with thousands of threads), sized for their own frames and
 * libc's; a cycle must not need more than that.
 *
 *   smallstack two KIB [DEPTH]
 *       two threads with KIB KiB stacks (at least the system's minimum)
 *       first use DEPTH KiB (default 0) of their stack in frames of their
 *       own, then each builds a list of 3000 pattern-filled nodes, leaks as
 *       much garbage and asks for a cycle (tu_gc) every 500 allocations,
 *       then checks and frees the list: cycles run on the small stacks,
 *       and the other thread parks on its small stack meanwhile;
 *   smallstack many KIB N
 *       N threads (at most 1000) with KIB KiB stacks each allocate a node
 *       and wait; then each takes its turn while the others wait, and ten
 *       of them run cycles (tu_gc) and allocate in their turn: whatever the
 *       collector sizes by the number of threads must not be on the
 *       caller's stack.  Each thread checks its node at the end.
 *
 * Cases for the tests (measured on x86-64, glibc 2.36, with pacegc at
 * main 88f8709): "two 16" (PTHREAD_STACK_MIN), "two 24 8" (a 24 KiB stack
 * with 8 KiB in use: plain runs need about 1 KiB more, a cycle about
 * 9 KiB), "many 16 200" and "many 24 400" (with two threads 24 KiB is
 * enough today; with 400, arrays sized by the thread count are not).
 *
 * Meant to run plain and preloaded through tests/compare.sh, also with
 * PACEGC_GODEBUG=gcstress=N (then cycles start inside the allocations on
 * the small stacks too).  Deterministic output.  Failure: a stack overflow
 * kills the program with SIGSEGV (status 139 from a shell), corrupted data
 * exits 1, and a watchdog kills a hung run after 60 s. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "watchdog.h"

#define NODES 3000          /* per thread in 16k and 24k */
#define GC_EVERY 500
#define MAX_MANY 1000

static size_t stack_size(size_t want)
{
	long min = sysconf(_SC_THREAD_STACK_MIN);
	if (min > 0 && (size_t)min > want)
		return (size_t)min;
	if (want < (size_t)PTHREAD_STACK_MIN)
		return (size_t)PTHREAD_STACK_MIN;
	return want;
}

static pthread_t spawn(size_t size, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	CHECK(pthread_attr_init(&attr) == 0, "pthread_attr_init");
	CHECK(pthread_attr_setstacksize(&attr, stack_size(size)) == 0,
	      "pthread_attr_setstacksize(%zu)", stack_size(size));
	int e = pthread_create(&t, &attr, fn, arg);
	CHECK(e == 0, "pthread_create with a %zu-byte stack: %s",
	      stack_size(size), strerror(e));
	pthread_attr_destroy(&attr);
	return t;
}

/* Builds a list of `nodes` nodes, leaking as much garbage on the way and
 * asking for a cycle every GC_EVERY allocations; checks and frees the
 * list.  Small frames only: this runs on a 16 KiB stack. */
static void *churn(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 1000 + id;
	struct node *head = NULL;
	size_t nodes = id >= 100 ? 200 : NODES;
	for (size_t i = 0; i < nodes; i++) {
		struct node *n = tu_new_node(&rng, 16 + tu_next(&rng) % 200);
		n->next = head;
		head = n;
		/* Garbage the collector must reclaim. */
		struct node *g = tu_new_node(&rng, 16 + tu_next(&rng) % 400);
		tu_launder(g);
		if (i % GC_EVERY == GC_EVERY - 1 || i == nodes - 1)
			tu_gc();
	}
	size_t count = 0;
	while (head) {
		struct node *next = head->next;
		CHECK(tu_check(head->data, head->size, head->seed) == head->size,
		      "thread %lu: node %zu from the end corrupted",
		      (unsigned long)id, count);
		free(head);
		head = next;
		count++;
	}
	CHECK(count == nodes, "thread %lu: %zu nodes, want %zu",
	      (unsigned long)id, count, nodes);
	return NULL;
}

/* The program's own frames: `depth` KiB of stack in use (1 KiB a level,
 * written so it is really there) before churn() allocates. */
static unsigned long depth_kib;

static __attribute__((noinline)) void *descend(void *arg, unsigned long levels)
{
	volatile unsigned char frame[1024 - 64];
	for (size_t i = 0; i < sizeof frame; i += 64)
		frame[i] = (unsigned char)levels;
	void *r = levels ? descend(arg, levels - 1) : churn(arg);
	CHECK(frame[0] == (unsigned char)levels, "frame overwritten");
	return r;
}

static void *churn_deep(void *arg)
{
	return descend(arg, depth_kib);
}

static int two_threads(unsigned long kib)
{
	size_t size = kib << 10;
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		t[i] = spawn(size, churn_deep, (void *)i);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
	printf("smallstack two %lu %lu: 2 threads on %lu KiB stacks, %lu KiB "
	       "of them in use, built, checked and freed %d nodes each with "
	       "cycles on their stacks\n", kib, depth_kib, kib, depth_kib, NODES);
	return 0;
}

/* ---- many: 200 small-stack threads, each running cycles in turn ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned ready, turn, runner_step = 1;

static void *many_thread(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 7000 + id;
	struct node *mine = tu_new_node(&rng, 32 + id);
	pthread_mutex_lock(&lock);
	ready++;
	pthread_cond_broadcast(&cond);
	while (turn != id)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	/* Our turn: cycles on this small stack while the others wait (ten
	 * threads run cycles, the others only take their turn). */
	if (id % runner_step == 0)
		churn((void *)(100 + id));

	pthread_mutex_lock(&lock);
	turn++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	CHECK(tu_check(mine->data, mine->size, mine->seed) == mine->size,
	      "thread %lu: its node was corrupted", (unsigned long)id);
	free(mine);
	return NULL;
}

static int many(unsigned long kib, unsigned long nthreads)
{
	static pthread_t t[MAX_MANY];
	unsigned many = (unsigned)nthreads;
	runner_step = many >= 10 ? many / 10 : 1;
	pthread_mutex_lock(&lock);
	turn = many;    /* nobody's turn until all exist */
	pthread_mutex_unlock(&lock);
	for (uintptr_t i = 0; i < many; i++)
		t[i] = spawn(kib << 10, many_thread, (void *)i);
	pthread_mutex_lock(&lock);
	while (ready < many)
		pthread_cond_wait(&cond, &lock);
	turn = 0;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < many; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
	printf("smallstack many %lu %u: %u threads on %lu KiB stacks ran "
	       "cycles in turn while the others waited\n", kib, many, many, kib);
	return 0;
}

int main(int argc, char **argv)
{
	tu_watchdog("smallstack", 60);
	tu_gc_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned long kib = argc >= 3 ? strtoul(argv[2], NULL, 10) : 0;
	unsigned long n = argc >= 4 ? strtoul(argv[3], NULL, 10) : 0;
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "two") == 0 && kib > 0) {
		depth_kib = n;
		return two_threads(kib);
	}
	if (argc == 4 && strcmp(argv[1], "many") == 0 && kib > 0 && n > 0 &&
	    n <= MAX_MANY)
		return many(kib, n);
	FAIL("usage: smallstack two KIB [DEPTH_KIB] | many KIB N (N <= %d)",
	     MAX_MANY);
}
