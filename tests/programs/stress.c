/* Multi-threaded allocator stress with self-checking data.
 *
 * - producers allocate pattern-filled objects and hand them through a
 *   bounded queue to consumers, which verify, sometimes realloc, and free
 *   them (memory freed by a thread other than the one that allocated it);
 * - every thread keeps a pool of live objects it replaces at random;
 * - "misc" threads run realloc chains (grow and shrink, contents checked
 *   after each step), aligned allocations of every power of two from 16 to
 *   1 MiB through posix_memalign, aligned_alloc and memalign, calloc zero
 *   checks on recycled memory, and malloc_usable_size >= requested.
 *
 * All work is a fixed amount (no time limits); any corruption exits 1.
 * Usage: stress [scale]   (scale multiplies the work, default 1) */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define NPROD 4
#define NCONS 4
#define NMISC 2
#define QCAP 512
#define POOL 256

static int scale = 1;

struct item {
	void *p;
	size_t size;
	uint64_t seed;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct item buf[QCAP];
	size_t head, count;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, { { 0 } }, 0, 0 };

static void q_put(struct item it)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == QCAP)
		pthread_cond_wait(&q.not_full, &q.lock);
	q.buf[(q.head + q.count) % QCAP] = it;
	q.count++;
	pthread_cond_signal(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
}

static struct item q_get(void)
{
	pthread_mutex_lock(&q.lock);
	while (q.count == 0)
		pthread_cond_wait(&q.not_empty, &q.lock);
	struct item it = q.buf[q.head];
	q.head = (q.head + 1) % QCAP;
	q.count--;
	pthread_cond_signal(&q.not_full);
	pthread_mutex_unlock(&q.lock);
	return it;
}

/* Mostly small, sometimes medium, rarely large. */
static size_t pick_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	unsigned k = r % 1000;
	if (k < 800)
		return 1 + (r >> 16) % 256;
	if (k < 980)
		return 257 + (r >> 16) % 16384;
	if (k < 998)
		return 16641 + (r >> 16) % (256 << 10);
	return (1 << 20) + (r >> 16) % (2 << 20);
}

/* Allocate size bytes, check usable size, fill the whole usable area. */
static struct item make(uint64_t *rng)
{
	struct item it;
	it.size = pick_size(rng);
	it.seed = tu_next(rng);
	it.p = malloc(it.size);
	CHECK(it.p != NULL, "malloc(%zu)", it.size);
	size_t us = malloc_usable_size(it.p);
	CHECK(us >= it.size, "usable %zu < %zu", us, it.size);
	/* The slack past the request is the program's to use too. */
	tu_fill(it.p, us, it.seed);
	it.size = us;
	return it;
}

static void verify(const struct item *it, const char *who)
{
	size_t bad = tu_check(it->p, it->size, it->seed);
	if (bad != it->size)
		FAIL("%s: object %p size %zu corrupted at byte %zu", who,
		     it->p, it->size, bad);
}

static void *producer(void *arg)
{
	uint64_t rng = 1000 + (uintptr_t)arg;
	struct item pool[POOL];
	for (int i = 0; i < POOL; i++)
		pool[i] = make(&rng);
	long n = 20000L * scale;
	for (long i = 0; i < n; i++) {
		q_put(make(&rng));
		/* Replace one of our own live objects. */
		unsigned j = tu_next(&rng) % POOL;
		verify(&pool[j], "producer pool");
		free(pool[j].p);
		pool[j] = make(&rng);
	}
	for (int i = 0; i < POOL; i++) {
		verify(&pool[i], "producer pool");
		free(pool[i].p);
	}
	return NULL;
}

static long consumed[NCONS];

static void *consumer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 2000 + id;
	for (;;) {
		struct item it = q_get();
		if (it.p == NULL)
			break;
		verify(&it, "consumer");
		unsigned k = tu_next(&rng) % 8;
		if (k == 0) {
			/* Grow in this thread; old contents must survive. */
			size_t nsz = it.size * 2 + 7;
			void *np = realloc(it.p, nsz);
			CHECK(np != NULL, "realloc grow %zu", nsz);
			CHECK(tu_check(np, it.size, it.seed) == it.size,
			      "contents lost on cross-thread realloc grow");
			free(np);
		} else if (k == 1 && it.size > 2) {
			size_t nsz = it.size / 2;
			void *np = realloc(it.p, nsz);
			CHECK(np != NULL, "realloc shrink %zu", nsz);
			CHECK(tu_check(np, nsz, it.seed) == nsz,
			      "contents lost on cross-thread realloc shrink");
			free(np);
		} else {
			free(it.p);
		}
		consumed[id]++;
	}
	return NULL;
}

static void realloc_chain(uint64_t *rng)
{
	uint64_t seed = tu_next(rng);
	size_t size = 1 + tu_next(rng) % 64;
	unsigned char *p = malloc(size);
	CHECK(p != NULL, "malloc");
	tu_fill(p, size, seed);
	for (int step = 0; step < 120; step++) {
		uint64_t r = tu_next(rng);
		size_t nsz;
		switch (r % 4) {
		case 0: nsz = size + 1 + (r >> 8) % 64; break;      /* small grow */
		case 1: nsz = size * 2 + (r >> 8) % 4096; break;    /* big grow */
		case 2: nsz = size / 2 + 1; break;                  /* shrink */
		default: nsz = 1 + (r >> 8) % (size + 1); break;    /* any smaller */
		}
		if (nsz > (8u << 20))
			nsz = 1 + (r >> 8) % 100;
		unsigned char *np = realloc(p, nsz);
		CHECK(np != NULL, "realloc(%zu)", nsz);
		size_t keep = size < nsz ? size : nsz;
		size_t bad = tu_check(np, keep, seed);
		if (bad != keep)
			FAIL("realloc %zu -> %zu lost contents at %zu", size, nsz,
			     bad);
		CHECK(malloc_usable_size(np) >= nsz, "usable after realloc");
		for (size_t i = keep; i < nsz; i++)
			np[i] = tu_byte(seed, i);
		p = np;
		size = nsz;
	}
	free(p);
}

static void aligned_round(uint64_t *rng)
{
	for (size_t align = 16; align <= (1u << 20); align <<= 1) {
		size_t sizes[] = { 1, align / 2, align, align + 1,
				   3 * align - 5, 24 };
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			size_t size = sizes[s];
			uint64_t seed = tu_next(rng);
			void *p[3] = { NULL, NULL, NULL };
			int rc = posix_memalign(&p[0], align, size);
			CHECK(rc == 0 && p[0], "posix_memalign(%zu,%zu) = %d",
			      align, size, rc);
			/* aligned_alloc: C11 wants size % align == 0, glibc does
			 * not; use the portable form. */
			size_t asz = (size + align - 1) / align * align;
			p[1] = aligned_alloc(align, asz);
			CHECK(p[1], "aligned_alloc(%zu,%zu)", align, asz);
			p[2] = memalign(align, size);
			CHECK(p[2], "memalign(%zu,%zu)", align, size);
			size_t want[3] = { size, asz, size };
			for (int k = 0; k < 3; k++) {
				CHECK((uintptr_t)p[k] % align == 0,
				      "%p not aligned to %zu (k=%d)", p[k],
				      align, k);
				CHECK(malloc_usable_size(p[k]) >= want[k],
				      "usable size of aligned object");
				tu_fill(p[k], want[k], seed + k);
			}
			for (int k = 0; k < 3; k++) {
				CHECK(tu_check(p[k], want[k], seed + k) ==
					      want[k],
				      "aligned object corrupted");
				free(p[k]);
			}
		}
	}
}

static void calloc_round(uint64_t *rng)
{
	for (int i = 0; i < 200; i++) {
		size_t n = 1 + tu_next(rng) % 300;
		size_t sz = 1 + tu_next(rng) % (i % 10 == 0 ? 8192 : 64);
		/* Dirty memory of that size first so calloc may recycle it. */
		void *d = malloc(n * sz);
		CHECK(d != NULL, "malloc");
		memset(d, 0xa5, n * sz);
		free(d);
		unsigned char *p = calloc(n, sz);
		CHECK(p != NULL, "calloc(%zu,%zu)", n, sz);
		CHECK(tu_all_zero(p, n * sz), "calloc(%zu,%zu) not zeroed", n,
		      sz);
		CHECK(malloc_usable_size(p) >= n * sz, "calloc usable size");
		free(p);
	}
	/* A large one, past any mmap threshold. */
	unsigned char *big = calloc(3, 1 << 20);
	CHECK(big != NULL && tu_all_zero(big, 3 << 20), "large calloc");
	free(big);
}

static void *misc(void *arg)
{
	uint64_t rng = 3000 + (uintptr_t)arg;
	for (int round = 0; round < 6 * scale; round++) {
		for (int i = 0; i < 40; i++)
			realloc_chain(&rng);
		aligned_round(&rng);
		calloc_round(&rng);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		scale = atoi(argv[1]);
	if (scale < 1)
		scale = 1;
	pthread_t prod[NPROD], cons[NCONS], mis[NMISC];
	for (uintptr_t i = 0; i < NCONS; i++)
		CHECK(pthread_create(&cons[i], NULL, consumer, (void *)i) == 0,
		      "pthread_create");
	for (uintptr_t i = 0; i < NPROD; i++)
		CHECK(pthread_create(&prod[i], NULL, producer, (void *)i) == 0,
		      "pthread_create");
	for (uintptr_t i = 0; i < NMISC; i++)
		CHECK(pthread_create(&mis[i], NULL, misc, (void *)i) == 0,
		      "pthread_create");
	for (int i = 0; i < NPROD; i++)
		pthread_join(prod[i], NULL);
	for (int i = 0; i < NCONS; i++)
		q_put((struct item){ NULL, 0, 0 });
	long total = 0;
	for (int i = 0; i < NCONS; i++) {
		pthread_join(cons[i], NULL);
		total += consumed[i];
	}
	for (int i = 0; i < NMISC; i++)
		pthread_join(mis[i], NULL);
	CHECK(total == 20000L * scale * NPROD, "consumed %ld", total);
	printf("stress: %ld objects passed between threads, all checks ok\n",
	       total);
	return 0;
}
