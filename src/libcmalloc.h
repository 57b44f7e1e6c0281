/*
 * glibc's own allocations, in a process whose malloc is pacegc's.  Some
 * code still reaches glibc's allocator: a library loaded with
 * RTLD_DEEPBIND binds to it before dlwrap.c can rebind it, and code may
 * call __libc_malloc.  Its chunks are recognised by glibc's own layout (a
 * size word below the pointer whose flags say where the chunk lives, in
 * memory read without faulting) and handed back to glibc, as a program
 * running plain would have them freed, rather than reported as bad.
 */
#ifndef PACEGC_LIBCMALLOC_H
#define PACEGC_LIBCMALLOC_H

#include <stddef.h>
#include <stdbool.h>

/* At start-up, before glibc's allocator can have grown the brk heap. */
void libcmalloc_init(void);

/* Whether p is a live allocation of glibc's malloc (never one of the
 * heap's: callers ask only for pointers outside pacegc's range). */
bool libcmalloc_owns(const void *p);

/* glibc's malloc_usable_size (its free and realloc are exported as
 * __libc_free and __libc_realloc). */
size_t libcmalloc_usable_size(void *p);

#endif
