/* Use after free, for PACEGC_FREE=defer only: a plain run corrupts its own
 * heap on purpose (that is the point), so it runs only preloaded.
 *
 *   uaf scribble   frees objects but keeps dangling pointers to them: in
 *                  globals, in live heap objects, on the stack, some
 *                  pointing into the middle of the freed object.  Then it
 *                  allocates more, runs cycles, writes through every
 *                  dangling pointer and reads the writes back, and checks
 *                  every live object's pattern.  In defer mode a freed
 *                  object stays quarantined while anything points to it,
 *                  so no live object may ever change.
 *   uaf reclaim MB frees 1 GiB in rounds of 8 MiB, writes through the
 *                  dangling pointers for one round, then drops them.  The
 *                  quarantine must then be released: the peak RSS must
 *                  stay below MB.
 * Exits 1 on any corruption or if the bound is exceeded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "testutil.h"

struct obj {
	void *p;
	size_t size;
	uint64_t seed;
};

#define NLIVE 4000
#define NDANGLE 2000
#define ROUNDS 12

static struct obj live[NLIVE];
static unsigned char *dangling[NDANGLE]; /* globals: in .bss */
static size_t dangling_size[NDANGLE];
static size_t dangling_off[NDANGLE];     /* where the pointer points */

/* A live object holding dangling pointers: the only copy is in the heap. */
struct holder {
	unsigned char *ptr[64];
	size_t size[64];
};

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	if (r % 50 == 0)
		return 4096 + (r >> 8) % (200 << 10);
	return 8 + (r >> 8) % 400;
}

static void make_live(struct obj *o, uint64_t *rng)
{
	o->size = pick_size(rng);
	o->seed = tu_next(rng);
	o->p = malloc(o->size);
	CHECK(o->p != NULL, "malloc(%zu)", o->size);
	tu_fill(o->p, o->size, o->seed);
}

static void check_live(const char *when)
{
	for (int i = 0; i < NLIVE; i++) {
		size_t bad = tu_check(live[i].p, live[i].size, live[i].seed);
		if (bad != live[i].size)
			FAIL("%s: live object %d (%p, %zu bytes) corrupted at "
			     "byte %zu: a write through a dangling pointer hit it",
			     when, i, live[i].p, live[i].size, bad);
	}
}

/* Write `byte` over the whole freed object through its dangling pointer
 * (which may point into its middle), then read it back. */
static void scribble(unsigned char *dp, size_t off, size_t size, int byte)
{
	unsigned char *base = dp - off;
	memset(base, byte, size);
	for (size_t k = 0; k < size; k++)
		if (base[k] != (unsigned char)byte)
			FAIL("freed object %p: byte %zu reads %d after writing "
			     "%d: the memory was handed out again", (void *)base,
			     k, base[k], byte);
}

static void replace_some_live(uint64_t *rng, int n)
{
	for (int k = 0; k < n; k++) {
		struct obj *o = &live[tu_next(rng) % NLIVE];
		CHECK(tu_check(o->p, o->size, o->seed) == o->size,
		      "live object corrupted before replacement");
		free(o->p);
		make_live(o, rng);
	}
}

static int scribble_test(void)
{
	tu_gc_init();
	uint64_t rng = 99;
	for (int i = 0; i < NLIVE; i++)
		make_live(&live[i], &rng);
	for (int round = 0; round < ROUNDS; round++) {
		/* Free objects, keep dangling pointers: in .bss ... */
		for (int i = 0; i < NDANGLE; i++) {
			size_t size = pick_size(&rng);
			unsigned char *p = malloc(size);
			CHECK(p != NULL, "malloc");
			memset(p, 0x11, size);
			free(p);
			dangling_size[i] = size;
			dangling_off[i] = i % 3 == 0 ? size / 2 : 0;
			dangling[i] = p + dangling_off[i];
		}
		/* ... in a live heap object ... */
		struct holder *h = malloc(sizeof *h);
		CHECK(h != NULL, "malloc");
		for (int i = 0; i < 64; i++) {
			h->size[i] = 16 + i * 24;
			h->ptr[i] = malloc(h->size[i]);
			CHECK(h->ptr[i] != NULL, "malloc");
			free(h->ptr[i]);
		}
		/* ... and on the stack. */
		volatile unsigned char *on_stack = malloc(3000);
		CHECK(on_stack != NULL, "malloc");
		free((void *)on_stack);

		/* More allocation: under glibc or honor these reuse the
		 * freed memory; cycles run in between. */
		replace_some_live(&rng, NLIVE / 2);
		tu_gc_cycles(3, 15);
		replace_some_live(&rng, NLIVE / 2);

		/* Write through every dangling pointer. */
		for (int i = 0; i < NDANGLE; i++)
			scribble(dangling[i], dangling_off[i], dangling_size[i],
				 0xd0 + round);
		for (int i = 0; i < 64; i++)
			scribble(h->ptr[i], 0, h->size[i], 0xe0 + round);
		scribble((unsigned char *)on_stack, 0, 3000, 0xf0);
		check_live("after writes through dangling pointers");

		tu_gc_cycles(2, 15);
		replace_some_live(&rng, NLIVE / 4);
		check_live("after more cycles");
		free(h);
	}
	for (int i = 0; i < NLIVE; i++)
		free(live[i].p);
	printf("uaf scribble: %d rounds, %d dangling pointers each written "
	       "through, no live object changed\n", ROUNDS, NDANGLE + 65);
	return 0;
}

#define BATCH (8u << 20)
#define MAXOBJ 40000

static struct obj batch[MAXOBJ];

static int reclaim_test(long bound_mb)
{
	uint64_t rng = 7;
	long rounds = (1L << 30) / BATCH;
	for (long round = 0; round < rounds; round++) {
		/* The previous round's dangling pointers: write, then drop. */
		for (int i = 0; i < MAXOBJ && batch[i].p; i++)
			scribble(batch[i].p, 0, batch[i].size, 0x5a);
		memset(batch, 0, sizeof batch);
		size_t have = 0;
		for (int i = 0; i < MAXOBJ && have < BATCH; i++) {
			struct obj *o = &batch[i];
			o->size = pick_size(&rng);
			o->p = malloc(o->size);
			CHECK(o->p != NULL, "malloc");
			memset(o->p, 0x33, o->size);
			have += o->size;
			free(o->p); /* o->p now dangles */
		}
	}
	memset(batch, 0, sizeof batch);
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage");
	long peak_mb = ru.ru_maxrss / 1024;
	printf("uaf reclaim: 1 GiB freed in %ld rounds with dangling pointers "
	       "kept for a round; peak RSS %ld MB (bound %ld MB)\n",
	       rounds, peak_mb, bound_mb);
	CHECK(peak_mb < bound_mb,
	      "peak RSS %ld MB >= %ld MB: deferred frees were not released "
	      "once nothing pointed to them", peak_mb, bound_mb);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "scribble") == 0)
		return scribble_test();
	if (argc == 3 && strcmp(argv[1], "reclaim") == 0)
		return reclaim_test(atol(argv[2]));
	fprintf(stderr, "usage: uaf scribble | uaf reclaim BOUND_MB\n");
	return 2;
}
