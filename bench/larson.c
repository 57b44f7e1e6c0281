/* larson: a server simulation in the manner of Larson and Krishnan's
 * benchmark (mimalloc-bench's "larson"), written here.
 *
 * T worker threads each own a table of SLOTS blocks.  A step picks a random
 * slot, checks and frees the block there and allocates a new one of a
 * random size (16 - 1000 B, as the original's defaults), filled with a
 * pattern.  After every round of steps the threads hand their tables on:
 * thread i takes the table thread i+1 used, as Larson's benchmark passes a
 * finished thread's blocks to the thread that replaces it.  So most frees
 * are of blocks another thread allocated, spread over every size class, and
 * the allocator's per-thread caches keep receiving memory from the others.
 *
 * Deterministic: every table has its own random stream, which travels with
 * it, and the rounds are separated by a barrier, so the blocks, the frees
 * and the checksum do not depend on scheduling nor on the allocator.
 *
 * usage: larson [scale-percent [threads]]   (defaults 100, 2) */
#include "bench_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define SLOTS 4096u
#define ROUNDS 20
#define STEPS_PER_PCT 2000L /* per thread and round; 100% = 200K */
#define MAX_THREADS 64
#define SIZE_MIN 16u
#define SIZE_MAX_ 1000u

struct block {
	uint32_t size;
	uint32_t tag;
	unsigned char bytes[];
};

struct table {
	struct block *slot[SLOTS];
	uint64_t rng;
	uint64_t sum;
};

static struct table tables[MAX_THREADS];
static pthread_barrier_t round_end;
static long steps, nthreads;

static unsigned char byte_of(uint32_t tag)
{
	return (unsigned char)(tag * 31u);
}

static struct block *make_block(struct table *t)
{
	uint64_t r = bench_rng(&t->rng);
	uint32_t size = SIZE_MIN + (uint32_t)(r % (SIZE_MAX_ - SIZE_MIN + 1));
	struct block *b = malloc(size);
	if (!b)
		bench_xmalloc_fail("malloc", size);
	b->size = size;
	b->tag = (uint32_t)(r >> 32);
	memset(b->bytes, byte_of(b->tag), size - sizeof *b);
	return b;
}

/* Checks what a block holds, folds it into the table's sum, frees it. */
static void retire(struct table *t, struct block *b)
{
	size_t n = b->size - sizeof *b;
	for (size_t i = 0; i < n; i += 61)
		if (b->bytes[i] != byte_of(b->tag)) {
			fprintf(stderr, "larson: block of %u bytes corrupted at %zu\n", b->size, i);
			exit(1);
		}
	t->sum = bench_mix(t->sum, (uint64_t)b->size << 32 | b->tag);
	free(b);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	for (int round = 0; round < ROUNDS; round++) {
		struct table *t = &tables[(id + round) % nthreads];
		for (long s = 0; s < steps; s++) {
			size_t i = (size_t)(bench_rng(&t->rng) % SLOTS);
			retire(t, t->slot[i]);
			t->slot[i] = make_block(t);
		}
		pthread_barrier_wait(&round_end);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long scale = bench_scale(argc, argv);
	nthreads = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
	if (nthreads < 1 || nthreads > MAX_THREADS) {
		fprintf(stderr, "usage: %s [scale-percent [threads (1-%d)]]\n", argv[0], MAX_THREADS);
		return 2;
	}
	steps = scale * STEPS_PER_PCT;
	/* The tables are filled by the main thread: the first round's frees
	 * are all of memory another thread allocated. */
	for (long i = 0; i < nthreads; i++) {
		tables[i].rng = 0x1a2503 + (uint64_t)i;
		for (size_t s = 0; s < SLOTS; s++)
			tables[i].slot[s] = make_block(&tables[i]);
	}
	pthread_barrier_init(&round_end, NULL, (unsigned)nthreads);
	pthread_t tid[MAX_THREADS];
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&tid[i], NULL, worker, (void *)i) != 0) {
			fprintf(stderr, "larson: pthread_create failed\n");
			return 1;
		}
	for (long i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);
	uint64_t sum = 0;
	for (long i = 0; i < nthreads; i++) {
		for (size_t s = 0; s < SLOTS; s++)
			retire(&tables[i], tables[i].slot[s]);
		sum = bench_mix(sum, tables[i].sum);
	}
	printf("larson: %ld threads, %ld steps, checksum %016llx\n", nthreads,
	       nthreads * steps * ROUNDS, (unsigned long long)sum);
	return 0;
}
