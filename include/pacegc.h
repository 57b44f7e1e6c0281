/*
 * pacegc's optional API, for programs that link libpacegc.so directly or
 * look the symbols up with dlsym.  Programs run under LD_PRELOAD need none
 * of it.
 */
#ifndef PACEGC_H
#define PACEGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pacegc_stats {
  size_t heap_allocated;   /* bytes in live allocations */
  size_t heap_resident;    /* bytes of heap memory resident in RAM */
  size_t heap_mapped;      /* bytes of heap memory mapped */
} pacegc_stats_t;

/* Fills *out with current statistics. */
void pacegc_read_stats(pacegc_stats_t *out);

/* Runs a full collection cycle now (shown as "(forced)" in gctrace). */
void pacegc_collect(void);

#ifdef __cplusplus
}
#endif

#endif
