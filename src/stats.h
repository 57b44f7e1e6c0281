/*
 * glibc's introspection calls (mallinfo, malloc_stats, malloc_info,
 * malloc_trim, mallopt) answered from the heap's counters, so programs that
 * call them keep working and see numbers that mean what glibc's mean.
 */
#ifndef PACEGC_STATS_H
#define PACEGC_STATS_H

#include <malloc.h>
#include <stdio.h>

#include "heap.h"
#include "pacegc.h"

struct mallinfo2 stats_mallinfo2(void);
struct mallinfo stats_mallinfo(void);
int stats_malloc_trim(size_t pad);
int stats_mallopt(int param, int value);
void stats_malloc_stats(void);
int stats_malloc_info(int options, FILE *fp);

/* pacegc_read_stats's heap fields from *s (the rest zero): the collector
 * adds its own (gc_read_stats, or under its lock after a cycle). */
void stats_fill_heap(pacegc_stats_t *out, const heap_stats_t *s);

#endif
