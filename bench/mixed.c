/* mixed: single-threaded mixed-size malloc/free with a sliding window of
 * live objects.
 *
 * Sizes: ~90% small (16-256 B, skewed to the low end), ~9.95% medium
 * (256 B - 64 KiB, log-uniform), ~0.05% large (256 KiB - 1 MiB).
 * Lifetimes: half of the operations replace the oldest object of a short
 * FIFO (short-lived temporaries), half replace a random object of a large
 * window (long-lived data).  Some allocations use calloc (checked to be
 * zero) or aligned_alloc (checked to be aligned).  Every object is written
 * when allocated and read back before it is freed. */
#include "bench_common.h"

#include <stdint.h>
#include <string.h>

#define SHORT_WIN 1024u
#define LONG_WIN  32768u
#define OPS_PER_PCT 160000L /* 100% = 16M operations */

struct obj {
	unsigned char *p;
	size_t size;
};

static struct obj short_win[SHORT_WIN];
static struct obj long_win[LONG_WIN];
static uint64_t checksum;

static size_t pick_size(uint64_t r)
{
	unsigned b = (unsigned)(r % 10000);
	if (b < 9000) {
		/* 16..256, product of two uniforms: skewed towards small */
		uint64_t a = (r >> 16) % 241, c = (r >> 32) % 241;
		return 16 + (size_t)(a * c / 240);
	}
	if (b < 9995) {
		unsigned e = 8 + (unsigned)((r >> 16) % 8); /* 256 .. 64 KiB */
		return ((size_t)1 << e) + (size_t)((r >> 24) % ((uint64_t)1 << e));
	}
	return ((size_t)256 << 10) + (size_t)((r >> 16) % (768u << 10));
}

static void touch(unsigned char *p, size_t n, uint64_t tag)
{
	if (n <= 4096) {
		memset(p, (int)(tag & 0xff), n);
	} else {
		for (size_t i = 0; i < n; i += 4096)
			p[i] = (unsigned char)(tag + i / 4096);
	}
	p[n / 2] = (unsigned char)(tag >> 16);
	memcpy(p, &tag, n >= 8 ? 8 : n);
	p[n - 1] = (unsigned char)(tag >> 8);
}

static void release(struct obj *o)
{
	if (!o->p)
		return;
	uint64_t t = 0;
	memcpy(&t, o->p, o->size >= 8 ? 8 : o->size);
	checksum = bench_mix(checksum, t ^ ((uint64_t)o->p[o->size - 1] << 56)
	                               ^ o->p[o->size / 2] ^ o->size);
	free(o->p);
	o->p = NULL;
}

static void fill(struct obj *o, uint64_t r, uint64_t tag)
{
	size_t n = pick_size(r);
	unsigned kind = (unsigned)((r >> 56) & 63);
	unsigned char *p;
	if (kind < 6) { /* ~9%: calloc, must come back zeroed */
		p = calloc(1, n);
		if (!p)
			bench_xmalloc_fail("calloc", n);
		if (p[n / 2] != 0 || p[n - 1] != 0) {
			fprintf(stderr, "calloc(%zu) not zeroed\n", n);
			exit(1);
		}
	} else if (kind == 6) { /* ~1.5%: aligned */
		size_t al = (size_t)64 << ((r >> 40) % 4); /* 64..512 */
		p = aligned_alloc(al, (n + al - 1) / al * al);
		if (!p)
			bench_xmalloc_fail("aligned_alloc", n);
		if ((uintptr_t)p % al) {
			fprintf(stderr, "aligned_alloc(%zu) misaligned\n", al);
			exit(1);
		}
	} else {
		p = malloc(n);
		if (!p)
			bench_xmalloc_fail("malloc", n);
	}
	touch(p, n, tag);
	o->p = p;
	o->size = n;
}

int main(int argc, char **argv)
{
	long ops = bench_scale(argc, argv) * OPS_PER_PCT;
	uint64_t seed = 0x5eedULL;
	size_t head = 0;

	for (long i = 0; i < ops; i++) {
		uint64_t r = bench_rng(&seed);
		struct obj *o;
		if (r & 1) {
			o = &short_win[head];
			head = (head + 1) % SHORT_WIN;
		} else {
			o = &long_win[(r >> 1) % LONG_WIN];
		}
		release(o);
		fill(o, bench_rng(&seed), (uint64_t)i);
	}
	for (unsigned i = 0; i < SHORT_WIN; i++)
		release(&short_win[i]);
	for (unsigned i = 0; i < LONG_WIN; i++)
		release(&long_win[i]);

	printf("mixed ops=%ld checksum=%016llx\n", ops,
	       (unsigned long long)checksum);
	return 0;
}
