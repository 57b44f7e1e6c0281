/*
 * The metrics file (PACEGC_METRICS): Prometheus's text exposition format,
 * for node_exporter's textfile collector and anything else that scrapes
 * files.  Names follow the Go runtime's /gc/... metrics as the Go
 * Prometheus collector spells them (go_gc_cycles_total_gc_cycles_total
 * becomes pacegc_gc_cycles_total), with pacegc's own where Go has none
 * (reclaimed leaks, bad frees).
 *
 * Pure: formats what the caller gathered (metrics_out.c writes it).
 */
#ifndef PACEGC_METRICS_H
#define PACEGC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pacegc.h"

/* Pause buckets, upper bounds in seconds: 10 us to 5 s. */
#define METRICS_PAUSE_BUCKETS 12

typedef struct metrics_hist {
  uint64_t counts[METRICS_PAUSE_BUCKETS];   /* pauses at most each bound (not cumulative) */
  uint64_t over;                            /* longer than the last bound */
  uint64_t sum_ns;
} metrics_hist_t;

typedef struct metrics {
  pacegc_stats_t stats;          /* what pacegc_read_stats says */
  metrics_hist_t pauses;         /* the world stopped, per cycle */
  uint64_t reclaimed_bytes;      /* unreachable allocations freed, in all */
  uint64_t reclaimed_objects;
  uint64_t bad_frees;            /* invalid and double frees reported */
  uint64_t limiter_engagements;  /* cycles in which the CPU limiter engaged */
} metrics_t;

void metrics_hist_add(metrics_hist_t *h, uint64_t ns);

/* The exposition text, NUL-terminated, into buf; its length, or 0 if it
 * does not fit in cap bytes. */
size_t metrics_format(char *buf, size_t cap, const metrics_t *m);

#endif
