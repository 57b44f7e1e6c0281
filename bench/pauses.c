/* pauses: a live heap of linked 64-byte nodes (and a share of pointer-free
 * buffers) with churn, and a thread that measures how late its wake-ups
 * are: the pauses a collector inflicts, seen from the program.
 *
 * usage: pauses [live-MiB [seconds [churn-threads [free|drop]]]]
 *        (defaults 100, 5, 1, drop)
 *
 * The live set: 7/8 of live-MiB as 64-byte nodes in one ring of linked
 * lists (each node: next pointer, key, 6 payload words), 1/8 as 4 KiB
 * buffers of random bytes, referenced from a table.  Each churn thread
 * then, until the time is up, picks a random list position, allocates a
 * node, links it in place of the old one, and drops the old one (and now
 * and then replaces a buffer), so the live heap stays the same size while
 * the program allocates as fast as it can, writing pointers all over the
 * heap: what a concurrent mark must follow.  Dropped objects are garbage,
 * as in the Go twin (a collector reclaims them); "free" frees them.
 *
 * A sleeper thread sleeps 200 us in a loop (clock_nanosleep) and records
 * how much later than asked each wake-up came.  At the end the program
 * prints on stderr (unless PAUSES_QUIET is set: tests compare stderr)
 *   pauses: wakeups N late max X us p99 Y us p50 Z us, steps S
 * and on stdout a checksum of the live set, which must not depend on the
 * allocator nor on how many steps ran.  Nothing here depends on pacegc. */

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

#define NODE_PAYLOAD 6
#define BUFFER_SIZE 4096
#define SLEEP_NS 200000L
#define LISTS 65536
#define MAX_WAKEUPS (1 << 22)

typedef struct node {
	struct node *next;
	uint64_t key;
	uint64_t payload[NODE_PAYLOAD];
} node_t;

static node_t *heads[LISTS];
static pthread_mutex_t locks[LISTS];
static size_t nodes_per_list;
static unsigned char **buffers;
static size_t nbuffers;
static pthread_mutex_t buffer_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stop;
static atomic_uint_fast64_t steps;
static uint32_t *late_us;
static bool free_old;
static size_t nlate;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static node_t *new_node(uint64_t key)
{
	node_t *n = malloc(sizeof *n);
	if (!n) abort();
	n->next = NULL;
	n->key = key;
	for (int i = 0; i < NODE_PAYLOAD; i++) n->payload[i] = key * (uint64_t)(i + 3);
	return n;
}

static void *churn(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg;
	uint64_t local = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t r = bench_rng(&s);
		size_t l = r % LISTS, pos = (r >> 20) % nodes_per_list;
		pthread_mutex_lock(&locks[l]);
		node_t **at = &heads[l];
		for (size_t i = 0; i < pos && (*at)->next; i++) at = &(*at)->next;
		node_t *old = *at, *n = new_node(old->key);
		n->next = old->next;
		*at = n;
		pthread_mutex_unlock(&locks[l]);
		if (free_old) free(old);
		if ((r & 1023) == 0) {
			unsigned char *b = malloc(BUFFER_SIZE);
			if (!b) abort();
			memset(b, (int)(r >> 32), BUFFER_SIZE);
			pthread_mutex_lock(&buffer_lock);
			size_t i = (r >> 40) % nbuffers;
			unsigned char *o = buffers[i];
			buffers[i] = b;
			pthread_mutex_unlock(&buffer_lock);
			if (free_old) free(o);
		}
		local++;
	}
	atomic_fetch_add(&steps, local);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed) && nlate < MAX_WAKEUPS) {
		uint64_t t0 = now_ns();
		struct timespec d = {0, SLEEP_NS};
		clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
		uint64_t late = now_ns() - t0 - SLEEP_NS;
		late_us[nlate++] = (uint32_t)(late / 1000);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long live_mib = argc > 1 ? atol(argv[1]) : 100;
	double seconds = argc > 2 ? atof(argv[2]) : 5;
	int threads = argc > 3 ? atoi(argv[3]) : 1;
	free_old = argc > 4 && strcmp(argv[4], "free") == 0;
	if (live_mib <= 0 || seconds <= 0 || threads < 1 || threads > 64 ||
	    (argc > 4 && !free_old && strcmp(argv[4], "drop") != 0)) {
		fprintf(stderr, "usage: pauses [live-MiB [seconds [churn-threads [free|drop]]]]\n");
		return 2;
	}
	size_t live = (size_t)live_mib << 20;
	nodes_per_list = live / 8 * 7 / sizeof(node_t) / LISTS;
	if (nodes_per_list < 1) nodes_per_list = 1;
	nbuffers = live / 8 / BUFFER_SIZE + 1;
	uint64_t s = 42;
	for (size_t l = 0; l < LISTS; l++) {
		pthread_mutex_init(&locks[l], NULL);
		node_t **at = &heads[l];
		for (size_t i = 0; i < nodes_per_list; i++) {
			*at = new_node(bench_rng(&s));
			at = &(*at)->next;
		}
	}
	buffers = malloc(nbuffers * sizeof *buffers);
	for (size_t i = 0; i < nbuffers; i++) {
		buffers[i] = malloc(BUFFER_SIZE);
		memset(buffers[i], (int)i, BUFFER_SIZE);
	}
	late_us = malloc(MAX_WAKEUPS * sizeof *late_us);
	pthread_t sl, ch[64];
	pthread_create(&sl, NULL, sleeper, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&ch[i], NULL, churn, (void *)(uintptr_t)(1000 + i));
	struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&d, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++) pthread_join(ch[i], NULL);
	pthread_join(sl, NULL);
	uint64_t sum = 0, count = 0;
	for (size_t l = 0; l < LISTS; l++)
		for (node_t *n = heads[l]; n; n = n->next) {
			sum = bench_mix(sum, n->key + n->payload[NODE_PAYLOAD - 1]);
			count++;
		}
	qsort(late_us, nlate, sizeof *late_us, cmp_u32);
	if (!getenv("PAUSES_QUIET"))
		fprintf(stderr, "pauses: wakeups %zu late max %" PRIu32 " us p99 %" PRIu32 " us p50 %" PRIu32
	        " us, steps %" PRIu64 "\n", nlate, nlate ? late_us[nlate - 1] : 0,
	        nlate ? late_us[nlate * 99 / 100] : 0, nlate ? late_us[nlate / 2] : 0,
	        (uint64_t)atomic_load(&steps));
	printf("%016" PRIx64 " %" PRIu64 "\n", sum, count);
	return 0;
}
