/* The module deepbind.c loads with RTLD_DEEPBIND: its own malloc, free,
 * realloc and calloc calls bind to the C library's allocator (the first
 * definition in its own dependency chain), not to one preloaded in front
 * of the program.  Calls the C library makes internally (strdup) still go
 * through the global scope.  Each function does one thing with memory
 * that may come from either side. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Pattern buffers from, checked by, and grown by this module's own
 * malloc, free and realloc. */
void *db_make(size_t n, uint64_t seed) { return tu_make(n, seed); }
int db_consume(void *p, size_t n, uint64_t seed) { return tu_consume(p, n, seed); }
void *db_grow(void *p, size_t n, size_t m, uint64_t seed) { return tu_grow(p, n, m, seed); }

/* strdup (its malloc reached through the C library) and this module's
 * free of the copy, all inside the module. */
int db_strdup_roundtrip(const char *s)
{
	char *c = strdup(s);
	if (!c)
		return 0;
	int ok = strcmp(c, s) == 0;
	free(c);
	return ok;
}

/* A table from this module's calloc that holds the only pointers to
 * objects the caller allocated. */
static void **table;
static size_t table_n;

int db_keep(void **ptrs, size_t n)
{
	table = calloc(n, sizeof *table);
	if (!table)
		return 0;
	memcpy(table, ptrs, n * sizeof *table);
	table_n = n;
	return 1;
}

void **db_kept(size_t *n)
{
	*n = table_n;
	return table;
}

void db_drop_table(void)
{
	free(table);
	table = NULL;
	table_n = 0;
}

/* Buffers the module allocated in its constructor, which runs inside
 * dlopen: before any preloaded allocator can rebind the module, so with
 * RTLD_DEEPBIND they come from the C library's malloc.  1 B to 1 MiB:
 * glibc's small, large and mmap'd chunks. */
#define CTOR_BUFFERS 8
static void *ctor_buffers[CTOR_BUFFERS];
static const size_t ctor_sizes[CTOR_BUFFERS] = { 1, 24, 100, 1000, 5000, 70000, 200000, 1 << 20 };

__attribute__((constructor)) static void db_init(void)
{
	for (int i = 0; i < CTOR_BUFFERS; i++) {
		ctor_buffers[i] = malloc(ctor_sizes[i]);
		if (ctor_buffers[i])
			tu_fill(ctor_buffers[i], ctor_sizes[i], 7000 + i);
	}
}

/* Hands buffer i (of *size bytes, filled with seed 7000 + i) over to the
 * caller, who frees it. */
void *db_ctor_buffer(int i, size_t *size)
{
	void *p = ctor_buffers[i];
	ctor_buffers[i] = NULL;
	*size = ctor_sizes[i];
	return p;
}
