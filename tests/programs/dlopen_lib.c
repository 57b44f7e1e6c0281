/* A small module for dlopen_main: allocates in its constructor and in its
 * functions, frees what the main program allocated, and frees its own
 * constructor allocation in its destructor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *ctor_buf;
static size_t ctor_len;
static void **ctor_table;
static __thread char *tls_buf;

__attribute__((constructor)) static void lib_init(void)
{
	ctor_len = 100000;
	ctor_buf = malloc(ctor_len);
	if (!ctor_buf)
		abort();
	tu_fill(ctor_buf, ctor_len, 4242);
	ctor_table = calloc(64, sizeof(void *));
	if (!ctor_table)
		abort();
	for (int i = 0; i < 64; i++) {
		ctor_table[i] = malloc(16 + i * 8);
		if (!ctor_table[i])
			abort();
		memset(ctor_table[i], i, 16 + i * 8);
	}
}

__attribute__((destructor)) static void lib_fini(void)
{
	for (int i = 0; i < 64; i++)
		free(ctor_table[i]);
	free(ctor_table);
	free(ctor_buf);
	free(tls_buf);
}

/* Is the constructor's data intact? */
int dl_check_ctor(void)
{
	if (tu_check(ctor_buf, ctor_len, 4242) != ctor_len)
		return 0;
	for (int i = 0; i < 64; i++) {
		unsigned char *p = ctor_table[i];
		for (int j = 0; j < 16 + i * 8; j++)
			if (p[j] != (unsigned char)i)
				return 0;
	}
	return 1;
}

/* Pattern buffers from, checked by, and grown by this module's own
 * malloc, free and realloc. */
void *dl_make(size_t n, uint64_t seed) { return tu_make(n, seed); }
int dl_consume(void *p, size_t n, uint64_t seed) { return tu_consume(p, n, seed); }
void *dl_grow(void *p, size_t n, size_t m, uint64_t seed) { return tu_grow(p, n, m, seed); }

char *dl_strdup(const char *s)
{
	return strdup(s);
}

/* Keeps a thread-local allocation alive until the destructor.  The
 * module's TLS block is itself from malloc (dynamic TLS), reached only
 * through the thread's DTV. */
void dl_tls(void)
{
	free(tls_buf);
	tls_buf = malloc(333);
	if (tls_buf)
		tu_fill(tls_buf, 333, 333);
}

/* Is this thread's dl_tls() allocation intact? */
int dl_tls_check(void)
{
	return tls_buf && tu_check(tls_buf, 333, 333) == 333;
}
