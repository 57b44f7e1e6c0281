/* Shared helpers for the benchmark workloads: a deterministic PRNG and
 * argument parsing.  Every workload takes one optional argument, a scale in
 * percent (100 = full size, 10 = `run.sh --quick`), and prints a checksum
 * that must not depend on the allocator. */
#ifndef PACEGC_BENCH_COMMON_H
#define PACEGC_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint64_t bench_rng(uint64_t *s)
{
	/* splitmix64: fast, full period, good enough for size choices. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t bench_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

/* Scale in percent from argv[1]; exits on nonsense. */
static inline long bench_scale(int argc, char **argv)
{
	long s = 100;
	if (argc > 1) {
		char *end;
		s = strtol(argv[1], &end, 10);
		if (*end != '\0' || s <= 0 || s > 100000) {
			fprintf(stderr, "usage: %s [scale-percent]\n", argv[0]);
			exit(2);
		}
	}
	return s;
}

static inline void *bench_xmalloc_fail(const char *what, size_t n)
{
	fprintf(stderr, "%s(%zu) failed\n", what, n);
	exit(1);
}

#endif
