/* cachescratch: passive false sharing, in the manner of Hoard's
 * cache-scratch (mimalloc-bench's "cache-scratch"), written here.
 *
 * The main thread allocates one small object per worker, one after the
 * other, so they share cache lines.  Each worker frees the object it was
 * given, then, again and again, allocates an object of the same size,
 * writes every byte of it many times, and frees it.  An allocator that
 * hands a worker the memory it just freed — or memory next to another
 * worker's — makes the workers' writes fight over one cache line; one
 * that serves each thread from memory of its own does not.  Every object
 * is also an entry in the collector's index, so an allocator whose own
 * bookkeeping for neighbouring objects shares a line pays here as well.
 *
 * usage: cachescratch [scale-percent [threads [object-bytes]]]
 *        (defaults 100, 2, 8) */
#include "bench_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define MAX_THREADS 64
#define ROUNDS_PER_PCT 40000L /* allocations per thread; 100% = 4M */
#define WRITES 50            /* passes over the object per allocation */

struct worker {
	pthread_t tid;
	unsigned char *given;
	uint64_t sum;
	long id;
};

static long rounds;
static size_t object_bytes;

static void *work(void *arg)
{
	struct worker *w = arg;
	free(w->given);
	uint64_t sum = 0;
	for (long r = 0; r < rounds; r++) {
		volatile unsigned char *p = malloc(object_bytes);
		if (!p)
			bench_xmalloc_fail("malloc", object_bytes);
		for (size_t i = 0; i < object_bytes; i++)
			p[i] = (unsigned char)w->id;
		for (int k = 1; k < WRITES; k++)
			for (size_t i = 0; i < object_bytes; i++)
				p[i] = (unsigned char)(p[i] + k);
		sum += p[0] + p[object_bytes - 1];
		free((void *)p);
	}
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	long scale = bench_scale(argc, argv);
	long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	long bytes = argc > 3 ? strtol(argv[3], NULL, 10) : 8;
	if (threads < 1 || threads > MAX_THREADS || bytes < 1 || bytes > 4096) {
		fprintf(stderr, "usage: %s [scale-percent [threads (1-%d) [object-bytes (1-4096)]]]\n",
			argv[0], MAX_THREADS);
		return 2;
	}
	rounds = scale * ROUNDS_PER_PCT;
	object_bytes = (size_t)bytes;
	struct worker w[MAX_THREADS];
	for (long i = 0; i < threads; i++) {
		w[i] = (struct worker){ .id = i, .given = malloc(object_bytes) };
		if (!w[i].given)
			bench_xmalloc_fail("malloc", object_bytes);
		memset(w[i].given, 0, object_bytes);
	}
	for (long i = 0; i < threads; i++)
		if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "cachescratch: pthread_create failed\n");
			return 1;
		}
	uint64_t sum = 0;
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		sum = bench_mix(sum, w[i].sum);
	}
	printf("cachescratch: %ld threads, %ld objects of %zu bytes, checksum %016llx\n", threads,
	       threads * rounds, object_bytes, (unsigned long long)sum);
	return 0;
}
