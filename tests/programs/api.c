/* include/pacegc.h, as a program that looks the calls up with dlsym uses
 * them (run only preloaded, by tests/preloaded.sh):
 *   - the defaults read back: GOGC 100, no memory limit;
 *   - pacegc_set_gogc returns the old value; with GOGC off and no limit,
 *     dropping 128 MiB starts no cycle;
 *   - pacegc_set_memory_limit returns the old limit, a negative value only
 *     reads it; with GOGC off and a 32 MiB limit the same garbage starts
 *     cycles, the goal stays under the limit and so does the memory held;
 *   - pacegc_collect is counted as forced; pacegc_free_os_memory runs a
 *     cycle and leaves nothing to release.
 * Each check prints a line; any failure exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pacegc.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)

static void (*read_stats)(pacegc_stats_t *);
static void (*collect)(void);
static int (*set_gogc)(int);
static int64_t (*set_memory_limit)(int64_t);
static void (*free_os_memory)(void);

static pacegc_stats_t stats(void)
{
	pacegc_stats_t s;
	read_stats(&s);
	return s;
}

/* Allocates `bytes` in 4 KiB blocks, writes them, drops them all. */
static void drop_garbage(size_t bytes)
{
	for (size_t done = 0; done < bytes; done += 4096) {
		char *p = malloc(4096);
		CHECK(p != NULL, "malloc");
		memset(p, 0x5a, 4096);
		tu_launder(p);
	}
}

#define EXPECT(cond, ...)                    \
	do {                                 \
		CHECK(cond, __VA_ARGS__);    \
		printf(__VA_ARGS__);         \
		printf("\n");                \
	} while (0)

int main(void)
{
	read_stats = (void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT, "pacegc_read_stats");
	collect = (void (*)(void))dlsym(RTLD_DEFAULT, "pacegc_collect");
	set_gogc = (int (*)(int))dlsym(RTLD_DEFAULT, "pacegc_set_gogc");
	set_memory_limit = (int64_t (*)(int64_t))dlsym(RTLD_DEFAULT, "pacegc_set_memory_limit");
	free_os_memory = (void (*)(void))dlsym(RTLD_DEFAULT, "pacegc_free_os_memory");
	CHECK(read_stats && collect && set_gogc && set_memory_limit && free_os_memory,
	      "the API is exported (run preloaded)");

	pacegc_stats_t s = stats();
	EXPECT(s.gogc == 100 && s.memory_limit == INT64_MAX, "defaults: GOGC 100, no limit");

	EXPECT(set_gogc(50) == 100 && stats().gogc == 50, "set_gogc(50) returns 100");
	EXPECT(set_gogc(-5) == 50 && stats().gogc == -1, "set_gogc(-5) turns GOGC off, returns 50");
	uint32_t before = stats().num_gc;
	drop_garbage(128 * MiB);
	EXPECT(stats().num_gc == before, "GOGC off, no limit: 128 MiB dropped, no cycle");

	EXPECT(set_memory_limit(32 * MiB) == INT64_MAX, "set_memory_limit(32 MiB) returns none");
	EXPECT(set_memory_limit(-1) == (int64_t)(32 * MiB) && stats().memory_limit == (int64_t)(32 * MiB),
	       "set_memory_limit(-1) only reads it");
	before = stats().num_gc;
	size_t held_max = 0;
	for (int i = 0; i < 16; i++) {
		drop_garbage(16 * MiB);
		s = stats();
		if (s.memory_held > held_max)
			held_max = s.memory_held;
	}
	s = stats();
	EXPECT(s.num_gc > before, "GOGC off, 32 MiB limit: 256 MiB dropped, cycles ran");
	EXPECT(s.heap_goal <= 32 * MiB, "the goal is under the limit");
	EXPECT(held_max <= 48 * MiB, "memory held stays near the limit (<= 48 MiB)");
	EXPECT(set_memory_limit(INT64_MAX) == (int64_t)(32 * MiB), "set_memory_limit(none) returns 32 MiB");
	EXPECT(set_gogc(100) == -1, "set_gogc(100) returns -1 (off)");

	s = stats();
	collect();
	pacegc_stats_t t = stats();
	EXPECT(t.num_gc == s.num_gc + 1 && t.num_forced_gc == s.num_forced_gc + 1,
	       "pacegc_collect: one forced cycle");
	free_os_memory();
	pacegc_stats_t u = stats();
	EXPECT(u.num_gc == t.num_gc + 1 && u.heap_released >= t.heap_released,
	       "pacegc_free_os_memory: a cycle, then free pages released");
	EXPECT(u.gc_cpu_ns > 0 && u.pause_total_ns > 0, "collector CPU and pauses are counted");
	return 0;
}
