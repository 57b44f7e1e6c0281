/* A module loaded with dlopen(RTLD_NOW | RTLD_DEEPBIND) (issue 8, item 8).
 *
 * RTLD_DEEPBIND makes the module look symbols up in its own dependencies
 * first: its malloc, free, realloc and calloc bind to the C library's
 * allocator, not to a malloc preloaded in front of the program, while what
 * the C library allocates internally (strdup) and the main program still
 * use the preloaded one.  Plugins loaded this way (some JNI and Python
 * extension loaders, audio and printer drivers, proprietary SDKs) pass
 * memory across the boundary both ways, and a program that works plain
 * must keep working: glibc's own heap pointers are recognisable.
 *
 *   deepbind MODULE MODE    MODULE: the path of libdeepbind_lib.so
 *   MODE (each moves buffers of 1 B to 1 MiB, small chunks and mmap'd
 *   ones on glibc's side, checking their contents, with cycles between):
 *     lib_alloc_main_free    the module mallocs, the program frees;
 *     main_alloc_lib_free    the program mallocs, the module frees;
 *     main_alloc_lib_realloc the program mallocs, the module reallocs
 *                            (grows), the program checks and frees;
 *     lib_alloc_main_realloc the module mallocs, the program reallocs,
 *                            checks and frees;
 *     lib_alloc_main_usable  the module mallocs, the program asks
 *                            malloc_usable_size (at least the size asked
 *                            for) and frees;
 *     lib_strdup             inside the module: strdup (malloc through
 *                            the C library) and the module's free of it;
 *     ctor_alloc_main_free   the module's constructor mallocs (inside
 *                            dlopen, so with the C library's allocator
 *                            even under a preloaded malloc that rebinds
 *                            the module afterwards); the program checks,
 *                            reallocs (half of them) and frees;
 *     lib_holds              the only pointers to 2000 of the program's
 *                            objects are in a table from the module's
 *                            calloc (glibc's heap) while cycles run; then
 *                            they are checked;
 *     all                    every mode above in turn.
 *
 * "deepbind MODULE MODE nodeepbind" is the control: the same with
 * dlopen(RTLD_NOW) only.
 *
 * Run plain and preloaded through tests/compare.sh (also with
 * PACEGC_GODEBUG=gcstress=N).  Deterministic output.  Failure: glibc's
 * "free(): invalid pointer" (or realloc's) and SIGABRT (status 134 from a
 * shell), a pacegc report on stderr, or a FAIL line and exit 1 (lost data,
 * a failed realloc, a wrong usable size); a watchdog kills a hung run
 * after 60 s. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "watchdog.h"

static void *(*make)(size_t, uint64_t);
static int (*consume)(void *, size_t, uint64_t);
static void *(*grow)(void *, size_t, size_t, uint64_t);
static int (*strdup_roundtrip)(const char *);
static int (*keep)(void **, size_t);
static void **(*kept)(size_t *);
static void (*drop_table)(void);
static void *(*ctor_buffer)(int, size_t *);

/* 1 B to 1 MiB: glibc's small, large and mmap'd chunks. */
static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 70000, 200000, 1 << 20 };
#define NSIZES (sizeof sizes / sizeof sizes[0])
#define ROUNDS 20

static void lib_alloc_main_free(void)
{
	for (int r = 0; r < ROUNDS; r++)
		for (size_t i = 0; i < NSIZES; i++) {
			void *p = make(sizes[i], r * 100 + i);
			CHECK(p, "db_make(%zu)", sizes[i]);
			CHECK(tu_check(p, sizes[i], r * 100 + i) == sizes[i],
			      "db_make data");
			free(p);
			tu_gc();
		}
}

static void main_alloc_lib_free(void)
{
	for (int r = 0; r < ROUNDS; r++)
		for (size_t i = 0; i < NSIZES; i++) {
			void *p = malloc(sizes[i]);
			CHECK(p, "malloc(%zu)", sizes[i]);
			tu_fill(p, sizes[i], r * 100 + i);
			CHECK(consume(p, sizes[i], r * 100 + i), "db_consume saw bad data");
			tu_gc();
		}
}

static void main_alloc_lib_realloc(void)
{
	for (int r = 0; r < ROUNDS; r++)
		for (size_t i = 0; i + 1 < NSIZES; i++) {
			size_t n = sizes[i], m = sizes[i + 1];
			void *p = malloc(n);
			CHECK(p, "malloc(%zu)", n);
			tu_fill(p, n, r + i);
			p = grow(p, n, m, r + i);
			CHECK(p, "db_grow(%zu -> %zu) returned NULL", n, m);
			CHECK(tu_check(p, m, r + i) == m, "db_grow data");
			tu_gc();
			free(p);
		}
}

static void lib_alloc_main_realloc(void)
{
	for (int r = 0; r < ROUNDS; r++)
		for (size_t i = 0; i + 1 < NSIZES; i++) {
			size_t n = sizes[i], m = sizes[i + 1];
			unsigned char *p = make(n, r + i);
			CHECK(p, "db_make(%zu)", n);
			p = realloc(p, m);
			CHECK(p, "realloc(%zu -> %zu) of the module's buffer "
			      "returned NULL", n, m);
			CHECK(tu_check(p, n, r + i) == n, "realloc lost the data");
			for (size_t j = n; j < m; j++)
				p[j] = tu_byte(r + i, j);
			tu_gc();
			CHECK(tu_check(p, m, r + i) == m, "realloc'd data");
			free(p);
		}
}

static void lib_alloc_main_usable(void)
{
	for (int r = 0; r < ROUNDS; r++)
		for (size_t i = 0; i < NSIZES; i++) {
			void *p = make(sizes[i], r + i);
			CHECK(p, "db_make(%zu)", sizes[i]);
			size_t u = malloc_usable_size(p);
			CHECK(u >= sizes[i], "malloc_usable_size of the module's "
			      "%zu-byte buffer: %zu", sizes[i], u);
			free(p);
		}
}

static void lib_strdup(void)
{
	char s[64];
	for (int r = 0; r < ROUNDS * 10; r++) {
		snprintf(s, sizeof s, "string %d duplicated inside the module", r);
		CHECK(strdup_roundtrip(s), "db_strdup_roundtrip");
		if (r % 10 == 0)
			tu_gc();
	}
}

static void ctor_alloc_main_free(void)
{
	for (int i = 0; i < 8; i++) {
		size_t n;
		unsigned char *p = ctor_buffer(i, &n);
		CHECK(p, "the constructor's buffer %d is missing", i);
		CHECK(tu_check(p, n, 7000 + i) == n, "the constructor's buffer %d data", i);
		CHECK(malloc_usable_size(p) >= n, "malloc_usable_size of the constructor's "
		      "%zu-byte buffer: %zu", n, malloc_usable_size(p));
		tu_gc();
		if (i % 2) {
			p = realloc(p, 2 * n);
			CHECK(p, "realloc of the constructor's %zu-byte buffer", n);
			CHECK(tu_check(p, n, 7000 + i) == n, "realloc lost the data");
		}
		free(p);
	}
}

#define KEEP 2000
static void lib_holds(void)
{
	uint64_t rng = 31337;
	void **ptrs = malloc(KEEP * sizeof *ptrs);
	CHECK(ptrs, "malloc");
	for (int i = 0; i < KEEP; i++)
		ptrs[i] = tu_new_node(&rng, 16 + tu_next(&rng) % 300);
	CHECK(keep(ptrs, KEEP), "db_keep");
	memset(ptrs, 0, KEEP * sizeof *ptrs);
	free(ptrs);
	/* Garbage and cycles while the module's table holds the nodes. */
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 20000; i++) {
			void *g = malloc(64 + i % 512);
			CHECK(g, "malloc");
			memset(g, 0x5a, 64);
			tu_launder(g);
		}
		tu_gc_cycles(2, 20);
	}
	size_t n;
	struct node **t = (struct node **)kept(&n);
	CHECK(n == KEEP, "db_kept: %zu", n);
	for (size_t i = 0; i < n; i++) {
		struct node *x = t[i];
		CHECK(tu_check(x->data, x->size, x->seed) == x->size,
		      "node %zu, kept only by the module, was corrupted", i);
		free(x);
	}
	drop_table();
}

static const struct {
	const char *name;
	void (*fn)(void);
	const char *what;
} modes[] = {
	{ "lib_alloc_main_free", lib_alloc_main_free, "the module's buffers freed by the program" },
	{ "main_alloc_lib_free", main_alloc_lib_free, "the program's buffers freed by the module" },
	{ "main_alloc_lib_realloc", main_alloc_lib_realloc,
	  "the program's buffers grown by the module's realloc" },
	{ "lib_alloc_main_realloc", lib_alloc_main_realloc,
	  "the module's buffers grown by the program's realloc" },
	{ "lib_alloc_main_usable", lib_alloc_main_usable,
	  "malloc_usable_size of the module's buffers" },
	{ "lib_strdup", lib_strdup, "strdup and free inside the module" },
	{ "ctor_alloc_main_free", ctor_alloc_main_free,
	  "the module constructor's buffers reallocated and freed by the program" },
	{ "lib_holds", lib_holds, "the program's objects kept only by the module" },
};
#define NMODES (sizeof modes / sizeof modes[0])

int main(int argc, char **argv)
{
	CHECK(argc == 3 || (argc == 4 && strcmp(argv[3], "nodeepbind") == 0),
	      "usage: deepbind MODULE MODE|all [nodeepbind]");
	tu_watchdog("deepbind", 60);
	tu_gc_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	void *h = dlopen(argv[1], argc == 4 ? RTLD_NOW : RTLD_NOW | RTLD_DEEPBIND);
	CHECK(h, "dlopen: %s", dlerror());
	make = (void *(*)(size_t, uint64_t))dlsym(h, "db_make");
	consume = (int (*)(void *, size_t, uint64_t))dlsym(h, "db_consume");
	grow = (void *(*)(void *, size_t, size_t, uint64_t))dlsym(h, "db_grow");
	strdup_roundtrip = (int (*)(const char *))dlsym(h, "db_strdup_roundtrip");
	keep = (int (*)(void **, size_t))dlsym(h, "db_keep");
	kept = (void **(*)(size_t *))dlsym(h, "db_kept");
	drop_table = (void (*)(void))dlsym(h, "db_drop_table");
	ctor_buffer = (void *(*)(int, size_t *))dlsym(h, "db_ctor_buffer");
	CHECK(make && consume && grow && strdup_roundtrip && keep && kept && drop_table &&
	      ctor_buffer,
	      "dlsym: %s", dlerror());
	int done = 0;
	for (size_t i = 0; i < NMODES; i++) {
		if (strcmp(argv[2], "all") != 0 && strcmp(argv[2], modes[i].name) != 0)
			continue;
		modes[i].fn();
		printf("deepbind %s: %s: ok\n", modes[i].name, modes[i].what);
		done++;
	}
	CHECK(done > 0, "unknown mode %s", argv[2]);
	CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
	return 0;
}
