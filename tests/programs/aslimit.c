/* How much a program can malloc under an address-space limit (RLIMIT_AS,
 * `ulimit -v`), and whether it can still make a thread and map memory of
 * its own once its heap is large.  Run by tests/aslimit.sh plain and under
 * pacegc with the same limit; the script compares what the two got.
 *
 *   aslimit
 *
 * Refuses to run without an RLIMIT_AS (it would take all memory).  Then:
 *   1. Allocates until malloc returns NULL: a 1 MiB block, then 32 small
 *      blocks of 32..1024 bytes (fixed PRNG), again and again.  Every page
 *      of every block is written, and the blocks are chained through their
 *      first word, so each stays reachable and a collector keeps it.
 *   2. Frees the most recent blocks, a quarter of what it got, as a
 *      program that hit the limit and backed off would.
 *   3. Creates a thread with default attributes (its stack comes from
 *      mmap, 8 MiB with the usual RLIMIT_STACK), which mallocs 100 bytes
 *      and 1 MiB, writes and frees them (a new thread may be served from
 *      other arenas than the main thread's); maps 8 MiB anonymous memory
 *      with mmap and writes it; mallocs 1 MiB once more.
 *
 * stdout, two lines (the numbers depend on the limit and the allocator):
 *   aslimit: limit L MiB: got G MiB in N blocks before malloc failed
 *   aslimit: freed F MiB; thread ok, mmap 8 MiB ok, malloc 1 MiB ok
 * where a failed step reads "thread FAILED (why)", "mmap 8 MiB FAILED
 * (strerror)", "malloc 1 MiB FAILED".  Exits 0
 * when every step of 3 worked, 1 when one failed (or on corruption: each
 * block is checked before it is freed), 2 without a limit. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "testutil.h"

#define BIG ((size_t)1 << 20)
#define SMALL_PER_BIG 32
#define PAGE 4096
#define MAP_SIZE ((size_t)8 << 20)

/* Every block starts with this header; the rest is touched memory. */
struct block {
	struct block *prev; /* the block allocated before: one chain */
	size_t size;        /* bytes asked for, header included */
	uint64_t seed;
};

static struct block *head; /* the most recent block */

/* Writes every page of b (and its last byte) with bytes the check below
 * recomputes; small blocks are filled whole. */
static void touch(struct block *b)
{
	unsigned char *p = (unsigned char *)b;
	size_t n = b->size;
	for (size_t i = sizeof *b; i < n; i += n > PAGE ? PAGE : 1)
		p[i] = tu_byte(b->seed, i);
	p[n - 1] = tu_byte(b->seed, n - 1);
}

static int touched_ok(const struct block *b)
{
	const unsigned char *p = (const unsigned char *)b;
	size_t n = b->size;
	for (size_t i = sizeof *b; i < n; i += n > PAGE ? PAGE : 1)
		if (p[i] != tu_byte(b->seed, i))
			return 0;
	return p[n - 1] == tu_byte(b->seed, n - 1);
}

/* One block on the chain, or 0 when malloc fails. */
static int grab(size_t size, uint64_t *rng)
{
	struct block *b = malloc(size);
	if (!b)
		return 0;
	b->prev = head;
	b->size = size;
	b->seed = tu_next(rng);
	touch(b);
	head = b;
	return 1;
}

/* Returns NULL when both mallocs worked, else which one failed. */
static void *thread_main(void *arg)
{
	(void)arg;
	unsigned char *s = malloc(100);
	if (!s)
		return "its malloc(100) returned NULL";
	memset(s, 1, 100);
	unsigned char *l = malloc(BIG);
	if (!l) {
		free(s);
		return "its malloc of 1 MiB returned NULL";
	}
	for (size_t i = 0; i < BIG; i += PAGE)
		l[i] = 2;
	free(s);
	free(l);
	return NULL;
}

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
		fprintf(stderr, "aslimit: run under an address-space limit "
				"(ulimit -v); without one it takes all memory\n");
		return 2;
	}

	/* stdio's buffer must not need malloc once malloc fails. */
	static char outbuf[4096];
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

	/* 1. Until malloc fails. */
	uint64_t rng = 1;
	size_t got = 0, blocks = 0;
	for (;;) {
		size_t size = BIG;
		if (blocks % (SMALL_PER_BIG + 1) != 0)
			size = 32 + tu_next(&rng) % (1024 - 32 + 1);
		if (!grab(size, &rng))
			break;
		got += size;
		blocks++;
	}
	printf("aslimit: limit %llu MiB: got %zu MiB in %zu blocks before "
	       "malloc failed\n", (unsigned long long)(rl.rlim_cur >> 20),
	       got >> 20, blocks);
	fflush(stdout);

	/* 2. Back off: free the most recent quarter. */
	size_t freed = 0;
	while (head && freed < got / 4) {
		struct block *b = head;
		CHECK(touched_ok(b), "block of %zu bytes corrupted", b->size);
		head = b->prev;
		freed += b->size;
		free(b);
	}

	/* 3. The program's own address space. */
	int failed = 0;
	char thread_msg[96], map_msg[96], malloc_msg[96];
	pthread_t t;
	void *ret = NULL;
	int e = pthread_create(&t, NULL, thread_main, NULL);
	if (e == 0) {
		pthread_join(t, &ret);
		if (ret)
			snprintf(thread_msg, sizeof thread_msg,
				 "thread FAILED (%s)", (const char *)ret);
		else
			snprintf(thread_msg, sizeof thread_msg, "thread ok");
		failed |= ret != NULL;
	} else {
		snprintf(thread_msg, sizeof thread_msg, "thread FAILED (%s)",
			 strerror(e));
		failed = 1;
	}
	unsigned char *m = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		for (size_t i = 0; i < MAP_SIZE; i += PAGE)
			m[i] = 3;
		munmap(m, MAP_SIZE);
		snprintf(map_msg, sizeof map_msg, "mmap 8 MiB ok");
	} else {
		snprintf(map_msg, sizeof map_msg, "mmap 8 MiB FAILED (%s)",
			 strerror(errno));
		failed = 1;
	}
	unsigned char *again = malloc(BIG);
	if (again) {
		for (size_t i = 0; i < BIG; i += PAGE)
			again[i] = 4;
		snprintf(malloc_msg, sizeof malloc_msg, "malloc 1 MiB ok");
	} else {
		snprintf(malloc_msg, sizeof malloc_msg, "malloc 1 MiB FAILED");
		failed = 1;
	}
	free(again);
	printf("aslimit: freed %zu MiB; %s, %s, %s\n", freed >> 20, thread_msg,
	       map_msg, malloc_msg);

	/* Everything left is intact. */
	while (head) {
		struct block *b = head;
		CHECK(touched_ok(b), "block of %zu bytes corrupted", b->size);
		head = b->prev;
		free(b);
	}
	return failed;
}
