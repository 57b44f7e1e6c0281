/* A program's anonymous mapping that the kernel merges with the
 * collector's own bookkeeping into one /proc/self/maps line (issue 8,
 * case 1).
 *
 * Another allocator's arena (jemalloc, tcmalloc, V8, a JVM) is a private
 * read-write anonymous MAP_NORESERVE mapping.  pacegc's bookkeeping (its
 * object index, tables and marker stacks from meta_map, and the mappings
 * its jemalloc makes for itself) has the same flags; on kernels without
 * CONFIG_ANON_VMA_NAME (PR_SET_VMA fails with EINVAL, as on this project's
 * 6.18 machine) it is unnamed too, so the kernel merges the program's
 * mapping and pacegc's into one VMA, one line of /proc/self/maps.  Roots
 * must be the exact set difference "mapped memory minus pacegc's ranges",
 * whatever the kernel merges.
 *
 *   merged meta-first
 *       The program's arena (64 KiB, pointers to 2000 objects, the only
 *       ones) comes right after a mapping of pacegc's in one line.  The
 *       arrangement is made deterministic: the arena is mapped with a
 *       64 MiB hole below it, every free gap above it (up to the top of
 *       the mmap area) is filled with a PROT_NONE placeholder, and then
 *       a cycle runs.  Whatever the collector maps next (mmap takes the
 *       highest free gap that fits) lands at the top of the hole, directly
 *       below the arena, and merges with it.  Measured on this project's
 *       machine: jemalloc's own next base block (6 MiB, mapped while the
 *       2000 objects are allocated) and then the tables pacegc maps at
 *       its first cycle ("pacegc threads", "-roots", "-chunks"), 6264 KiB
 *       in all, end up in the arena's line.  The placeholders are then
 *       unmapped, cycles run (three, 150 ms apart: past the default
 *       reclaim delay) and every object is checked.  Fails today: roots.c
 *       decides a whole line by its first address (meta_contains(lo)), so
 *       the program's part is not scanned and all 2000 objects are
 *       reclaimed (zeroed).
 *   merged program-first
 *       The reverse: an arena (1 MiB, pointers to 200 objects) is mapped
 *       with MAP_FIXED_NOREPLACE directly below every unnamed anonymous
 *       rw-p line that has room below it, so it merges with that line and
 *       comes first (after a first cycle that sets the collector up).
 *       Under pacegc one of these lines is the object index with its
 *       neighbours (jemalloc's base blocks below it, the heap's first
 *       extents above: about 25 GiB, almost all untouched), and the whole
 *       merged line is then scanned as roots.  The objects survive
 *       either way; what fails is the cost, seen in gctrace's "R MB
 *       globals" and the pause: run it through tests/rootcost.sh.  On
 *       this project's VM, where a read of an untouched page allocates
 *       it (about 13 s per GiB), today's first cycle would fault in the
 *       whole 25 GiB and exhaust the machine's memory: a watchdog
 *       (roottest.h) kills the program once its RSS passes 128 MB, which
 *       the program's own data (under 10 MB) never comes near.
 *
 * Output (stdout) is the same plain and preloaded.  A lost object exits 1
 * with "FAIL ...: N of M objects whose only pointers were in ... were
 * reclaimed while reachable".  With ROOTTEST_VERBOSE=1 the program says on
 * stderr whether the merge it arranged happened (only for debugging: the
 * note differs between plain and preloaded runs).
 *
 * Usage: merged meta-first|program-first */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "roottest.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MB ((uintptr_t)1 << 20)
#define ARENA_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

static uintptr_t align_up_to(uintptr_t a, uintptr_t align)
{
	return (a + align - 1) & ~(align - 1);
}

/* ---- meta-first ---- */

#define A_SIZE ((size_t)64 << 10)
#define A_OBJECTS 2000
#define A_STRIDE 4 /* words between pointers: the table spans 62.5 KiB */
#define HOLE (64 * MB)

#define MAX_PLACEHOLDERS 4096
static struct {
	uintptr_t lo, hi;
} placeholders[MAX_PLACEHOLDERS];
static size_t nplaceholders;

/* Fills every free gap between `from` and the top of the mmap area (the
 * highest mapping below [stack]) with a PROT_NONE mapping without
 * MAP_NORESERVE, which merges with nothing of pacegc's. */
static void fill_gaps_above(uintptr_t from)
{
	size_t n = rt_maps_read();
	uintptr_t stack_lo = UINTPTR_MAX;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rt_maps[i].path, "[stack]") == 0)
			stack_lo = rt_maps[i].lo;
	for (size_t i = 0; i + 1 < n; i++) {
		uintptr_t lo = rt_maps[i].hi, hi = rt_maps[i + 1].lo;
		if (lo < from || hi <= lo || rt_maps[i + 1].lo >= stack_lo)
			continue;
		CHECK(nplaceholders < MAX_PLACEHOLDERS, "too many gaps");
		void *p = mmap((void *)lo, hi - lo, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		CHECK(p == (void *)lo, "placeholder mmap at %#lx: %s",
		      (unsigned long)lo, p == MAP_FAILED ? strerror(errno) : "moved");
		placeholders[nplaceholders].lo = lo;
		placeholders[nplaceholders++].hi = hi;
	}
}

static void unmap_placeholders(void)
{
	for (size_t i = 0; i < nplaceholders; i++)
		CHECK(munmap((void *)placeholders[i].lo,
			     placeholders[i].hi - placeholders[i].lo) == 0,
		      "munmap placeholder: %s", strerror(errno));
	nplaceholders = 0;
}

static int meta_first(void)
{
	/* The arena, 2 MiB aligned (large mappings may be placed 2 MiB
	 * aligned), with HOLE free below it. */
	size_t span = HOLE + 2 * MB + A_SIZE;
	char *r = mmap(NULL, span, PROT_NONE, ARENA_FLAGS, -1, 0);
	CHECK(r != MAP_FAILED, "mmap reservation: %s", strerror(errno));
	uintptr_t a = align_up_to((uintptr_t)r + HOLE, 2 * MB);
	void **arena = mmap((void *)a, A_SIZE, PROT_READ | PROT_WRITE,
			    ARENA_FLAGS | MAP_FIXED, -1, 0);
	CHECK(arena == (void **)a, "mmap arena: %s", strerror(errno));
	CHECK(munmap(r, a - (uintptr_t)r) == 0, "munmap below");
	if ((uintptr_t)r + span > a + A_SIZE)
		CHECK(munmap((void *)(a + A_SIZE), (uintptr_t)r + span - (a + A_SIZE)) == 0,
		      "munmap above");

	rt_fill_table(arena, A_STRIDE, A_OBJECTS, 1);

	/* The next mapping anyone makes lands directly below the arena. */
	fill_gaps_above(a + A_SIZE);
	tu_gc();
	unmap_placeholders();

	size_t n = rt_maps_read();
	const struct rt_map *line = rt_maps_find(n, a);
	CHECK(line != NULL, "the arena is not in /proc/self/maps");
	if (line->lo < a)
		RT_NOTE("meta-first: the arena %#lx-%#lx is merged into the line "
			"%#lx-%#lx %s (%lu KiB before it)", (unsigned long)a,
			(unsigned long)(a + A_SIZE), (unsigned long)line->lo,
			(unsigned long)line->hi, line->perms,
			(unsigned long)((a - line->lo) >> 10));
	else
		RT_NOTE("meta-first: the arena %#lx-%#lx starts its own line "
			"%#lx-%#lx: nothing was mapped below it", (unsigned long)a,
			(unsigned long)(a + A_SIZE), (unsigned long)line->lo,
			(unsigned long)line->hi);

	tu_gc_cycles(3, 150);
	rt_verify(arena, A_STRIDE, A_OBJECTS, 1,
		  "an anonymous NORESERVE mapping merged after pacegc's");
	printf("merged meta-first: %d objects intact\n", A_OBJECTS);
	return 0;
}

/* ---- program-first ---- */

#define B_SIZE MB
#define B_OBJECTS 200
#define B_STRIDE 512 /* one pointer per page */
#define MAX_ARENAS 64

static int program_first(void)
{
	static uintptr_t cand[MAX_ARENAS];
	size_t ncand = 0;
	tu_gc(); /* the collector's set-up cycle (tests/rootcost.sh skips its pause) */
	size_t n = rt_maps_read();
	for (size_t i = 1; i < n && ncand < MAX_ARENAS; i++) {
		const struct rt_map *m = &rt_maps[i];
		/* Room for the arena and a page, so that it does not also
		 * merge with the line below. */
		if (!rt_is_plain_anon_rw(m) || m->lo - rt_maps[i - 1].hi < B_SIZE + 4096)
			continue;
		cand[ncand++] = m->lo - B_SIZE;
	}

	static void **arenas[MAX_ARENAS];
	size_t narenas = 0, merged = 0;
	for (size_t i = 0; i < ncand; i++) {
		void **p = mmap((void *)cand[i], B_SIZE, PROT_READ | PROT_WRITE,
				ARENA_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		CHECK(p == (void **)cand[i], "MAP_FIXED_NOREPLACE moved");
		arenas[narenas++] = p;
	}
	/* Plain, there may be none: the output does not say. */
	for (size_t i = 0; i < narenas; i++)
		rt_fill_table(arenas[i], B_STRIDE, B_OBJECTS, 100 + i);

	n = rt_maps_read();
	for (size_t i = 0; i < narenas; i++) {
		const struct rt_map *line = rt_maps_find(n, (uintptr_t)arenas[i]);
		if (line && line->hi > (uintptr_t)arenas[i] + B_SIZE) {
			merged++;
			RT_NOTE("program-first: arena %p merged with %lu MiB after it "
				"(line %#lx-%#lx)", (void *)arenas[i],
				(unsigned long)((line->hi - (uintptr_t)arenas[i] - B_SIZE) >> 20),
				(unsigned long)line->lo, (unsigned long)line->hi);
		}
	}
	RT_NOTE("program-first: %zu arenas, %zu merged", narenas, merged);

	tu_gc_cycles(2, 150);
	for (size_t i = 0; i < narenas; i++)
		rt_verify(arenas[i], B_STRIDE, B_OBJECTS, 100 + i,
			  "an anonymous NORESERVE mapping merged before another");
	printf("merged program-first: objects intact\n");
	return 0;
}

int main(int argc, char **argv)
{
	int (*run)(void) = NULL;
	if (argc == 2 && strcmp(argv[1], "meta-first") == 0)
		run = meta_first;
	else if (argc == 2 && strcmp(argv[1], "program-first") == 0)
		run = program_first;
	if (run == NULL) {
		fprintf(stderr, "usage: merged meta-first|program-first\n");
		return 2;
	}
	tu_gc_init();
	/* program-first makes today's collector read tens of GiB nobody
	 * touched: on a kernel that allocates a page for every read that
	 * would exhaust the machine's memory (see roottest.h). */
	rt_watchdog_start(128, 60);
	int status = run();
	rt_watchdog_stop();
	return status;
}
