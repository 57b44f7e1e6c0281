/* A live heap above the memory limit, for tests/cpucap.sh.
 *
 * THREADS threads each keep LIVE_MB / THREADS of pattern-filled objects
 * (48 B to 4 KiB) in an array of slots and, for ROUNDS rounds, replace
 * one object in 8 (three quarters of the old ones freed, a quarter
 * dropped) and record a checksum of their objects' seeds and sizes; every
 * 8th round and the last they check every word of every object.
 * Run with PACEGC_GOMEMLIMIT below LIVE_MB, the heap can never get under
 * the limit: without the 50% CPU limiter the collector would run cycle
 * after cycle and starve the program.
 *
 * stdout: the checksums, per thread and round (the same plain and
 * preloaded).  stderr, only when pacegc is preloaded (pacegc_read_stats
 * found with dlsym), one line at each of four points (start, live set
 * built, half the rounds done, end):
 *   cpucap: POINT wall_ns W cpu_ns C gc_cpu_ns G num_gc N limiter_last_enabled L
 * where cpu_ns is the process's user + system time (getrusage), so
 * tests/cpucap.sh can compare the collector's CPU with the process's over
 * any interval.  Exits 1 on any corruption.
 *
 * Usage: cpucap [LIVE_MB [ROUNDS [THREADS]]]   (defaults 96, 160, 1) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "pacegc.h"
#include "testutil.h"

#define MAX_THREADS 16
#define MAX_ROUNDS 1000
#define CHECK_EVERY 8

struct obj {
	uint64_t seed;
	size_t size;     /* bytes of data[], a multiple of 8 */
	uint64_t data[];
};

/* A word pattern, cheap to write and check: the program should spend its
 * time allocating, not hashing bytes. */
static void fill(uint64_t *w, size_t bytes, uint64_t seed)
{
	for (size_t i = 0; i < bytes / 8; i++)
		w[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
}

/* Byte offset of the first word off the pattern, or bytes. */
static size_t check(const uint64_t *w, size_t bytes, uint64_t seed)
{
	for (size_t i = 0; i < bytes / 8; i++)
		if (w[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
			return i * 8;
	return bytes;
}

struct worker {
	pthread_t tid;
	uint64_t rng;
	struct obj **slots;
	size_t nslots;
	size_t bytes;
	long first, last; /* rounds to run next: [first, last) */
	uint64_t sums[MAX_ROUNDS];
};

static long live_mb, rounds;
static int nthreads;
static struct worker workers[MAX_THREADS];
static void (*read_stats)(pacegc_stats_t *);
static struct timespec t0;

static struct obj *new_obj(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	size_t size = (r % 16 ? 48 + (r >> 8) % 464 : 512 + (r >> 8) % 3584) & ~(size_t)7;
	struct obj *o = malloc(sizeof *o + size);
	CHECK(o != NULL, "malloc(%zu)", sizeof *o + size);
	o->seed = tu_next(rng);
	o->size = size;
	fill(o->data, size, o->seed);
	return o;
}

static void *build(void *arg)
{
	struct worker *w = arg;
	size_t want = ((size_t)live_mb << 20) / nthreads, cap = 1024;
	w->slots = malloc(cap * sizeof *w->slots);
	CHECK(w->slots != NULL, "malloc slots");
	while (w->bytes < want) {
		if (w->nslots == cap) {
			cap *= 2;
			w->slots = realloc(w->slots, cap * sizeof *w->slots);
			CHECK(w->slots != NULL, "realloc slots");
		}
		struct obj *o = new_obj(&w->rng);
		w->slots[w->nslots++] = o;
		w->bytes += sizeof *o + o->size;
	}
	return NULL;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	for (long round = w->first; round < w->last; round++) {
		for (size_t i = 0; i < w->nslots; i++) {
			uint64_t r = tu_next(&w->rng);
			if (r % 8)
				continue;
			struct obj *old = w->slots[i];
			w->slots[i] = new_obj(&w->rng);
			if ((r >> 8) % 4)
				free(old);
			/* else dropped: the collector's to reclaim */
		}
		/* Every byte checked every CHECK_EVERY rounds and at the end:
		 * a program that mostly allocates, so that the collector
		 * would run back to back. */
		int full = round % CHECK_EVERY == CHECK_EVERY - 1 ||
			   round == rounds - 1;
		uint64_t h = 0xcbf29ce484222325ULL;
		for (size_t i = 0; i < w->nslots; i++) {
			struct obj *o = w->slots[i];
			size_t bad = full ? check(o->data, o->size, o->seed) : o->size;
			if (bad != o->size)
				FAIL("object %p (size %zu) corrupted at byte %zu",
				     (void *)o, o->size, bad);
			h = (h ^ o->seed ^ o->size) * 0x100000001b3ULL;
		}
		w->sums[round] = h;
	}
	return NULL;
}

static void run_all(void *(*fn)(void *))
{
	for (int t = 0; t < nthreads; t++)
		CHECK(pthread_create(&workers[t].tid, NULL, fn, &workers[t]) == 0,
		      "pthread_create");
	for (int t = 0; t < nthreads; t++)
		CHECK(pthread_join(workers[t].tid, NULL) == 0, "pthread_join");
}

static void report(const char *point)
{
	if (!read_stats)
		return;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
	uint64_t cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
		       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	pacegc_stats_t s;
	memset(&s, 0, sizeof s);
	read_stats(&s);
	fprintf(stderr,
		"cpucap: %s wall_ns %llu cpu_ns %llu gc_cpu_ns %llu num_gc %u "
		"limiter_last_enabled %u\n",
		point,
		(unsigned long long)((t.tv_sec - t0.tv_sec) * 1000000000LL +
				     (t.tv_nsec - t0.tv_nsec)),
		(unsigned long long)cpu, (unsigned long long)s.gc_cpu_ns,
		s.num_gc, s.limiter_last_enabled);
}

int main(int argc, char **argv)
{
	live_mb = argc > 1 ? atol(argv[1]) : 96;
	rounds = argc > 2 ? atol(argv[2]) : 160;
	nthreads = argc > 3 ? atoi(argv[3]) : 1;
	CHECK(live_mb > 0 && rounds > 0 && rounds <= MAX_ROUNDS &&
		      nthreads > 0 && nthreads <= MAX_THREADS,
	      "usage: cpucap [LIVE_MB [ROUNDS [THREADS]]]");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	read_stats = (void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT,
						       "pacegc_read_stats");
	for (int t = 0; t < nthreads; t++)
		workers[t].rng = 1000 + (uint64_t)t;
	report("start");
	run_all(build);
	report("built");
	for (int half = 0; half < 2; half++) {
		for (int t = 0; t < nthreads; t++) {
			workers[t].first = half ? rounds / 2 : 0;
			workers[t].last = half ? rounds : rounds / 2;
		}
		run_all(work);
		report(half ? "end" : "half");
	}
	for (int t = 0; t < nthreads; t++) {
		size_t bytes = 0;
		for (size_t i = 0; i < workers[t].nslots; i++)
			bytes += sizeof(struct obj) + workers[t].slots[i]->size;
		printf("thread %d: %zu objects, %zu KiB\n", t, workers[t].nslots,
		       bytes >> 10);
		for (long r = 0; r < rounds; r++)
			printf("thread %d round %2ld: checksum %016llx\n", t, r,
			       (unsigned long long)workers[t].sums[r]);
	}
	return 0;
}
