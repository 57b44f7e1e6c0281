/* jemalloc_api: a program linked with jemalloc (-ljemalloc) that uses its
 * whole non-standard API, mixed with the standard calls on the same
 * pointers (issue 8, item 14).
 *
 * Under pacegc every one of these calls must be served by the allocator
 * that serves malloc: a mallocx'd pointer goes to free(), a malloc'd one
 * to dallocx(), realloc() takes what rallocx() made and the reverse, and
 * mallctl's counters count what malloc allocated.  Objects are
 * pattern-filled and checked after every round, with a collection cycle
 * (tu_gc) between rounds; the only pointers to them are in the
 * program's own heap objects: a root block from mallocx (in an arena
 * made with "arenas.create") points to two tables, one from malloc and
 * one from mallocx, and the tables point to the objects.
 *
 *   jemalloc_api [SECTION...]      default: all sections, in this order
 *     calls     each call across the two APIs once, in a child process of
 *               its own, so that one that crashes does not hide the next:
 *               prints "ok", or how the child ended
 *     basic     mallocx family with its own deallocation calls only
 *     mixed     free() of mallocx'd memory, dallocx/sdallocx of malloc'd
 *               memory, realloc of mallocx'd, rallocx of malloc'd
 *     xallocx   grow in place and shrink, the real size as sallocx says
 *     mallctl   epoch + stats.allocated (by name and by MIB) follow what
 *               malloc and mallocx allocate and free; arenas.narenas,
 *               arenas.create, arenas.lookup, thread.tcache.flush,
 *               an unknown name fails with ENOENT
 *     stats     malloc_stats_print into a callback (text and JSON);
 *               its text is never printed (it differs by allocator)
 *
 * Prints only what does not depend on the allocator (what was checked,
 * how often); exits 1 at the first wrong answer or corrupted byte.
 * Run plain (every call goes to jemalloc) and preloaded (tests/compare.sh):
 * the outputs must be identical and pacegc must print nothing. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <jemalloc/jemalloc.h>

#include "testutil.h"

#define SLOTS 128
#define ROUNDS 24
#define MIB ((size_t)1 << 20)
/* Flags without MALLOCX_ARENA (bits 20 and up). */
#define NO_ARENA(f) ((f) & 0xfffff)

enum kind {
	K_MALLOC,          /* malloc */
	K_CALLOC,          /* calloc: zeroed */
	K_POSIX_MEMALIGN,  /* posix_memalign, 64..4096 */
	K_MALLOCX,         /* mallocx(n, 0) */
	K_MALLOCX_ZERO,    /* MALLOCX_ZERO */
	K_MALLOCX_ALIGN,   /* MALLOCX_ALIGN(32..65536) */
	K_MALLOCX_LG_ALIGN,/* MALLOCX_LG_ALIGN(5..12) */
	K_MALLOCX_TCNONE,  /* MALLOCX_TCACHE_NONE */
	K_MALLOCX_ARENA,   /* MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE */
	NKINDS
};

struct obj {
	unsigned char *p;
	size_t size;    /* bytes the program uses, pattern-filled */
	size_t align;   /* alignment asked for (0: none) */
	int flags;      /* jemalloc flags of the allocation (alignment, arena) */
	uint64_t seed;
	int kind;
};

struct table {
	size_t n;
	struct obj slot[];
};

/* The only global: the root block, from mallocx in our own arena. */
struct root {
	struct table *std;   /* from malloc: slots [0, SLOTS/2) */
	struct table *api;   /* from mallocx: slots [SLOTS/2, SLOTS) */
};
static struct root *g_root;
static unsigned g_arena;
static uint64_t g_rng = 0x5eed;
static bool g_mixed;        /* cross-API frees and reallocs allowed */
static unsigned long g_ops[16];
enum { OP_ALLOC, OP_FREE, OP_DALLOCX, OP_SDALLOCX, OP_REALLOC, OP_RALLOCX,
       OP_XGROW, OP_XSHRINK, OP_CHECKS, OP_CROSS, NOPS };

static struct obj *slot(size_t i)
{
	return i < SLOTS / 2 ? &g_root->std->slot[i] : &g_root->api->slot[i - SLOTS / 2];
}

static size_t pick_size(void)
{
	uint64_t r = tu_next(&g_rng), k = r % 64, v = r >> 8;
	if (k < 4) return 1 + v % 16;
	if (k < 40) return 1 + v % 512;
	if (k < 56) return 512 + v % (16 << 10);
	if (k < 62) return (16 << 10) + v % (256 << 10);
	if (k < 63) return (256 << 10) + v % MIB;
	return MIB + v % MIB;   /* scanned page by page by pacegc */
}

static void check_zero(const unsigned char *p, size_t n, const char *what)
{
	CHECK(tu_all_zero(p, n), "%s: %zu bytes not zeroed", what, n);
}

static void check_align(const struct obj *o, const char *what)
{
	if (o->align)
		CHECK((uintptr_t)o->p % o->align == 0, "%s: %p not aligned to %zu",
		      what, (void *)o->p, o->align);
}

/* jemalloc's size answers for a live object: sallocx and
 * malloc_usable_size agree and cover what the program uses. */
static size_t real_size(const struct obj *o, const char *what)
{
	size_t s = sallocx(o->p, 0);
	CHECK(s >= o->size, "%s: sallocx %zu < %zu in use", what, s, o->size);
	size_t u = malloc_usable_size(o->p);
	CHECK(u == s, "%s: malloc_usable_size %zu != sallocx %zu", what, u, s);
	return s;
}

static void fill(struct obj *o)
{
	o->seed = tu_next(&g_rng);
	tu_fill(o->p, o->size, o->seed);
}

static void alloc_obj(struct obj *o, int kind)
{
	size_t n = pick_size();
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->size = n;
	uint64_t r = tu_next(&g_rng);
	void *p = NULL;
	switch (kind) {
	case K_MALLOC:
		p = malloc(n);
		break;
	case K_CALLOC:
		p = calloc(1, n);
		CHECK(p != NULL, "calloc(1, %zu)", n);
		check_zero(p, n, "calloc");
		break;
	case K_POSIX_MEMALIGN:
		o->align = (size_t)64 << (r % 7);
		o->flags = MALLOCX_ALIGN(o->align);
		CHECK(posix_memalign(&p, o->align, n) == 0, "posix_memalign(%zu, %zu)", o->align, n);
		break;
	case K_MALLOCX:
		p = mallocx(n, 0);
		break;
	case K_MALLOCX_ZERO:
		o->flags = MALLOCX_ZERO;
		p = mallocx(n, o->flags);
		CHECK(p != NULL, "mallocx(%zu, MALLOCX_ZERO)", n);
		check_zero(p, n, "mallocx(MALLOCX_ZERO)");
		o->flags = 0;
		break;
	case K_MALLOCX_ALIGN:
		o->align = (size_t)32 << (r % 12);   /* 32 .. 64 KiB */
		o->flags = MALLOCX_ALIGN(o->align);
		p = mallocx(n, o->flags);
		break;
	case K_MALLOCX_LG_ALIGN:
		o->align = (size_t)1 << (5 + r % 8);  /* 32 .. 4 KiB */
		o->flags = MALLOCX_LG_ALIGN(5 + r % 8);
		p = mallocx(n, o->flags);
		break;
	case K_MALLOCX_TCNONE:
		p = mallocx(n, MALLOCX_TCACHE_NONE);
		break;
	case K_MALLOCX_ARENA:
		o->flags = MALLOCX_ARENA(g_arena);
		p = mallocx(n, o->flags | MALLOCX_TCACHE_NONE);
		break;
	}
	CHECK(p != NULL, "allocation of kind %d, %zu bytes", kind, n);
	o->p = p;
	check_align(o, "new object");
	size_t s = real_size(o, "new object");
	/* nallocx: the real size the equivalent mallocx call gives. */
	size_t expect = nallocx(n, NO_ARENA(o->flags));
	CHECK(s == expect, "kind %d: real size %zu, nallocx(%zu) says %zu", kind, s, n, expect);
	if (kind == K_MALLOCX_ARENA) {
		unsigned a = ~0u;
		size_t len = sizeof a;
		void *q = p;
		CHECK(mallctl("arenas.lookup", &a, &len, &q, sizeof q) == 0, "arenas.lookup");
		CHECK(a == g_arena, "arenas.lookup: arena %u, allocated in %u", a, g_arena);
	}
	fill(o);
	g_ops[OP_ALLOC]++;
}

static bool is_api_kind(int kind) { return kind >= K_MALLOCX; }

/* Deallocation: in basic mode by the matching call; mixed, by any. */
static void free_obj(struct obj *o)
{
	uint64_t r = tu_next(&g_rng);
	int how = g_mixed ? (int)(r % 3) : is_api_kind(o->kind) ? 1 + (int)(r % 2) : 0;
	if (g_mixed && (how == 0) == is_api_kind(o->kind)) g_ops[OP_CROSS]++;
	switch (how) {
	case 0:
		free(o->p);
		g_ops[OP_FREE]++;
		break;
	case 1:
		dallocx(o->p, r & 8 ? MALLOCX_TCACHE_NONE : 0);
		g_ops[OP_DALLOCX]++;
		break;
	default:
		/* sdallocx wants a size of the allocation's size class (the
		 * size in use, or the real size after xallocx moved the class)
		 * and the alignment the allocation was made with. */
		sdallocx(o->p, nallocx(o->size, NO_ARENA(o->flags)) == sallocx(o->p, 0)
		                   ? o->size : sallocx(o->p, 0), NO_ARENA(o->flags));
		g_ops[OP_SDALLOCX]++;
		break;
	}
	o->p = NULL;
}

static void resize_obj(struct obj *o)
{
	uint64_t r = tu_next(&g_rng);
	size_t n = pick_size(), old = o->size, keep = old < n ? old : n;
	bool api = g_mixed ? (r & 1) : is_api_kind(o->kind);
	if (g_mixed && api != is_api_kind(o->kind)) g_ops[OP_CROSS]++;
	void *q;
	if (!api) {
		q = realloc(o->p, n);
		CHECK(q != NULL, "realloc(%zu)", n);
		o->align = 0;
		o->flags = 0;
		o->kind = K_MALLOC;
		g_ops[OP_REALLOC]++;
	} else {
		int flags = o->flags;        /* keep the alignment and arena */
		bool zero = r & 2;
		size_t before = sallocx(o->p, 0);
		q = rallocx(o->p, n, flags | (zero ? MALLOCX_ZERO : 0));
		CHECK(q != NULL, "rallocx(%zu)", n);
		/* MALLOCX_ZERO: bytes past the old real size are zero. */
		if (zero && n > before) check_zero((unsigned char *)q + before, n - before, "rallocx(MALLOCX_ZERO)");
		o->kind = o->kind == K_MALLOCX_ARENA ? K_MALLOCX_ARENA : K_MALLOCX;
		g_ops[OP_RALLOCX]++;
	}
	o->p = q;
	size_t bad = tu_check(q, keep, o->seed);
	CHECK(bad == keep, "resize %zu -> %zu lost byte %zu", old, n, bad);
	o->size = n;
	check_align(o, "resized object");
	real_size(o, "resized object");
	fill(o);
}

/* xallocx: grow in place if jemalloc can, or shrink; the result is the
 * real size.  Whether it grew depends on the allocator, so nothing about
 * it is printed, and the program keeps using its old size. */
static void xallocx_obj(struct obj *o)
{
	size_t before = real_size(o, "before xallocx");
	uint64_t r = tu_next(&g_rng);
	if (r & 1) {
		size_t want = before + 1 + (r >> 8) % (before + 4096);
		size_t got = xallocx(o->p, want, 0, NO_ARENA(o->flags));
		CHECK(got == sallocx(o->p, 0), "xallocx grow: returned %zu, sallocx %zu", got, sallocx(o->p, 0));
		CHECK(got >= before, "xallocx grow shrank the object: %zu -> %zu", before, got);
		if (got > o->size) {   /* the new room is usable */
			memset(o->p + o->size, 0xa5, got - o->size);
			CHECK(malloc_usable_size(o->p) == got, "usable size after xallocx grow");
		}
		g_ops[OP_XGROW]++;
	} else {
		size_t want = 1 + (r >> 8) % o->size;
		size_t got = xallocx(o->p, want, 0, NO_ARENA(o->flags));
		CHECK(got == sallocx(o->p, 0), "xallocx shrink: returned %zu, sallocx %zu", got, sallocx(o->p, 0));
		CHECK(got >= want, "xallocx shrink below the request: %zu < %zu", got, want);
		o->size = want;
		g_ops[OP_XSHRINK]++;
	}
	size_t bad = tu_check(o->p, o->size, o->seed);
	CHECK(bad == o->size, "xallocx lost byte %zu of %zu", bad, o->size);
	real_size(o, "after xallocx");
}

static void verify_all(const char *when)
{
	for (size_t i = 0; i < SLOTS; i++) {
		struct obj *o = slot(i);
		if (!o->p) continue;
		size_t bad = tu_check(o->p, o->size, o->seed);
		CHECK(bad == o->size, "%s: slot %zu (kind %d, %zu bytes) corrupted at byte %zu",
		      when, i, o->kind, o->size, bad);
		check_align(o, when);
	}
}

static void make_root(void)
{
	unsigned a;
	size_t len = sizeof a;
	CHECK(mallctl("arenas.create", &a, &len, NULL, 0) == 0, "arenas.create");
	g_arena = a;
	g_root = mallocx(sizeof *g_root, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE | MALLOCX_ZERO);
	CHECK(g_root != NULL, "mallocx(root)");
	size_t tbytes = sizeof(struct table) + SLOTS / 2 * sizeof(struct obj);
	g_root->std = calloc(1, tbytes);
	g_root->api = mallocx(tbytes, MALLOCX_ZERO);
	CHECK(g_root->std && g_root->api, "tables");
	check_zero((unsigned char *)g_root->api, tbytes, "mallocx(table, MALLOCX_ZERO)");
	g_root->std->n = g_root->api->n = SLOTS / 2;
}

/* basic, mixed, xallocx: ROUNDS rounds over every slot, a cycle between
 * rounds. */
static void run_rounds(const char *name, bool mixed, bool xalloc)
{
	g_mixed = mixed;
	memset(g_ops, 0, sizeof g_ops);
	for (size_t i = 0; i < SLOTS; i++)
		if (!slot(i)->p) alloc_obj(slot(i), (int)(tu_next(&g_rng) % NKINDS));
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < SLOTS; i++) {
			struct obj *o = slot(i);
			uint64_t r = tu_next(&g_rng) % 10;
			if (r < 2) {
				free_obj(o);
				alloc_obj(o, (int)(tu_next(&g_rng) % NKINDS));
			} else if (r < 4) {
				resize_obj(o);
			} else if (r < 6 && xalloc) {
				xallocx_obj(o);
			} else if (r < 7) {
				real_size(o, "checks");
				g_ops[OP_CHECKS]++;
			}
		}
		tu_gc();
		verify_all(name);
	}
	printf("%s: %d rounds over %d slots: %lu allocations, %lu free, %lu dallocx, "
	       "%lu sdallocx, %lu realloc, %lu rallocx, %lu xallocx grow, %lu xallocx shrink, "
	       "%lu size checks, %lu across APIs\n",
	       name, ROUNDS, SLOTS, g_ops[OP_ALLOC], g_ops[OP_FREE], g_ops[OP_DALLOCX],
	       g_ops[OP_SDALLOCX], g_ops[OP_REALLOC], g_ops[OP_RALLOCX], g_ops[OP_XGROW],
	       g_ops[OP_XSHRINK], g_ops[OP_CHECKS], g_ops[OP_CROSS]);
}

static size_t stats_allocated(const size_t *mib, size_t miblen)
{
	uint64_t epoch = 1;
	size_t len = sizeof epoch;
	CHECK(mallctl("epoch", &epoch, &len, &epoch, len) == 0, "mallctl epoch");
	size_t a = 0, b = 0;
	len = sizeof a;
	CHECK(mallctl("stats.allocated", &a, &len, NULL, 0) == 0, "mallctl stats.allocated");
	len = sizeof b;
	CHECK(mallctlbymib(mib, miblen, &b, &len, NULL, 0) == 0, "mallctlbymib stats.allocated");
	CHECK(a == b, "stats.allocated by name %zu, by MIB %zu", a, b);
	return a;
}

static void section_mallctl(void)
{
	size_t mib[4], miblen = 4;
	CHECK(mallctlnametomib("stats.allocated", mib, &miblen) == 0, "mallctlnametomib");
	CHECK(miblen == 2, "stats.allocated has a MIB of %zu parts", miblen);

	/* 16 MiB from malloc and 16 MiB from mallocx, in 1 MiB blocks (past
	 * every thread cache), kept in a malloc'd table. */
	enum { BLOCKS = 32 };
	void **blocks = malloc(BLOCKS * sizeof *blocks);
	CHECK(blocks != NULL, "malloc(blocks)");
	size_t a0 = stats_allocated(mib, miblen);
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = i % 2 ? mallocx(MIB, 0) : malloc(MIB);
		CHECK(blocks[i] != NULL, "block %d", i);
		tu_fill(blocks[i], MIB, (uint64_t)i);
	}
	size_t a1 = stats_allocated(mib, miblen);
	/* Less 1 MiB: thread caches may flush small objects meanwhile.  With
	 * PACEGC_FREE=defer or ignore, a cycle meanwhile may also reclaim what
	 * earlier sections freed, so only the blocks themselves are sure. */
	const char *mode = getenv("PACEGC_FREE");
	bool honored = !mode || strcmp(mode, "honor") == 0;
	CHECK(!honored || a1 >= a0 + (BLOCKS - 1) * MIB, "stats.allocated grew by %zd bytes after "
	      "%d MiB from malloc and mallocx; want at least %zu", (ssize_t)(a1 - a0), BLOCKS,
	      (BLOCKS - 1) * MIB);
	CHECK(a1 >= (BLOCKS - 1) * MIB, "stats.allocated is %zu bytes with %d MiB allocated", a1,
	      BLOCKS);
	tu_gc();
	for (int i = 0; i < BLOCKS; i++) {
		CHECK(tu_check(blocks[i], MIB, (uint64_t)i) == MIB, "block %d corrupted", i);
		if (i % 4 == 0) dallocx(blocks[i], 0);          /* malloc'd */
		else if (i % 4 == 1) free(blocks[i]);           /* mallocx'd */
		else if (i % 4 == 2) sdallocx(blocks[i], MIB, 0);
		else dallocx(blocks[i], MALLOCX_TCACHE_NONE);
	}
	free(blocks);
	size_t a2 = stats_allocated(mib, miblen);
	/* With PACEGC_FREE=defer or ignore, freed memory stays allocated
	 * until a cycle reclaims it. */
	CHECK(!honored || a1 >= a2 + (BLOCKS - 1) * MIB,
	      "stats.allocated fell by %zd bytes after %d MiB were freed; want at least %zu",
	      (ssize_t)(a1 - a2), BLOCKS, (BLOCKS - 1) * MIB);
	printf("mallctl: stats.allocated (by name and by MIB) follows %d MiB of malloc and mallocx\n",
	       BLOCKS);

	unsigned narenas = 0;
	size_t len = sizeof narenas;
	CHECK(mallctl("arenas.narenas", &narenas, &len, NULL, 0) == 0, "arenas.narenas");
	CHECK(narenas > g_arena, "arenas.narenas %u, but arena %u was created", narenas, g_arena);
	unsigned a = ~0u;
	void *p = g_root;
	len = sizeof a;
	CHECK(mallctl("arenas.lookup", &a, &len, &p, sizeof p) == 0, "arenas.lookup(root)");
	CHECK(a == g_arena, "arenas.lookup(root) = %u, want %u", a, g_arena);
	bool tcache = true;    /* MALLOC_CONF=tcache:false turns the thread caches off */
	len = sizeof tcache;
	CHECK(mallctl("opt.tcache", &tcache, &len, NULL, 0) == 0, "opt.tcache");
	CHECK(!tcache || mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush");
	const char *version = NULL;
	len = sizeof version;
	CHECK(mallctl("version", &version, &len, NULL, 0) == 0 && version && version[0] == '5',
	      "version");
	size_t x;
	len = sizeof x;
	CHECK(mallctl("no.such.name", &x, &len, NULL, 0) == ENOENT, "unknown name: want ENOENT");
	printf("mallctl: arenas.narenas, arenas.create, arenas.lookup, thread.tcache.flush, "
	       "version, ENOENT\n");
}

/* malloc_stats_print's callback may run with jemalloc's locks held:
 * static memory only. */
static char g_head[128];
static size_t g_head_len, g_stat_bytes;
static unsigned g_stat_calls;

static void stats_cb(void *opaque, const char *s)
{
	CHECK(opaque == &g_stat_calls, "opaque argument not passed through");
	size_t n = strlen(s);
	g_stat_calls++;
	g_stat_bytes += n;
	while (n-- && g_head_len + 1 < sizeof g_head) g_head[g_head_len++] = *s++;
	g_head[g_head_len] = 0;
}

static void section_stats(void)
{
	g_head_len = g_stat_bytes = 0;
	malloc_stats_print(stats_cb, &g_stat_calls, NULL);
	CHECK(g_stat_bytes > 1000 && strstr(g_head, "Begin jemalloc statistics"),
	      "malloc_stats_print: %zu bytes, starting \"%.40s\"", g_stat_bytes, g_head);
	g_head_len = g_stat_bytes = 0;
	malloc_stats_print(stats_cb, &g_stat_calls, "J");
	CHECK(g_stat_bytes > 100 && g_head[0] == '{', "malloc_stats_print(\"J\"): not JSON: \"%.40s\"",
	      g_head);
	printf("stats: malloc_stats_print text and JSON through the callback\n");
}

/* ---- calls: one cross-API call per child process ---- */

static void call_free_mallocx(void)
{
	unsigned char *p = mallocx(100, 0);
	tu_fill(p, 100, 1);
	free(p);
}

static void call_dallocx_malloc(void)
{
	void *p = malloc(100);
	dallocx(p, 0);
	void *q = malloc(100), *r = mallocx(100, 0);
	CHECK(q && r && q != r, "malloc and mallocx after dallocx(malloc'd)");
}

static void call_sdallocx_posix_memalign(void)
{
	void *p;
	CHECK(posix_memalign(&p, 4096, 10000) == 0, "posix_memalign");
	sdallocx(p, 10000, MALLOCX_ALIGN(4096));
}

/* sdallocx of malloc'd memory, then both APIs allocate the same size
 * around a collection: the two live objects must not overlap. */
static void call_sdallocx_malloc_reuse(void)
{
	unsigned char *p = malloc(5000);
	sdallocx(p, 5000, 0);
	unsigned char *q = mallocx(5000, 0);
	CHECK(q != NULL, "mallocx");
	dallocx(q, 0);
	p = q = NULL;
	tu_gc_cycles(3, 150);
	unsigned char *q2 = mallocx(5000, 0);
	CHECK(q2 != NULL, "mallocx");
	memset(q2, 'Q', 5000);
	for (int i = 0; i < 200; i++) {
		unsigned char *r = malloc(5000);
		CHECK(r != NULL, "malloc");
		CHECK(r + 5000 <= q2 || r >= q2 + 5000,
		      "malloc(5000) = %p overlaps the live mallocx(5000) = %p", (void *)r, (void *)q2);
		memset(r, 'R', 5000);
	}
	for (int i = 0; i < 5000; i++) CHECK(q2[i] == 'Q', "mallocx'd object overwritten at %d", i);
}

static void call_sallocx_malloc(void)
{
	void *p = malloc(100);
	size_t s = sallocx(p, 0);
	CHECK(s >= 100 && s == malloc_usable_size(p), "sallocx(malloc(100)) = %zu, usable %zu",
	      s, malloc_usable_size(p));
}

static void call_rallocx_malloc(void)
{
	unsigned char *p = malloc(100);
	tu_fill(p, 100, 2);
	unsigned char *q = rallocx(p, 5000, 0);
	CHECK(q && tu_check(q, 100, 2) == 100, "rallocx(malloc'd) lost the data");
	dallocx(q, 0);
}

static void call_xallocx_malloc(void)
{
	unsigned char *p = malloc(100000);
	tu_fill(p, 100000, 3);
	size_t z = xallocx(p, 200000, 0, 0);
	CHECK(z >= 100000 && z == sallocx(p, 0) && z == malloc_usable_size(p),
	      "xallocx(malloc'd) = %zu, sallocx %zu, usable %zu", z, sallocx(p, 0), malloc_usable_size(p));
	CHECK(tu_check(p, 100000, 3) == 100000, "xallocx(malloc'd) lost the data");
	free(p);
}

static void call_realloc_mallocx(void)
{
	unsigned char *p = mallocx(100, 0);
	tu_fill(p, 100, 4);
	unsigned char *q = realloc(p, 5000);
	CHECK(q && tu_check(q, 100, 4) == 100, "realloc(mallocx'd) = %p", (void *)q);
	free(q);
}

/* realloc moves an allocation only where jemalloc's own realloc would: to
 * a size of its class it stays (every class: pacegc took the small ones
 * above 4 KiB for a move), and a large one shrunk to another large size
 * stays, where frees are honoured (deferred or ignored, pacegc moves it:
 * the old contents stay where a stale pointer finds them). */
static void call_realloc_in_place(void)
{
	const char *mode = getenv("PACEGC_FREE");
	bool honored = mode == NULL || *mode == 0 || strcmp(mode, "honor") == 0;
	for (size_t n = 16; n <= 3 * MIB; n = n * 9 / 8 + 16) {
		unsigned char *p = malloc(n);
		size_t usable = malloc_usable_size(p);
		tu_fill(p, n, 6);
		CHECK(realloc(p, usable) == p, "realloc(malloc(%zu), %zu) moved", n, usable);
		CHECK(realloc(p, n) == p, "realloc back to %zu of its class moved", n);
		size_t kept = n;
		if (honored && n >= 2 * 16384) {
			kept = n / 2;
			CHECK(realloc(p, kept) == p, "realloc(large %zu, %zu) moved", n, kept);
		}
		CHECK(tu_check(p, kept, 6) == kept, "realloc in place lost the data (%zu bytes)", kept);
		free(p);
	}
}

/* A new thread whose first call is a free of another thread's object
 * does not get that object back from its first malloc: as in jemalloc,
 * the object goes back to its own arena and the thread allocates from
 * its own.  (Reused, the two threads' objects would share a cache line:
 * bench/cachescratch ran 4x jemalloc's time.) */
static void *free_then_malloc(void *given)
{
	free(given);
	return malloc(8);
}

static void call_thread_first_free(void)
{
	void *given = malloc(8), *got;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, free_then_malloc, given) == 0, "pthread_create");
	CHECK(pthread_join(t, &got) == 0 && got != NULL, "pthread_join");
	CHECK(got != given, "the thread's first malloc returned the object it freed first (%p)", got);
	free(got);
}

static void call_usable_mallocx(void)
{
	void *p = mallocx(100, 0);
	CHECK(malloc_usable_size(p) >= 100 && malloc_usable_size(p) == sallocx(p, 0),
	      "malloc_usable_size(mallocx(100)) = %zu, sallocx %zu", malloc_usable_size(p), sallocx(p, 0));
	dallocx(p, 0);
}

static void call_nallocx_malloc(void)
{
	for (size_t n = 1; n <= 70000; n = n < 64 ? n + 1 : n * 5 / 4) {
		void *p = malloc(n);
		CHECK(nallocx(n, 0) == malloc_usable_size(p), "nallocx(%zu) = %zu, malloc(%zu) has %zu",
		      n, nallocx(n, 0), n, malloc_usable_size(p));
		free(p);
	}
}

static void call_stats_malloc(void)
{
	size_t mib[2], miblen = 2;
	CHECK(mallctlnametomib("stats.allocated", mib, &miblen) == 0, "mallctlnametomib");
	size_t a0 = stats_allocated(mib, miblen);
	void *blocks[16];
	for (int i = 0; i < 16; i++) blocks[i] = tu_launder(malloc(MIB));
	size_t a1 = stats_allocated(mib, miblen);
	CHECK(a1 >= a0 + 15 * MIB, "stats.allocated grew by %zd after 16 MiB of malloc", (ssize_t)(a1 - a0));
	for (int i = 0; i < 16; i++) free(blocks[i]);
}

static void call_arena_free(void)
{
	unsigned a;
	size_t len = sizeof a;
	CHECK(mallctl("arenas.create", &a, &len, NULL, 0) == 0, "arenas.create");
	void *p = mallocx(64, MALLOCX_ARENA(a));
	CHECK(p != NULL, "mallocx(MALLOCX_ARENA)");
	free(p);
}

static void section_calls(void)
{
	static const struct { const char *name; void (*fn)(void); } calls[] = {
		{ "free(mallocx)", call_free_mallocx },
		{ "dallocx(malloc)", call_dallocx_malloc },
		{ "sdallocx(posix_memalign)", call_sdallocx_posix_memalign },
		{ "sdallocx(malloc) then both allocate", call_sdallocx_malloc_reuse },
		{ "sallocx(malloc)", call_sallocx_malloc },
		{ "rallocx(malloc)", call_rallocx_malloc },
		{ "xallocx(malloc)", call_xallocx_malloc },
		{ "realloc(mallocx)", call_realloc_mallocx },
		{ "realloc in place as jemalloc's", call_realloc_in_place },
		{ "a new thread's first free is not its first malloc", call_thread_first_free },
		{ "malloc_usable_size(mallocx)", call_usable_mallocx },
		{ "nallocx = malloc's size", call_nallocx_malloc },
		{ "stats.allocated counts malloc", call_stats_malloc },
		{ "free(mallocx(MALLOCX_ARENA))", call_arena_free },
	};
	for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			calls[i].fn();
			fflush(NULL);
			_exit(0);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			printf("calls: %s: ok\n", calls[i].name);
		else if (WIFEXITED(st))
			printf("calls: %s: exit %d\n", calls[i].name, WEXITSTATUS(st));
		else
			printf("calls: %s: killed by signal %d\n", calls[i].name, WTERMSIG(st));
	}
}

static void free_everything(void)
{
	g_mixed = false;
	for (size_t i = 0; i < SLOTS; i++)
		if (slot(i)->p) free_obj(slot(i));
	free(g_root->std);
	dallocx(g_root->api, 0);
	dallocx(g_root, MALLOCX_TCACHE_NONE);
	g_root = NULL;
}

int main(int argc, char **argv)
{
	static const char *all[] = { "calls", "basic", "mixed", "xallocx", "mallctl", "stats" };
	const char **sections = argc > 1 ? (const char **)argv + 1 : all;
	int n = argc > 1 ? argc - 1 : (int)(sizeof all / sizeof *all);
	setvbuf(stdout, NULL, _IOLBF, 0);
	tu_gc_init();
	make_root();
	for (int i = 0; i < n; i++) {
		if (!strcmp(sections[i], "calls")) section_calls();
		else if (!strcmp(sections[i], "basic")) run_rounds("basic", false, false);
		else if (!strcmp(sections[i], "mixed")) run_rounds("mixed", true, false);
		else if (!strcmp(sections[i], "xallocx")) run_rounds("xallocx", true, true);
		else if (!strcmp(sections[i], "mallctl")) section_mallctl();
		else if (!strcmp(sections[i], "stats")) section_stats();
		else FAIL("unknown section %s", sections[i]);
	}
	verify_all("end");
	free_everything();
	printf("jemalloc_api: ok\n");
	return 0;
}
