/* realloc: buffers that grow by realloc, like string builders and vectors.
 *
 * A pool of live builders; each step appends a few bytes to one of them.
 * Builders grow in one of three styles: exact (realloc to the new length on
 * every append, as naive string concatenation does), doubling (vector
 * push_back), and 1.5x.  When a builder reaches its target length it is
 * shrunk (to fit, or truncated to a quarter and grown again once) and
 * then hashed and freed.  Targets: 16 B - 256 KiB log-uniform (exact-growth
 * strings up to 16 KiB), rare 2 MiB. */
#include "bench_common.h"

#include <stdint.h>
#include <string.h>

#define POOL 512u
#define APPENDS_PER_PCT 300000L /* 100% = 30M appends */

enum style { EXACT, DOUBLE, ONE_HALF };

struct builder {
	unsigned char *p;
	size_t len, cap, target;
	enum style style;
	int truncated;
	uint64_t id;
};

static struct builder pool[POOL];
static uint64_t seed = 0xb1dULL;
static uint64_t checksum, reallocs;

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		bench_xmalloc_fail("realloc", n);
	reallocs++;
	return q;
}

static void start(struct builder *b, uint64_t id)
{
	uint64_t r = bench_rng(&seed);
	b->p = NULL;
	b->len = b->cap = 0;
	b->style = (enum style)(r % 3);
	b->truncated = 0;
	b->id = id;
	if ((r >> 8) % 2000 == 0) {
		b->target = ((size_t)2 << 20) + (size_t)((r >> 20) % 4096);
	} else {
		/* 16 B .. 256 KiB; exact-growth strings only up to 16 KiB */
		unsigned e = 4 + (unsigned)((r >> 8) % (b->style == EXACT ? 10 : 14));
		b->target = ((size_t)1 << e) + (size_t)((r >> 24) % ((uint64_t)1 << e));
	}
	if (b->style != EXACT) { /* vectors start with a small reserve */
		b->cap = 16;
		b->p = xrealloc(NULL, b->cap);
	}
}

static void finish(struct builder *b)
{
	/* Shrink to fit, then hash a sample of the contents. */
	b->p = xrealloc(b->p, b->len);
	uint64_t h = bench_mix(b->id, b->len);
	for (size_t i = 0; i < b->len; i += 61)
		h = bench_mix(h, b->p[i]);
	h = bench_mix(h, b->p[b->len - 1]);
	checksum = bench_mix(checksum, h);
	free(b->p);
	b->p = NULL;
}

static void append(struct builder *b, size_t k)
{
	size_t need = b->len + k;
	if (need > b->cap) {
		size_t nc;
		switch (b->style) {
		case EXACT:
			nc = need;
			break;
		case DOUBLE:
			nc = b->cap * 2;
			break;
		default:
			nc = b->cap + b->cap / 2;
			break;
		}
		if (nc < need)
			nc = need;
		b->p = xrealloc(b->p, nc);
		b->cap = nc;
	}
	memset(b->p + b->len, (int)((b->id * 31 + b->len) & 0xff), k);
	b->len = need;
}

int main(int argc, char **argv)
{
	long steps = bench_scale(argc, argv) * APPENDS_PER_PCT;
	uint64_t next_id = 0;

	for (unsigned i = 0; i < POOL; i++)
		start(&pool[i], next_id++);
	for (long s = 0; s < steps; s++) {
		uint64_t r = bench_rng(&seed);
		struct builder *b = &pool[r % POOL];
		/* Small appends, occasionally a larger chunk; long buffers take
		 * bigger chunks so that they finish in reasonable time. */
		size_t k = 1 + (size_t)((r >> 16) % 24);
		if (((r >> 32) & 15) == 0)
			k += (size_t)((r >> 40) % 512);
		if (b->target > 4096)
			k += b->target / 512;
		append(b, k);
		if (b->len >= b->target) {
			if (!b->truncated && ((r >> 48) & 3) == 0) {
				/* Truncate to a quarter and grow again (reuse a buffer). */
				b->len /= 4;
				if (b->len == 0)
					b->len = 1;
				b->cap = b->len;
				b->p = xrealloc(b->p, b->cap);
				b->truncated = 1;
				continue;
			}
			finish(b);
			start(b, next_id++);
		}
	}
	for (unsigned i = 0; i < POOL; i++) {
		if (pool[i].len)
			finish(&pool[i]);
		else
			free(pool[i].p);
	}
	printf("realloc steps=%ld reallocs=%llu checksum=%016llx\n", steps,
	       (unsigned long long)reallocs, (unsigned long long)checksum);
	return 0;
}
