/* The pacer as the collector drives it: see pace.h. */
#include "pace.h"

#include <stdatomic.h>

#include "os.h"
#include "pacegc.h"
#include "runwait.h"
#include "scavenge.h"

static pacer_t pace_pacer;

static struct pace {
  int procs;
  _Atomic int64_t next_tick;   /* ns; no tick before */
  int64_t process_cpu;         /* process CPU-ns at the limiter's last update */
  int64_t last_gc_ns;          /* the last cycle's pause (+ its sweep per proc, once over) */
  uint64_t last_inuse;         /* active bytes when the last cycle started */
} pace = { .procs = 1, .next_tick = INT64_MAX };   /* no tick before pace_init */

void pace_init(const pacegc_config_t *c, int64_t now) {
  pace.procs = c->maxprocs;
  pacer_init(&pace_pacer, c->pacer_go117 ? PACER_GO117 : PACER_TIP, c->gogc, c->memlimit);
  pacer_limiter_reset_capacity(&pace_pacer.limiter, now, pace.procs);
  pace.process_cpu = os_process_cpu_ns();
  atomic_store(&pace.next_tick, now + PACER_LIMITER_PERIOD);
}

int64_t pace_trigger(void) {
  uint64_t t = pacer_trigger(&pace_pacer, NULL);
  return t > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t;
}

/* Proc time no thread of the process used or waited for since the
 * limiter's last update is idle: neither GC nor mutator time (Go counts
 * idle Ps the same way; runwait.h says why the waiting counts).  Call
 * right before an update to `now`. */
static void pace_account_idle(int64_t now, double wait_per_cpu) {
  pacer_limiter_t *l = &pace_pacer.limiter;
  int64_t cpu = os_process_cpu_ns();
  int64_t capacity = (now - l->last_update) * pace.procs, used = cpu - pace.process_cpu;
  pace.process_cpu = cpu;
  pacer_limiter_add_idle(l, pacer_limiter_idle(capacity, used, wait_per_cpu));
}

static void pace_update_limiter(int64_t now) {
  if (pace_pacer.limiter.transitioning) return;
  pace_account_idle(now, runwait_ratio(now));
  pacer_limiter_update(&pace_pacer.limiter, now);
}

/* The soft limit's inputs (go-pacer.md §1.2).  A is the heap the trigger
 * counts (marked + allocated since): garbage a cycle found but has not
 * freed yet (the reclaim delay) is then held memory outside the heap, so
 * the limit goal makes room for it. */
static void pace_feed_memory(const heap_stats_t *hs, int64_t heap_live) {
  uint64_t held = scavenge_held(hs), free = hs->dirty < held ? hs->dirty : held;
  uint64_t alloc = heap_live > 0 ? (uint64_t)heap_live : 0;
  if (alloc > hs->allocated) alloc = hs->allocated;
  if (alloc > held - free) alloc = held - free;
  pacer_set_memory(&pace_pacer, held, free, alloc);
}

static pacer_scavenge_goals_t pace_scavenge_goals(const heap_stats_t *hs) {
  return pacer_scavenge_goals(&pace_pacer, scavenge_held(hs), scavenge_retained(hs),
                              pace.last_inuse, (uint64_t)PAGE_SIZE);
}

int64_t pace_heap_goal(void) {
  uint64_t g = pacer_heap_goal(&pace_pacer);
  return g > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)g;
}

bool pace_limit_sets_goal(void) {
  return pace_pacer.mem_limit != PACER_NO_LIMIT &&
         pacer_memory_limit_goal(&pace_pacer) < pace_pacer.gcpercent_goal;
}

void pace_mark_begin(const pacer_cycle_t *pc) { pacer_begin(&pace_pacer, pc); }
void pace_mark_end(const pacer_cycle_t *pc) { pacer_finish_cycle(&pace_pacer, pc); }

void pace_revise(int64_t heap_live, uint64_t scan_work) {
  pace_pacer.heap_live = heap_live > 0 ? (uint64_t)heap_live : 0;
  pace_pacer.heap_scan_work = scan_work;
  pacer_revise(&pace_pacer);
}

double pace_assist_work_per_byte(void) {
  double per_byte = pace_pacer.assist_work_per_byte;
  return pacer_limiter_limiting(&pace_pacer.limiter) || !(per_byte > 0) ? 0 : per_byte;
}

void pace_mark_workers(int *dedicated, double *fraction) {
  *dedicated = pace_pacer.dedicated_workers;
  *fraction = pace_pacer.fractional_goal * pace.procs;
}

void pace_add_gc_cpu(int64_t ns) { pacer_limiter_add_assist(&pace_pacer.limiter, ns); }

void pace_read_stats(pacegc_stats_t *out) {
  out->heap_marked = pace_pacer.heap_marked;
  uint64_t goal, trigger = pacer_trigger(&pace_pacer, &goal);
  out->heap_goal = goal > SIZE_MAX ? SIZE_MAX : (size_t)goal;
  out->heap_trigger = trigger > SIZE_MAX ? SIZE_MAX : (size_t)trigger;
  out->memory_limit = pace_pacer.mem_limit;
  out->gogc = pace_pacer.gogc;
  out->limiter_last_enabled = pace_pacer.limiter.last_enabled_cycle;
}

uint32_t pace_limiter_last_enabled(void) { return pace_pacer.limiter.last_enabled_cycle; }

bool pace_tick_due(int64_t now) {
  return now >= atomic_load_explicit(&pace.next_tick, memory_order_relaxed);
}

void pace_tick(int64_t now, int64_t heap_live) {
  atomic_store_explicit(&pace.next_tick, now + PACER_LIMITER_PERIOD, memory_order_relaxed);
  pace_update_limiter(now);
  if (pace_pacer.mem_limit == PACER_NO_LIMIT) return;
  heap_stats_t hs;
  heap_read_stats(&hs);
  pace_feed_memory(&hs, heap_live);
  bool eager = scavenge_held(&hs) > (uint64_t)pace_pacer.mem_limit;
  if (!(eager && pacer_limiter_limiting(&pace_pacer.limiter))) {
    pacer_scavenge_goals_t g = pace_scavenge_goals(&hs);
    if (scavenge_run(&g, &hs, eager) > 0) pace_feed_memory(&hs, heap_live);
  }
}

bool pace_cycle_allowed(int64_t now) {
  if (pacer_limiter_need_update(&pace_pacer.limiter, now)) pace_update_limiter(now);
  return pacer_limiter_allows_pause(&pace_pacer.limiter, pace.last_gc_ns);
}

void pace_pause_begin(int64_t t0) {
  pace_account_idle(t0, runwait_last());
  pacer_limiter_start_transition(&pace_pacer.limiter, true, t0);
}

/* The pause counted as GC time on every proc; marking is over with it. */
void pace_pause_end(int64_t t1) {
  pacer_limiter_t *l = &pace_pacer.limiter;
  pacer_limiter_finish_transition(l, t1);
  pacer_limiter_start_transition(l, false, t1);
  pacer_limiter_finish_transition(l, t1);
  pace.process_cpu = os_process_cpu_ns();
}

/* The child's process CPU clock starts from zero. */
void pace_after_fork_child(void) { pace.process_cpu = os_process_cpu_ns(); }

void pace_cycle_start(const heap_stats_t *hs) { pace.last_inuse = hs->active; }

void pace_cycle_end(int64_t pause_ns) { pace.last_gc_ns = pause_ns; }

void pace_sweep_end(int64_t sweep_ns) {
  pacer_limiter_add_assist(&pace_pacer.limiter, sweep_ns);
  pace.last_gc_ns += sweep_ns / pace.procs;
}

void pace_scavenge(const heap_stats_t *hs, int64_t heap_live) {
  heap_stats_t after = *hs;
  pace_feed_memory(&after, heap_live);
  pacer_scavenge_goals_t g = pace_scavenge_goals(&after);
  if (scavenge_run(&g, &after, false) > 0) pace_feed_memory(&after, heap_live);
  scavenge_trace(&after);
}

int pace_set_gogc(int gogc) {
  int old = pacer_set_gogc(&pace_pacer, gogc < 0 ? PACER_GOGC_OFF : gogc);
  pacer_commit(&pace_pacer, true);
  return old;
}

int64_t pace_set_memory_limit(int64_t limit) {
  int64_t old = pacer_set_memory_limit(&pace_pacer, limit);
  pacer_commit(&pace_pacer, true);
  return old;
}
