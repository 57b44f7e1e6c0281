/* bench/idle.c: a program with many idle threads (the stop benchmark of
 * issue 10, item 8).  N threads wait, each in one kind of blocking call:
 * a condition variable, poll on a pipe, or a sleep; the main thread keeps
 * a small live list and allocates garbage for S seconds, so cycles come
 * back to back and each stops N + 1 threads.  bench/idle.sh reads each
 * stop's length from the gctrace lines.
 *
 *   idle THREADS KIND SECONDS     KIND: cond, poll, sleep or mixed
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_bool done;
static int wake_pipe[2];

static void *idle_cond(void *arg) {
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!atomic_load(&done)) pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *idle_poll(void *arg) {
	(void)arg;
	struct pollfd p = { .fd = wake_pipe[0], .events = POLLIN };
	while (!atomic_load(&done)) poll(&p, 1, -1);
	return NULL;
}

static void *idle_sleep(void *arg) {
	(void)arg;
	while (!atomic_load(&done)) usleep(100000);
	return NULL;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct node { struct node *next; uint64_t v[3]; };

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s THREADS cond|poll|sleep|mixed SECONDS\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[1]);
	const char *kind = argv[2];
	double seconds = atof(argv[3]);
	if (pipe(wake_pipe) != 0) return 1;
	void *(*fns[3])(void *) = { idle_cond, idle_poll, idle_sleep };
	int which = strcmp(kind, "cond") == 0 ? 0 : strcmp(kind, "poll") == 0 ? 1
		  : strcmp(kind, "sleep") == 0 ? 2 : -1;
	if (which < 0 && strcmp(kind, "mixed") != 0) return 2;
	pthread_t *t = calloc((size_t)n, sizeof *t);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 << 10);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], &a, fns[which < 0 ? i % 3 : which], NULL) != 0) return 1;
	uint64_t rng = 1, sum = 0, steps = 0;
	struct node *live[4096] = { 0 };
	double end = now() + seconds;
	while (now() < end) {
		for (int k = 0; k < 1000; k++, steps++) {
			struct node *x = malloc(sizeof *x);
			size_t slot = bench_rng(&rng) % 4096;
			x->next = live[slot];
			x->v[0] = steps;
			live[slot] = x;
			if (x->next && x->next->next) {
				struct node *old = x->next->next;
				x->next->next = NULL;
				sum = bench_mix(sum, old->v[0] & 1);
				free(old);
			}
			free(malloc(256 + bench_rng(&rng) % 1024));   /* garbage */
		}
	}
	atomic_store(&done, true);
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	if (write(wake_pipe[1], "x", 1) != 1) return 1;
	for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
	printf("idle: %d threads %s, steps %llu, checksum %llx\n", n, kind,
	       (unsigned long long)steps, (unsigned long long)sum);
	return 0;
}
