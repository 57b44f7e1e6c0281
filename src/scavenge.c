/* The scavenger: see scavenge.h. */
#include "scavenge.h"

#include <stdatomic.h>

#include "config.h"
#include "trace.h"

/* Work since the last trace line, and in all.  Written under gc.c's lock,
 * except by scavenge_force, hence atomics. */
static _Atomic uint64_t scav_bg, scav_eager, scav_total;

static bool scavenge_over(const pacer_scavenge_goals_t *g, const heap_stats_t *s) {
  return scavenge_retained(s) > g->gcpercent || scavenge_held(s) > g->memory_limit;
}

/* *s: a snapshot from just before; refreshed. */
static size_t scavenge_release(heap_stats_t *s, bool eager) {
  size_t released = heap_purge(s);
  atomic_fetch_add(eager ? &scav_eager : &scav_bg, released);
  atomic_fetch_add(&scav_total, released);
  return released;
}

size_t scavenge_run(const pacer_scavenge_goals_t *g, heap_stats_t *s, bool eager) {
  if (s->dirty == 0 || !scavenge_over(g, s)) return 0;
  return scavenge_release(s, eager);
}

static void scavenge_write(const heap_stats_t *s, bool forced) {
  trace_scav_t t = {
    .bg_bytes = atomic_exchange(&scav_bg, 0), .eager_bytes = atomic_exchange(&scav_eager, 0),
    .released_bytes = s->released, .inuse_bytes = s->active, .free_bytes = s->dirty,
    .forced = forced,
  };
  trace_write_scav(&t);
}

size_t scavenge_force(void) {
  heap_stats_t s;
  heap_read_stats(&s);
  size_t released = scavenge_release(&s, false);
  if (config_get()->scavtrace > 0) scavenge_write(&s, true);
  return released;
}

void scavenge_trace(const heap_stats_t *s) {
  if (config_get()->scavtrace > 0) scavenge_write(s, false);
}

uint64_t scavenge_released_total(void) { return atomic_load(&scav_total); }
