/* churn: a steady live heap plus churn, the same allocation sequence as
 * bench/go/churn.go, so that `bench/run.sh --suite go` can compare pacegc's
 * pacing with the Go runtime's on identical work.
 *
 * usage: churn [total-MiB [live-MiB [threads]]]      (defaults 4096, 32, 1)
 *
 * With several threads, each owns `live-MiB / threads` of the live set and
 * allocates `total-MiB / threads`, from a seed of its own (thread 0's is
 * the one-thread run's seed); the checksum mixes the threads' in order, so
 * it does not depend on how they interleave.
 *
 * A live set of `live-MiB / 2.5 KiB` slots each holds an object of 1, 2, 3
 * or 4 KiB (every one a size class in both jemalloc and Go, so neither
 * rounds).  Each step then
 *   - allocates an object, writes all of it, and stores it into a random
 *     slot: the object it replaces is read (checksum) and dropped, never
 *     freed, as a leaking program would; pacegc's collector reclaims it;
 *   - allocates a short-lived object, writes it, reads it and drops it.
 * until `total-MiB` have been allocated (the initial fill included).
 *
 * Objects are arrays of 64-bit words: word 0 holds the word count, the
 * others the step's random number mixed with the index, which never looks
 * like a heap address, so a conservative scan finds no false pointers.
 *
 * When the live set is full (every thread's part) the program writes
 * "churn: live set filled" on
 * stderr, so that bench/gctrace_summary.py can tell the warm-up cycles from
 * the steady ones.  It prints the checksum and the byte count on stdout;
 * churn.go prints the same line.  Nothing here depends on pacegc. */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MiB ((uint64_t)1 << 20)
#define MEAN_SIZE 2560u /* mean of 1, 2, 3 and 4 KiB */
#define SEED 0x2545f4914f6cdd1dULL
#define GOLDEN 0x9e3779b97f4a7c15ULL

/* xorshift64 (Marsaglia): the same three lines in churn.go. */
static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return h ^ (v + GOLDEN + (h << 6) + (h >> 2));
}

static size_t object_words(uint64_t r)
{
	return (size_t)(1 + (r & 3)) * 1024 / sizeof(uint64_t);
}

/* An object of the size r picks, every word written. */
static uint64_t *new_object(uint64_t r, uint64_t *allocated)
{
	size_t words = object_words(r);
	uint64_t *o = malloc(words * sizeof *o);
	if (!o) {
		fprintf(stderr, "churn: malloc(%zu) failed\n", words * sizeof *o);
		exit(1);
	}
	o[0] = words;
	for (size_t k = 1; k < words; k++)
		o[k] = r ^ (k * GOLDEN);
	*allocated += words * sizeof *o;
	return o;
}

/* Reads what the checksum needs before an object is dropped. */
static uint64_t object_sum(uint64_t h, const uint64_t *o)
{
	return mix(mix(h, o[0]), o[o[0] - 1]);
}

#define MAX_THREADS 64

/* Kept in a global, as churn.go keeps its short-lived object in a global
 * sink: the compiler cannot prove the object dead and drop the malloc. */
uint64_t *volatile churn_sink[MAX_THREADS];

static uint64_t parse_mib(const char *s, const char *what)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0' || v == 0 || v > (1ULL << 30)) {
		fprintf(stderr, "usage: churn [total-MiB [live-MiB [threads]]]: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v * MiB;
}

typedef struct worker {
	int id;
	uint64_t total, live;             /* this thread's shares */
	pthread_barrier_t *filled;
	uint64_t h, allocated, steps;     /* its results */
} worker_t;

static void *work(void *arg)
{
	worker_t *w = arg;
	size_t slots = (size_t)(w->live / MEAN_SIZE);
	if (slots == 0)
		slots = 1;
	uint64_t **set = malloc(slots * sizeof *set);
	if (!set) {
		fprintf(stderr, "churn: malloc of the live set failed\n");
		exit(1);
	}
	uint64_t seed = SEED ^ ((uint64_t)w->id * GOLDEN), h = 0, allocated = 0, steps = 0;
	for (size_t i = 0; i < slots; i++)
		set[i] = new_object(rng(&seed), &allocated);
	if (pthread_barrier_wait(w->filled) == PTHREAD_BARRIER_SERIAL_THREAD)
		fprintf(stderr, "churn: live set filled\n");
	pthread_barrier_wait(w->filled);

	while (allocated < w->total) {
		uint64_t r = rng(&seed);
		size_t slot = (size_t)((r >> 8) % slots);
		h = object_sum(h, set[slot]);
		set[slot] = new_object(r, &allocated); /* the old one is garbage */
		uint64_t *tmp = new_object(rng(&seed), &allocated);
		churn_sink[w->id] = tmp;
		h = object_sum(h, tmp);
		steps++;
	}
	for (size_t i = 0; i < slots; i++)
		h = object_sum(h, set[i]);
	w->h = h;
	w->allocated = allocated;
	w->steps = steps;
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t total = argc > 1 ? parse_mib(argv[1], "total") : 4096 * MiB;
	uint64_t live = argc > 2 ? parse_mib(argv[2], "live") : 32 * MiB;
	int threads = argc > 3 ? atoi(argv[3]) : 1;
	if (threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "usage: churn [total-MiB [live-MiB [threads]]]: bad threads \"%s\"\n",
			argv[3]);
		return 2;
	}
	worker_t w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	pthread_barrier_t filled;
	pthread_barrier_init(&filled, NULL, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		w[t] = (worker_t){ .id = t, .total = total / (uint64_t)threads,
				   .live = live / (uint64_t)threads, .filled = &filled };
		if (t > 0 && pthread_create(&tid[t], NULL, work, &w[t]) != 0) {
			fprintf(stderr, "churn: pthread_create failed\n");
			return 1;
		}
	}
	work(&w[0]);
	uint64_t h = 0, allocated = 0, steps = 0;
	for (int t = 0; t < threads; t++) {
		if (t > 0)
			pthread_join(tid[t], NULL);
		h = t == 0 ? w[t].h : mix(h, w[t].h);
		allocated += w[t].allocated;
		steps += w[t].steps;
	}
	printf("churn steps=%" PRIu64 " allocated=%" PRIu64 " checksum=%016" PRIx64 "\n", steps,
	       allocated, h);
	return 0;
}
