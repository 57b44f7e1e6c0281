/* Cycles of every kind for tests/gctrace_format.sh to read the trace of.
 *
 * Keeps about LIVE_MB live in pattern-filled nodes of 64 B to 64 KiB (so
 * marking takes from well under a millisecond, while the live set is being
 * built, to over ten milliseconds on a large heap), allocates ROUNDS times
 * 4 * LIVE_MB of garbage (half freed, half dropped), and every fourth round
 * asks for a cycle with pacegc_collect() (a "(forced)" line) and once, at
 * the end, pacegc_free_os_memory() (a cycle and a forced scavenge), both
 * found with dlsym: in a plain run neither exists and the program does the
 * same work without them.  Prints a checksum of the live set per round on
 * stdout, nothing on stderr; exits 1 on any corruption.
 *
 * Usage: gctrace [LIVE_MB [ROUNDS]]   (defaults 48, 12) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static size_t node_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	return r % 64 ? 64 + (r >> 8) % 1024 : 4096 + (r >> 8) % 61440;
}

int main(int argc, char **argv)
{
	long live_mb = argc > 1 ? atol(argv[1]) : 48;
	long rounds = argc > 2 ? atol(argv[2]) : 12;
	CHECK(live_mb > 0 && rounds > 0, "usage: gctrace [LIVE_MB [ROUNDS]]");
	tu_gc_init();
	void (*free_os)(void) =
		(void (*)(void))dlsym(RTLD_DEFAULT, "pacegc_free_os_memory");

	uint64_t rng = 4242;
	struct node *live = NULL;
	size_t have = 0;
	while (have < (size_t)live_mb << 20) {
		struct node *n = tu_new_node(&rng, node_size(&rng));
		n->next = live;
		live = n;
		have += sizeof *n + n->size;
	}
	for (long round = 0; round < rounds; round++) {
		size_t garbage = 0;
		void *keep = NULL;
		while (garbage < (size_t)(4 * live_mb) << 20) {
			size_t size = 16 + tu_next(&rng) % 8192;
			void **p = malloc(size);
			CHECK(p != NULL, "malloc(%zu)", size);
			memset(p, 0x5a, size);
			garbage += size;
			if (tu_next(&rng) % 2) {
				free(p);
			} else { /* dropped: a chain the collector must reclaim */
				p[0] = keep;
				keep = tu_launder(p);
				if (tu_next(&rng) % 64 == 0)
					keep = NULL;
			}
		}
		keep = tu_launder(NULL);
		/* Replace one node in 16; the old one is dropped. */
		for (struct node **link = &live; *link; link = &(*link)->next)
			if (tu_next(&rng) % 16 == 0) {
				struct node *n = tu_new_node(&rng, node_size(&rng));
				n->next = (*link)->next;
				*link = n;
			}
		uint64_t h = 0xcbf29ce484222325ULL;
		size_t nodes = 0;
		for (struct node *n = live; n; n = n->next) {
			size_t bad = tu_check(n->data, n->size, n->seed);
			if (bad != n->size)
				FAIL("live node %p (size %zu) corrupted at byte %zu",
				     (void *)n, n->size, bad);
			h = (h ^ n->seed) * 0x100000001b3ULL;
			nodes++;
		}
		printf("round %2ld: %zu live nodes, checksum %016llx\n", round,
		       nodes, (unsigned long long)h);
		if (round % 4 == 3)
			tu_gc();
	}
	if (free_os)
		free_os();
	return 0;
}
