/* The glibc statistics and tuning calls: mallinfo, mallinfo2, malloc_trim,
 * mallopt, malloc_stats, malloc_info.  Checks that they do not crash and
 * that what they say is plausible; prints only deterministic lines (no raw
 * numbers), so the output is the same plain and under LD_PRELOAD. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define NOBJ 4000
#define OBJSZ 1000 /* small: glibc counts these in uordblks */

static size_t in_use(struct mallinfo2 m)
{
	/* glibc puts mmapped blocks in hblkhd, the rest in uordblks; an
	 * allocator may use either. */
	return m.uordblks + m.hblkhd;
}

/* Capture what fn writes to fd (1 or 2) into a malloc'd string. */
static char *capture(int fd, void (*fn)(void))
{
	FILE *tmp = tmpfile();
	CHECK(tmp, "tmpfile: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	int saved = dup(fd);
	CHECK(saved >= 0, "dup");
	CHECK(dup2(fileno(tmp), fd) == fd, "dup2");
	fn();
	fflush(stdout);
	fflush(stderr);
	CHECK(dup2(saved, fd) == fd, "dup2 back");
	close(saved);
	long n = lseek(fileno(tmp), 0, SEEK_END);
	CHECK(n >= 0, "lseek");
	char *buf = malloc(n + 1);
	CHECK(buf, "malloc");
	CHECK(pread(fileno(tmp), buf, n, 0) == n, "pread");
	buf[n] = 0;
	fclose(tmp);
	return buf;
}

static void call_malloc_stats(void)
{
	malloc_stats();
}

int main(void)
{
	/* mallinfo2 tracks allocation. */
	struct mallinfo2 before = mallinfo2();
	void *objs[NOBJ];
	for (int i = 0; i < NOBJ; i++) {
		objs[i] = malloc(OBJSZ);
		CHECK(objs[i], "malloc");
		memset(objs[i], i, OBJSZ);
	}
	struct mallinfo2 after = mallinfo2();
	size_t need = (size_t)NOBJ * OBJSZ;
	CHECK(in_use(after) >= in_use(before) + need,
	      "mallinfo2 in-use grew by %zd, allocated %zu",
	      (ssize_t)(in_use(after) - in_use(before)), need);
	CHECK(after.arena + after.hblkhd >= in_use(after) - after.hblkhd,
	      "mallinfo2: arena smaller than in-use");
	printf("mallinfo2: in-use grew by at least the bytes allocated\n");

	/* The int version must not crash and must roughly agree. */
	struct mallinfo mi = mallinfo();
	CHECK((size_t)(unsigned)mi.uordblks + (unsigned)mi.hblkhd >= need ||
		      in_use(after) > INT32_MAX,
	      "mallinfo in-use below what is allocated");
	printf("mallinfo: plausible\n");

	for (int i = 0; i < NOBJ; i++)
		free(objs[i]);
	struct mallinfo2 freed = mallinfo2();
	(void)freed;
	printf("mallinfo2 after free: ok\n");

	int t = malloc_trim(0);
	CHECK(t == 0 || t == 1, "malloc_trim(0) returned %d", t);
	t = malloc_trim(1 << 20);
	CHECK(t == 0 || t == 1, "malloc_trim(1MiB) returned %d", t);
	printf("malloc_trim: returned 0 or 1\n");

	struct {
		int param, value;
		const char *name;
	} opts[] = {
		{ M_ARENA_MAX, 1, "M_ARENA_MAX" },
		{ M_ARENA_TEST, 2, "M_ARENA_TEST" },
		{ M_MMAP_THRESHOLD, 256 << 10, "M_MMAP_THRESHOLD" },
		{ M_TRIM_THRESHOLD, 1 << 20, "M_TRIM_THRESHOLD" },
		{ M_TOP_PAD, 64 << 10, "M_TOP_PAD" },
		{ M_MMAP_MAX, 65536, "M_MMAP_MAX" },
		{ M_MXFAST, 64, "M_MXFAST" },
		{ M_CHECK_ACTION, 3, "M_CHECK_ACTION" },
		{ M_PERTURB, 0, "M_PERTURB" },
	};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		int r = mallopt(opts[i].param, opts[i].value);
		CHECK(r == 0 || r == 1, "mallopt(%s) returned %d", opts[i].name,
		      r);
	}
	printf("mallopt: returned 0 or 1\n");

	/* Still works after tuning. */
	for (int i = 0; i < NOBJ; i++) {
		size_t n = 1 + (size_t)i * 97 % 300000;
		objs[i] = malloc(n);
		CHECK(objs[i], "malloc after mallopt");
		tu_fill(objs[i], n < 64 ? n : 64, i);
	}
	for (int i = 0; i < NOBJ; i++) {
		size_t n = 1 + (size_t)i * 97 % 300000;
		CHECK(tu_check(objs[i], n < 64 ? n : 64, i) == (n < 64 ? n : 64),
		      "data after mallopt");
		free(objs[i]);
	}
	printf("allocation after mallopt: ok\n");

	/* malloc_stats writes to stderr; keep it out of our output. */
	char *st = capture(2, call_malloc_stats);
	free(st);
	printf("malloc_stats: did not crash\n");

	/* malloc_info writes XML with a <malloc version=...> root. */
	char *xml = NULL;
	size_t xlen = 0;
	FILE *ms = open_memstream(&xml, &xlen);
	CHECK(ms, "open_memstream");
	int r = malloc_info(0, ms);
	fclose(ms);
	CHECK(r == 0, "malloc_info returned %d", r);
	CHECK(xml && strncmp(xml, "<malloc", 7) == 0,
	      "malloc_info does not start with <malloc: %.40s", xml);
	CHECK(strstr(xml, "</malloc>") != NULL, "malloc_info not closed");
	free(xml);
	/* Unknown options are refused (glibc returns EINVAL). */
	r = malloc_info(1, stdout);
	CHECK(r != 0, "malloc_info(1, ...) accepted an unknown option");
	printf("malloc_info: well-formed\n");
	return 0;
}
