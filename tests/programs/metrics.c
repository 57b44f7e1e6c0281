/* The metrics file's subject (tests/metrics.sh): leaks 1 MiB in 1 KiB
 * pieces before each of three forced cycles, frees one allocation twice,
 * then prints what pacegc_read_stats says, one "name value" per line.
 * Under pacegc only (the double free would end a plain run).
 * Usage: metrics */
#include <stdint.h>
#include <stdio.h>

#include "testutil.h"
#include "pacegc.h"

int main(void)
{
	tu_gc_init();
	void (*read_stats)(pacegc_stats_t *) =
		(void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT, "pacegc_read_stats");
	CHECK(read_stats != NULL && tu_collect_ptr != NULL, "not under pacegc");
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1024; i++)
			tu_launder(tu_make(1024, (uint64_t)i));
		tu_gc();
	}
	void *p = malloc(64);
	free(p);
	free(tu_launder(p));
	pacegc_stats_t s;
	read_stats(&s);
	printf("num_gc %u\nnum_forced_gc %u\ngogc %d\nmemory_limit %lld\nheap_goal %zu\n",
	       s.num_gc, s.num_forced_gc, s.gogc, (long long)s.memory_limit, s.heap_goal);
	return 0;
}
