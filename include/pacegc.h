/*
 * pacegc's optional API, for programs that link libpacegc.so directly or
 * look the symbols up with dlsym.  Programs run under LD_PRELOAD need none
 * of it.  The calls mirror the Go runtime's: runtime.GC, debug.SetGCPercent,
 * debug.SetMemoryLimit, debug.FreeOSMemory, runtime.ReadMemStats.
 */
#ifndef PACEGC_H
#define PACEGC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pacegc_stats {
  size_t heap_allocated;   /* bytes in allocations, live or not yet swept */
  size_t heap_resident;    /* bytes of heap memory resident in RAM */
  size_t heap_mapped;      /* bytes of heap memory mapped */
  size_t heap_live;        /* bytes the last cycle marked + allocated since */
  size_t heap_marked;      /* bytes the last cycle found live */
  size_t heap_goal;        /* the heap size at which the next cycle should end */
  size_t heap_trigger;     /* the heap size at which the next cycle starts */
  size_t memory_held;      /* pacegc's memory not returned to the OS, bookkeeping included */
  size_t heap_released;    /* bytes the scavenger has returned to the OS, in all */
  int64_t memory_limit;    /* INT64_MAX when there is none */
  int gogc;                /* percent, or -1 when off */
  uint32_t num_gc;         /* cycles completed */
  uint32_t num_forced_gc;  /* of which the program asked for */
  uint32_t limiter_last_enabled;   /* cycle in which the CPU limiter last engaged; 0 never */
  uint64_t gc_cpu_ns;      /* CPU time of the collector: pauses, marking and sweeping */
  uint64_t pause_total_ns; /* wall time the world was stopped, in all */
} pacegc_stats_t;

/* Fills *out with current statistics. */
void pacegc_read_stats(pacegc_stats_t *out);

/* Runs a full collection cycle now (shown as "(forced)" in gctrace). */
void pacegc_collect(void);

/* Sets GOGC (a negative value turns it off) and returns the old value
 * (-1 when it was off).  Takes effect at once. */
int pacegc_set_gogc(int percent);

/* Sets the soft memory limit in bytes (INT64_MAX: none) and returns the
 * old one; a negative value only reads it. */
int64_t pacegc_set_memory_limit(int64_t limit);

/* Runs a cycle, then returns every free page to the OS. */
void pacegc_free_os_memory(void);

#ifdef __cplusplus
}
#endif

#endif
