/* dlopen a module that allocates in its constructor and functions; pass
 * memory both ways across the boundary and free it on the other side;
 * dlclose (the destructor frees the constructor's memory).  Repeated.
 * Usage: dlopen_main /path/to/libdltarget.so */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ROUNDS 20

int main(int argc, char **argv)
{
	CHECK(argc == 2, "usage: dlopen_main MODULE");
	for (int round = 0; round < ROUNDS; round++) {
		void *h = dlopen(argv[1], round % 2 ? RTLD_NOW : RTLD_LAZY);
		CHECK(h, "dlopen: %s", dlerror());
		int (*check_ctor)(void) = (int (*)(void))dlsym(h, "dl_check_ctor");
		void *(*make)(size_t, uint64_t) =
			(void *(*)(size_t, uint64_t))dlsym(h, "dl_make");
		int (*consume)(void *, size_t, uint64_t) =
			(int (*)(void *, size_t, uint64_t))dlsym(h, "dl_consume");
		void *(*grow)(void *, size_t, size_t, uint64_t) =
			(void *(*)(void *, size_t, size_t, uint64_t))dlsym(
				h, "dl_grow");
		char *(*dstrdup)(const char *) =
			(char *(*)(const char *))dlsym(h, "dl_strdup");
		void (*tls)(void) = (void (*)(void))dlsym(h, "dl_tls");
		int (*tls_check)(void) = (int (*)(void))dlsym(h, "dl_tls_check");
		CHECK(check_ctor && make && consume && grow && dstrdup && tls &&
			      tls_check,
		      "dlsym: %s", dlerror());
		CHECK(check_ctor(), "constructor data corrupted");
		tls();

		/* Module allocates, main frees. */
		for (size_t n = 1; n < (1 << 21); n = n * 3 + 1) {
			void *p = make(n, n + round);
			CHECK(p, "dl_make(%zu)", n);
			CHECK(tu_check(p, n, n + round) == n, "dl_make data");
			free(p);
		}
		/* Main allocates, module frees. */
		for (size_t n = 1; n < (1 << 21); n = n * 3 + 2) {
			void *p = malloc(n);
			CHECK(p, "malloc");
			tu_fill(p, n, n ^ round);
			CHECK(consume(p, n, n ^ round), "dl_consume saw bad data");
		}
		/* Main allocates, module reallocs, main frees. */
		void *p = malloc(10);
		CHECK(p, "malloc");
		tu_fill(p, 10, 9);
		p = grow(p, 10, 300000, 9);
		CHECK(p && tu_check(p, 300000, 9) == 300000, "dl_grow");
		free(p);
		char *s = dstrdup("allocated by the module");
		CHECK(s && strcmp(s, "allocated by the module") == 0, "strdup");
		free(s);
		CHECK(check_ctor(), "constructor data corrupted");
		CHECK(tls_check(), "the module's thread-local object corrupted");
		CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
	}
	printf("dlopen: %d rounds of dlopen/dlclose ok\n", ROUNDS);
	return 0;
}
