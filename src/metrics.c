/* The metrics file's text: see metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static const uint64_t bound_ns[METRICS_PAUSE_BUCKETS] = {
  10000, 50000, 100000, 500000, 1000000, 5000000, 10000000, 50000000,
  100000000, 500000000, 1000000000, 5000000000,
};
static const char *const bound_text[METRICS_PAUSE_BUCKETS] = {
  "1e-05", "5e-05", "0.0001", "0.0005", "0.001", "0.005", "0.01", "0.05",
  "0.1", "0.5", "1", "5",
};

void metrics_hist_add(metrics_hist_t *h, uint64_t ns) {
  size_t i = 0;
  while (i < METRICS_PAUSE_BUCKETS && ns > bound_ns[i]) i++;
  if (i < METRICS_PAUSE_BUCKETS) h->counts[i]++;
  else h->over++;
  h->sum_ns += ns;
}

/* Appends to a buffer; once something does not fit, nothing more is. */
typedef struct out { char *p; size_t cap, n; bool full; } out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
  if (o->full) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= o->cap - o->n) o->full = true;
  else o->n += (size_t)k;
}

static void head(out_t *o, const char *name, const char *type, const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(out_t *o, const char *name, const char *type, const char *help, uint64_t v) {
  head(o, name, type, help);
  put(o, "%s %llu\n", name, (unsigned long long)v);
}

/* Seconds from nanoseconds, exactly: integer digits, no float rounding. */
static void seconds(out_t *o, const char *name, const char *type, const char *help, uint64_t ns) {
  head(o, name, type, help);
  put(o, "%s %llu.%09llu\n", name, (unsigned long long)(ns / 1000000000u),
      (unsigned long long)(ns % 1000000000u));
}

static void pauses(out_t *o, const metrics_hist_t *h) {
  const char *name = "pacegc_gc_pause_seconds";
  head(o, name, "histogram", "Time the world was stopped, per stop (a concurrent cycle "
                             "stops it twice).");
  uint64_t total = 0;
  for (size_t i = 0; i < METRICS_PAUSE_BUCKETS; i++) {
    total += h->counts[i];
    put(o, "%s_bucket{le=\"%s\"} %llu\n", name, bound_text[i], (unsigned long long)total);
  }
  total += h->over;
  put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
  put(o, "%s_sum %llu.%09llu\n", name, (unsigned long long)(h->sum_ns / 1000000000u),
      (unsigned long long)(h->sum_ns % 1000000000u));
  put(o, "%s_count %llu\n", name, (unsigned long long)total);
}

/* One family with one sample: its name, type, help and value. */
typedef struct plain { const char *name, *type, *help; uint64_t v; } plain_t;

size_t metrics_format(char *buf, size_t cap, const metrics_t *m) {
  out_t o = { buf, cap, 0, cap == 0 };
  const pacegc_stats_t *s = &m->stats;
  const plain_t before[] = {
    { "pacegc_gc_cycles_total", "counter", "Completed GC cycles.", s->num_gc },
    { "pacegc_gc_cycles_forced_total", "counter",
      "GC cycles the program asked for (pacegc_collect).", s->num_forced_gc },
    { "pacegc_gc_heap_live_bytes", "gauge",
      "Heap the last cycle marked live, plus what was allocated since.", s->heap_live },
    { "pacegc_gc_heap_marked_bytes", "gauge", "Heap the last cycle marked live.",
      s->heap_marked },
    { "pacegc_gc_heap_goal_bytes", "gauge", "Heap size at which the next cycle should end.",
      s->heap_goal },
    { "pacegc_gc_heap_trigger_bytes", "gauge", "Heap size at which the next cycle starts.",
      s->heap_trigger },
    { "pacegc_gc_heap_allocated_bytes", "gauge", "Bytes in allocations, live or not yet swept.",
      s->heap_allocated },
    { "pacegc_memory_held_bytes", "gauge",
      "Memory pacegc holds and has not returned to the OS, bookkeeping included.",
      s->memory_held },
    { "pacegc_memory_released_bytes_total", "counter",
      "Heap memory the scavenger returned to the OS.", s->heap_released },
    { "pacegc_gc_gomemlimit_bytes", "gauge", "The soft memory limit (9223372036854775807: none).",
      (uint64_t)s->memory_limit },
  };
  const plain_t after[] = {
    { "pacegc_gc_reclaimed_bytes_total", "counter",
      "Bytes the collector freed: leaks it found unreachable, and with PACEGC_FREE=defer "
      "the program's own frees it carried out.", m->reclaimed_bytes },
    { "pacegc_gc_reclaimed_objects_total", "counter",
      "Allocations the collector freed (as pacegc_gc_reclaimed_bytes_total).",
      m->reclaimed_objects },
    { "pacegc_bad_frees_total", "counter", "Invalid and double frees reported and ignored.",
      m->bad_frees },
    { "pacegc_gc_limiter_engagements_total", "counter",
      "GC cycles in which the CPU limiter engaged.", m->limiter_engagements },
    { "pacegc_gc_limiter_last_enabled_gc_cycle", "gauge",
      "The last cycle in which the CPU limiter engaged (0: never).", s->limiter_last_enabled },
  };
  for (size_t i = 0; i < sizeof before / sizeof *before; i++)
    value(&o, before[i].name, before[i].type, before[i].help, before[i].v);
  head(&o, "pacegc_gc_gogc_percent", "gauge", "GOGC (-1: off).");
  put(&o, "pacegc_gc_gogc_percent %d\n", s->gogc);
  seconds(&o, "pacegc_gc_cpu_seconds_total", "counter",
          "CPU time of the collector: pauses, marking, sweeping and assists.", s->gc_cpu_ns);
  pauses(&o, &m->pauses);
  for (size_t i = 0; i < sizeof after / sizeof *after; i++)
    value(&o, after[i].name, after[i].type, after[i].help, after[i].v);
  if (o.full) {
    if (cap > 0) buf[0] = 0;
    return 0;
  }
  return o.n;
}
