/*
 * glibc's introspection calls (mallinfo, malloc_stats, malloc_info,
 * malloc_trim, mallopt) answered from the heap's counters, so programs that
 * call them keep working and see numbers that mean what glibc's mean.
 */
#ifndef PACEGC_STATS_H
#define PACEGC_STATS_H

#include <malloc.h>
#include <stdio.h>

struct mallinfo2 stats_mallinfo2(void);
struct mallinfo stats_mallinfo(void);
int stats_malloc_trim(size_t pad);
int stats_mallopt(int param, int value);
void stats_malloc_stats(void);
int stats_malloc_info(int options, FILE *fp);

#endif
