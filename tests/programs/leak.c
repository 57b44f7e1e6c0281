/* A leaking program: keeps a fixed live set and drops everything else.
 *
 * The live set is LISTS singly linked lists of pattern-filled nodes, about
 * LIVE_MB in all.  Each round
 *   - builds about (TOTAL_MB - LIVE_MB) / ROUNDS of garbage: chains of
 *     objects of mixed sizes (16 B to 1 MiB) that point to each other and
 *     into the live set, fully written so that they are resident; a
 *     quarter of them is freed, the rest is dropped (leaked);
 *   - replaces one live node in 32 with a new one; the old node is leaked;
 *   - checks every byte of every live node and prints the round's checksum
 *     (a hash of the node seeds in list order), which depends only on the
 *     program's inputs.
 * With RATE (MB/s) the program allocates no faster than that: it sleeps
 * whenever it is ahead of schedule.  The memory a collector with a reclaim
 * delay needs is then a property of the collector, not of the machine's
 * speed.  The output never depends on time.
 * At the end it prints the peak RSS (getrusage ru_maxrss) on stderr as
 * "leak: peak RSS N KiB", for tests/leak.sh to compare with a bound.
 * Any corruption exits 1.
 *
 * Usage: leak [TOTAL_MB [LIVE_MB [RATE]]]   (defaults 1024, 10, 0 = as
 * fast as it can) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "testutil.h"

#define LISTS 64
#define ROUNDS 64

static struct node *lists[LISTS];
static long rate_mb_s;
static double t_start;
static size_t allocated;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count n bytes allocated; sleep while ahead of RATE. */
static void pace(size_t n)
{
	allocated += n;
	if (rate_mb_s <= 0)
		return;
	double due = t_start + allocated / (rate_mb_s * 1048576.0);
	double ahead = due - now();
	if (ahead > 0.001)
		tu_sleep_ms((long)(ahead * 1000));
}

/* Node payloads: mostly small, some a few KiB, as in a real heap. */
static size_t node_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	return r % 16 ? 16 + (r >> 8) % 480 : 1024 + (r >> 8) % 8192;
}

static size_t build_live(uint64_t *rng, size_t bytes)
{
	size_t have = 0, count = 0;
	struct node *tail[LISTS] = { 0 };
	while (have < bytes) {
		struct node *n = tu_new_node(rng, node_size(rng));
		unsigned l = count++ % LISTS;
		if (tail[l])
			tail[l]->next = n;
		else
			lists[l] = n;
		tail[l] = n;
		have += sizeof *n + n->size;
	}
	return count;
}

/* Checks every live node; returns a hash of the seeds in list order. */
static uint64_t check_live(size_t *nodes, size_t *bytes)
{
	uint64_t h = 0x6a09e667f3bcc908ULL;
	*nodes = *bytes = 0;
	for (int l = 0; l < LISTS; l++) {
		for (struct node *n = lists[l]; n; n = n->next) {
			size_t bad = tu_check(n->data, n->size, n->seed);
			if (bad != n->size)
				FAIL("live node %p (list %d, size %zu) corrupted "
				     "at byte %zu", (void *)n, l, n->size, bad);
			h = (h ^ n->seed) * 0x100000001b3ULL;
			(*nodes)++;
			*bytes += sizeof *n + n->size;
		}
	}
	return h;
}

/* Replace one live node in 32; the replaced node is dropped, not freed. */
static void churn_live(uint64_t *rng)
{
	for (int l = 0; l < LISTS; l++) {
		struct node **link = &lists[l];
		while (*link) {
			if (tu_next(rng) % 32 == 0) {
				struct node *n = tu_new_node(rng, node_size(rng));
				n->next = (*link)->next;
				*link = n;
			}
			link = &(*link)->next;
		}
	}
}

struct garbage {
	struct garbage *next;
	struct node *live; /* garbage points into the live set too */
	size_t size;
};

static size_t garbage_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	unsigned k = r % 1000;
	if (k < 900)
		return 16 + (r >> 16) % 496;
	if (k < 995)
		return 512 + (r >> 16) % 65536;
	return (256 << 10) + (r >> 16) % (768 << 10);
}

/* About `bytes` of garbage in chains; a quarter freed, the rest dropped. */
static void make_garbage(uint64_t *rng, size_t bytes)
{
	struct garbage *chain = NULL;
	size_t have = 0, in_chain = 0;
	while (have < bytes) {
		size_t size = garbage_size(rng);
		if (size < sizeof(struct garbage))
			size = sizeof(struct garbage);
		struct garbage *g = malloc(size);
		CHECK(g != NULL, "malloc(%zu)", size);
		memset(g, (int)(have & 0xff), size);
		g->size = size;
		g->live = lists[tu_next(rng) % LISTS];
		have += size;
		pace(size);
		if (tu_next(rng) % 4 == 0) {
			free(g);
			continue;
		}
		g->next = chain;
		chain = g;
		if (++in_chain == 100) { /* drop the chain */
			chain = NULL;
			in_chain = 0;
		}
	}
	chain = tu_launder(NULL);
}

int main(int argc, char **argv)
{
	long total_mb = argc > 1 ? atol(argv[1]) : 1024;
	long live_mb = argc > 2 ? atol(argv[2]) : 10;
	rate_mb_s = argc > 3 ? atol(argv[3]) : 0;
	CHECK(total_mb > live_mb && live_mb > 0,
	      "usage: leak [TOTAL_MB [LIVE_MB [RATE]]]");
	t_start = now();
	uint64_t rng = 12345;
	size_t count = build_live(&rng, (size_t)live_mb << 20);
	size_t per_round = (size_t)(total_mb - live_mb) * (1 << 20) / ROUNDS;
	printf("leak: %ld MB live in %zu nodes, %zu KiB of garbage per round\n",
	       live_mb, count, per_round >> 10);
	for (int round = 0; round < ROUNDS; round++) {
		make_garbage(&rng, per_round);
		churn_live(&rng);
		size_t nodes, bytes;
		uint64_t h = check_live(&nodes, &bytes);
		printf("round %2d: %zu live nodes, %zu KiB, checksum %016llx\n",
		       round, nodes, bytes >> 10, (unsigned long long)h);
	}
	fflush(stdout);
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
	fprintf(stderr, "leak: peak RSS %ld KiB\n", ru.ru_maxrss);
	return 0;
}
