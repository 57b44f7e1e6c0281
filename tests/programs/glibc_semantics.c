/* Edge cases where pacegc must behave like glibc's malloc.  Each check
 * prints one line; the output must be the same plain and under LD_PRELOAD.
 * Built with -fno-builtin so the compiler cannot fold or drop the calls. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static volatile size_t vzero = 0;
static volatile size_t vmax = SIZE_MAX;

static void ok(const char *what)
{
	printf("ok: %s\n", what);
}

static void expect_enomem(void *p, const char *what)
{
	int e = errno;
	CHECK(p == NULL, "%s: got %p, want NULL", what, p);
	CHECK(e == ENOMEM, "%s: errno %d (%s), want ENOMEM", what, e,
	      strerror(e));
	ok(what);
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p, *q;

	errno = 0;
	expect_enomem(malloc(vmax), "malloc(SIZE_MAX) is NULL, ENOMEM");
	errno = 0;
	expect_enomem(malloc(vmax / 2 + 1), "malloc(PTRDIFF_MAX+1) is NULL, ENOMEM");
	errno = 0;
	expect_enomem(calloc(vmax / 2, 3), "calloc overflow is NULL, ENOMEM");
	errno = 0;
	expect_enomem(calloc(3, vmax / 2), "calloc overflow (swapped) is NULL, ENOMEM");
	errno = 0;
	expect_enomem(calloc(vmax / 2 + 1, 2),
		      "calloc(2^63, 2) is NULL, ENOMEM");
	errno = 0;
	expect_enomem(reallocarray(NULL, vmax / 2, 3),
		      "reallocarray(NULL) overflow is NULL, ENOMEM");

	p = malloc(100);
	CHECK(p, "malloc(100)");
	tu_fill(p, 100, 1);
	errno = 0;
	q = reallocarray(tu_launder(p), vmax / 4, 8);
	expect_enomem(q, "reallocarray(p) overflow is NULL, ENOMEM");
	CHECK(tu_check(p, 100, 1) == 100, "reallocarray failure touched p");
	errno = 0;
	q = realloc(tu_launder(p), vmax);
	expect_enomem(q, "realloc(p, SIZE_MAX) is NULL, ENOMEM");
	CHECK(tu_check(p, 100, 1) == 100, "failed realloc touched p");
	ok("failed realloc leaves the old block intact");
	q = reallocarray(p, 50, 4);
	CHECK(q && tu_check(q, 100, 1) == 100, "reallocarray(p, 50, 4)");
	ok("reallocarray(p, 50, 4) grows and keeps contents");
	free(q);

	p = realloc(NULL, 123);
	CHECK(p, "realloc(NULL, 123)");
	CHECK(malloc_usable_size(p) >= 123, "usable size");
	memset(p, 7, 123);
	ok("realloc(NULL, n) allocates");
	errno = 0;
	q = realloc(tu_launder(p), vzero);
	CHECK(q == NULL, "realloc(p, 0) returned %p, glibc returns NULL", q);
	ok("realloc(p, 0) frees and returns NULL");
	q = realloc(NULL, vzero);
	CHECK(q != NULL, "realloc(NULL, 0) is NULL, glibc gives malloc(0)");
	free(q);
	ok("realloc(NULL, 0) returns a pointer");

	/* malloc(0): unique, non-NULL, freeable pointers. */
	enum { NZ = 200 };
	void *z[NZ];
	for (int i = 0; i < NZ; i++) {
		z[i] = malloc(vzero);
		CHECK(z[i] != NULL, "malloc(0) returned NULL");
	}
	for (int i = 0; i < NZ; i++)
		for (int j = i + 1; j < NZ; j++)
			CHECK(z[i] != z[j], "malloc(0) returned %p twice", z[i]);
	for (int i = 0; i < NZ; i++)
		free(z[i]);
	ok("malloc(0) returns unique non-NULL pointers");
	p = calloc(0, 0);
	CHECK(p != NULL, "calloc(0, 0)");
	free(p);
	p = calloc(vzero, 100);
	CHECK(p != NULL, "calloc(0, 100)");
	free(p);
	ok("calloc(0, n) returns a pointer");

	free(NULL);
	ok("free(NULL) is a no-op");
	for (size_t n = 1; n <= (8 << 20); n *= 8) {
		p = malloc(n);
		CHECK(p, "malloc(%zu)", n);
		errno = 4321;
		free(p);
		CHECK(errno == 4321, "free changed errno to %d", errno);
	}
	errno = 4321;
	free(NULL);
	CHECK(errno == 4321, "free(NULL) changed errno");
	ok("free leaves errno alone");
	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
	ok("malloc_usable_size(NULL) == 0");

	/* posix_memalign: bad alignments give EINVAL and leave *out alone. */
	size_t bad[] = { 0, 1, 3, 24, sizeof(void *) / 2, sizeof(void *) + 1,
			 48, 4097, (SIZE_MAX >> 1) + 3 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		void *out = (void *)0x1234;
		int rc = posix_memalign(&out, bad[i], 64);
		CHECK(rc == EINVAL, "posix_memalign(align %zu) = %d, want EINVAL",
		      bad[i], rc);
		CHECK(out == (void *)0x1234,
		      "posix_memalign(align %zu) wrote *out", bad[i]);
	}
	ok("posix_memalign with a bad alignment is EINVAL, *out untouched");
	{
		void *out = (void *)0x1234;
		int rc = posix_memalign(&out, 64, vmax);
		CHECK(rc == ENOMEM, "posix_memalign(64, SIZE_MAX) = %d", rc);
		CHECK(out == (void *)0x1234, "posix_memalign ENOMEM wrote *out");
		ok("posix_memalign(64, SIZE_MAX) is ENOMEM, *out untouched");
	}
	for (size_t a = sizeof(void *); a <= (1 << 22); a <<= 1) {
		void *out = NULL;
		int rc = posix_memalign(&out, a, 100);
		CHECK(rc == 0 && out && (uintptr_t)out % a == 0,
		      "posix_memalign(%zu, 100)", a);
		CHECK(malloc_usable_size(out) >= 100, "usable size");
		free(out);
		rc = posix_memalign(&out, a, 0);
		CHECK(rc == 0, "posix_memalign(%zu, 0) = %d", a, rc);
		CHECK(out == NULL || (uintptr_t)out % a == 0,
		      "posix_memalign(%zu, 0) alignment", a);
		free(out);
	}
	ok("posix_memalign aligns for every power of two 8..4MiB");

	for (size_t a = 1; a <= (1 << 22); a <<= 1) {
		size_t sizes[] = { a, 3 * a, a + 1, 1 };
		for (int k = 0; k < 4; k++) {
			size_t n = sizes[k];
			p = aligned_alloc(a, n);
			CHECK(p && (uintptr_t)p % a == 0, "aligned_alloc(%zu, %zu)",
			      a, n);
			CHECK(malloc_usable_size(p) >= n, "aligned_alloc usable");
			memset(p, 0x5a, n);
			free(p);
			p = memalign(a, n);
			CHECK(p && (uintptr_t)p % a == 0, "memalign(%zu, %zu)", a,
			      n);
			CHECK(malloc_usable_size(p) >= n, "memalign usable");
			memset(p, 0x5a, n);
			free(p);
		}
	}
	ok("aligned_alloc and memalign align for every power of two 1..4MiB");
	errno = 0;
	expect_enomem(memalign(64, vmax), "memalign(64, SIZE_MAX) is NULL, ENOMEM");
	errno = 0;
	expect_enomem(aligned_alloc(64, vmax),
		      "aligned_alloc(64, SIZE_MAX) is NULL, ENOMEM");

	size_t vs[] = { 1, 100, (size_t)page, (size_t)page + 1, 5 * (size_t)page };
	for (int k = 0; k < 5; k++) {
		p = valloc(vs[k]);
		CHECK(p && (uintptr_t)p % page == 0, "valloc(%zu)", vs[k]);
		CHECK(malloc_usable_size(p) >= vs[k], "valloc usable");
		memset(p, 1, vs[k]);
		free(p);
		p = pvalloc(vs[k]);
		size_t rounded = (vs[k] + page - 1) / page * page;
		CHECK(p && (uintptr_t)p % page == 0, "pvalloc(%zu)", vs[k]);
		CHECK(malloc_usable_size(p) >= rounded,
		      "pvalloc(%zu): usable %zu < %zu", vs[k],
		      malloc_usable_size(p), rounded);
		/* The whole rounded size is the program's. */
		memset(p, 2, rounded);
		free(p);
	}
	p = pvalloc(vzero);
	CHECK(p && (uintptr_t)p % page == 0, "pvalloc(0)");
	free(p);
	ok("valloc is page aligned; pvalloc rounds up to whole pages");

	/* calloc zeroes recycled memory. */
	for (size_t n = 8; n <= (4 << 20); n *= 4) {
		p = malloc(n);
		CHECK(p, "malloc(%zu)", n);
		memset(p, 0xff, n);
		free(p);
		p = calloc(1, n);
		CHECK(p && tu_all_zero(p, n), "calloc(1, %zu) not zero", n);
		free(p);
	}
	ok("calloc returns zeroed memory");

	/* realloc keeps contents across size classes, both directions. */
	p = malloc(1);
	CHECK(p, "malloc(1)");
	tu_fill(p, 1, 5);
	size_t cur = 1;
	for (size_t n = 2; n <= (8 << 20); n *= 3) {
		q = realloc(p, n);
		CHECK(q && tu_check(q, cur, 5) == cur, "realloc grow to %zu", n);
		tu_fill(q, n, 5);
		p = q;
		cur = n;
	}
	for (size_t n = cur / 3; n >= 1; n /= 3) {
		q = realloc(p, n);
		CHECK(q && tu_check(q, n, 5) == n, "realloc shrink to %zu", n);
		p = q;
		if (n == 1)
			break;
	}
	free(p);
	ok("realloc keeps contents growing and shrinking");

	/* C23 free_sized/free_aligned_sized: glibc 2.36 lacks them, pacegc
	 * exports them; call them where the process has them. */
	void (*fs)(void *, size_t) =
		(void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	void (*fas)(void *, size_t, size_t) =
		(void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT,
							 "free_aligned_sized");
	if (fs) {
		for (size_t n = 1; n <= (4 << 20); n = n * 5 + 3) {
			p = malloc(n);
			CHECK(p, "malloc(%zu)", n);
			memset(p, 9, n);
			fs(p, n);
		}
		fs(NULL, 0);
	}
	if (fas) {
		for (size_t a = 16; a <= (1 << 20); a <<= 2) {
			p = aligned_alloc(a, 3 * a);
			CHECK(p, "aligned_alloc");
			memset(p, 9, 3 * a);
			fas(p, a, 3 * a);
		}
		fas(NULL, 64, 0);
	}
	ok("free_sized and free_aligned_sized, where present");
	return 0;
}
