/* Bad frees, one per run: badfree CASE.  Under pacegc each must be reported
 * with exactly one "pacegc: " line and a call stack naming the function
 * that did it (bad_CASE), be otherwise ignored, and leave the allocator
 * working.  Never run this without pacegc: glibc aborts on most cases.
 * Built with -g -fno-omit-frame-pointer -rdynamic and without sibling
 * calls, so the caller's frame is on the stack and dladdr can name it. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

#define NOINLINE __attribute__((noinline, used))

char global_buf[256];
static volatile int sink;

/* A live object made before the bad free; it must survive untouched. */
static unsigned char *canary;
#define CANARY_SIZE 5000

/* Something after the free so it is not a tail call. */
static NOINLINE void after(void)
{
	sink++;
}

NOINLINE void bad_none(void)
{
	void *p = malloc(100);
	free(tu_launder(p));
	after();
}

NOINLINE void bad_double_free(void)
{
	void *p = malloc(100);
	CHECK(p, "malloc");
	free(p);
	free(tu_launder(p));
	after();
}

NOINLINE void bad_interior(void)
{
	unsigned char *p = malloc(256);
	CHECK(p, "malloc");
	tu_fill(p, 256, 11);
	free(tu_launder(p + 64));
	after();
	CHECK(tu_check(p, 256, 11) == 256, "object changed by interior free");
	free(p); /* the real free: no report */
}

NOINLINE void bad_interior_large(void)
{
	unsigned char *p = malloc(3 << 20);
	CHECK(p, "malloc");
	tu_fill(p, 3 << 20, 12);
	free(tu_launder(p + (1 << 20)));
	after();
	CHECK(tu_check(p, 3 << 20, 12) == 3 << 20,
	      "object changed by interior free");
	free(p);
}

NOINLINE void bad_misaligned(void)
{
	unsigned char *p = malloc(64);
	CHECK(p, "malloc");
	tu_fill(p, 64, 13);
	free(tu_launder(p + 3));
	after();
	CHECK(tu_check(p, 64, 13) == 64, "object changed by misaligned free");
	free(p);
}

NOINLINE void bad_stack(void)
{
	char buf[128];
	memset(buf, 1, sizeof buf);
	free(tu_launder(buf));
	after();
	for (size_t i = 0; i < sizeof buf; i++)
		CHECK(buf[i] == 1, "stack buffer changed");
}

NOINLINE void bad_global(void)
{
	memset(global_buf, 2, sizeof global_buf);
	free(tu_launder(global_buf));
	after();
	for (size_t i = 0; i < sizeof global_buf; i++)
		CHECK(global_buf[i] == 2, "global changed");
}

NOINLINE void bad_mmap(void)
{
	unsigned char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED, "mmap");
	memset(m, 3, 1 << 16);
	free(tu_launder(m + 4096));
	after();
	for (size_t i = 0; i < 1 << 16; i++)
		CHECK(m[i] == 3, "mmap'd memory changed");
	munmap(m, 1 << 16);
}

NOINLINE void bad_realloc_freed(void)
{
	void *p = malloc(100);
	CHECK(p, "malloc");
	free(p);
	errno = 0;
	void *q = realloc(tu_launder(p), 200);
	int e = errno;
	after();
	CHECK(q == NULL, "realloc of a freed pointer returned %p", q);
	CHECK(e == ENOMEM, "realloc of a freed pointer: errno %d", e);
}

NOINLINE void bad_realloc_interior(void)
{
	unsigned char *p = malloc(1000);
	CHECK(p, "malloc");
	tu_fill(p, 1000, 14);
	errno = 0;
	void *q = realloc(tu_launder(p + 16), 2000);
	int e = errno;
	after();
	CHECK(q == NULL, "realloc of an interior pointer returned %p", q);
	CHECK(e == ENOMEM, "realloc of an interior pointer: errno %d", e);
	CHECK(tu_check(p, 1000, 14) == 1000, "object changed by bad realloc");
	q = realloc(p, 2000);
	CHECK(q && tu_check(q, 1000, 14) == 1000, "realloc of the real start");
	free(q);
}

/* The *_defer cases run with PACEGC_FREE=defer (badfree.sh sets it): a
 * freed object then stays indexed, its contents kept for stale pointers,
 * until a cycle finds nothing pointing to it.  realloc of it is still a
 * bad call: one report, NULL with ENOMEM, the memory left alone (README
 * "Bad frees") -- not a new block, and not the freed block handed back. */
static void need_defer(void)
{
	const char *m = getenv("PACEGC_FREE");
	CHECK(m && strcmp(m, "defer") == 0,
	      "run the *_defer cases with PACEGC_FREE=defer (got %s)",
	      m ? m : "unset");
}

/* A size in another size class: glibc and pacegc would move the block. */
NOINLINE void bad_realloc_freed_defer(void)
{
	need_defer();
	unsigned char *p = malloc(100);
	CHECK(p, "malloc");
	tu_fill(p, 100, 15);
	free(p);
	errno = 0;
	void *q = realloc(tu_launder(p), 200);
	int e = errno;
	after();
	CHECK(q == NULL, "realloc of a freed pointer returned %p (a new block; "
	      "the freed one was %p)", q, (void *)p);
	CHECK(e == ENOMEM, "realloc of a freed pointer: errno %d", e);
	CHECK(tu_check(p, 100, 15) == 100,
	      "the freed (deferred) object changed by the bad realloc");
}

/* A size in the same size class: nothing would move. */
NOINLINE void bad_realloc_freed_defer_same(void)
{
	need_defer();
	unsigned char *p = malloc(100);
	CHECK(p, "malloc");
	tu_fill(p, 100, 16);
	free(p);
	errno = 0;
	void *q = realloc(tu_launder(p), 104);
	int e = errno;
	after();
	CHECK(q == NULL, "realloc of a freed pointer returned %p%s", q,
	      q == (void *)p ? " (the freed block itself)" : "");
	CHECK(e == ENOMEM, "realloc of a freed pointer: errno %d", e);
	CHECK(tu_check(p, 100, 16) == 100,
	      "the freed (deferred) object changed by the bad realloc");
}

/* free() must leave errno alone (glibc does; POSIX.1-2024 requires it),
 * also when it reports a bad pointer -- here the first report of the
 * process, which is when lazy set-up (unwinder, symbol lookup) happens. */
NOINLINE void bad_errno(void)
{
	char buf[32];
	memset(buf, 4, sizeof buf);
	errno = 4321;
	free(tu_launder(buf));
	int e = errno;
	after();
	CHECK(e == 4321, "free of a bad pointer changed errno to %d (%s)", e,
	      strerror(e));
}

/* After the bad free: allocate, verify and free plenty more. */
static void keep_working(void)
{
	CHECK(tu_check(canary, CANARY_SIZE, 99) == CANARY_SIZE,
	      "canary object corrupted");
	enum { N = 5000 };
	static void *v[N];
	static size_t sz[N];
	uint64_t rng = 5;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			sz[i] = tu_next(&rng) % (i % 100 == 0 ? 200000 : 300);
			v[i] = malloc(sz[i]);
			CHECK(v[i], "malloc after bad free");
			tu_fill(v[i], sz[i], i + round);
		}
		for (int i = 0; i < N; i++) {
			CHECK(tu_check(v[i], sz[i], i + round) == sz[i],
			      "data corrupted after bad free");
			free(v[i]);
		}
	}
	free(canary);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "none", bad_none },
	{ "double_free", bad_double_free },
	{ "interior", bad_interior },
	{ "interior_large", bad_interior_large },
	{ "misaligned", bad_misaligned },
	{ "stack", bad_stack },
	{ "global", bad_global },
	{ "mmap", bad_mmap },
	{ "realloc_freed", bad_realloc_freed },
	{ "realloc_interior", bad_realloc_interior },
	{ "errno", bad_errno },
	{ "realloc_freed_defer", bad_realloc_freed_defer },
	{ "realloc_freed_defer_same", bad_realloc_freed_defer_same },
};

int main(int argc, char **argv)
{
	size_t n = sizeof cases / sizeof cases[0];
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	CHECK(argc == 2, "usage: badfree CASE | --list");
	canary = malloc(CANARY_SIZE);
	CHECK(canary, "malloc");
	tu_fill(canary, CANARY_SIZE, 99);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cases[i].name) == 0) {
			cases[i].fn();
			keep_working();
			printf("badfree %s: program continued, data intact\n",
			       cases[i].name);
			return 0;
		}
	}
	FAIL("unknown case %s", argv[1]);
}
