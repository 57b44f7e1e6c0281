/* The pacer: see pacer.h, and shared/research/go-pacer.md for the spec. */
#include "pacer.h"

#include <math.h>
#include <stddef.h>

#define MIB                     ((uint64_t)1 << 20)
#define SWEEP_MIN_HEAP_DISTANCE MIB          /* sweeper's runway, §3.4 */
#define MIN_RUNWAY              ((uint64_t)64 << 10)   /* goal >= T + this */
#define TRIGGER_RATIO_DEN       64
#define MIN_TRIGGER_RATIO_NUM   45           /* ~0.70 of the way to the goal */
#define MAX_TRIGGER_RATIO_NUM   61           /* ~0.95 */
#define HEADROOM_PERCENT        3            /* memory-limit goal, tip */
#define MIN_HEADROOM            MIB
#define MAX_OVERSHOOT           1.1          /* past the goal: 10% more room */
#define GOGC_WHEN_OFF           100000       /* revise() with GOGC=off */
#define MIN_SCAN_WORK_LEFT      1000
#define MAX_UTIL_ERROR          0.3          /* dedicated-worker rounding */
#define CAPACITY_PER_PROC       1000000000   /* limiter: 1 s per proc */
/* go117 */
#define GO117_GOAL_UTIL         (PACER_BG_UTIL + 0.05)
#define GO117_TRIGGER_GAIN      0.5
#define GO117_INITIAL_RATIO     (7 / 8.0)
#define GO117_GOAL_MIN_DISTANCE MIB          /* startCycle: goal >= H + 1 MiB */
/* go119's PI controller on cons/mark */
#define PI_KP 0.9
#define PI_TI 4.0
#define PI_TT 1000.0
#define PI_MIN (-1000.0)
#define PI_MAX 1000.0

/* Float to integer, saturating (NaN gives 0). */
static uint64_t f2u(double x) {
  if (!(x > 0))
    return 0;
  if (x >= 18446744073709551616.0)
    return UINT64_MAX;
  return (uint64_t)x;
}

static int64_t f2i(double x) {
  if (x != x)
    return 0;
  if (x >= 9223372036854775808.0)
    return INT64_MAX;
  if (x <= -9223372036854775808.0)
    return INT64_MIN;
  return (int64_t)x;
}

static int64_t u2i(uint64_t x) { return x > INT64_MAX ? INT64_MAX : (int64_t)x; }

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t max_u(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---- configuration --------------------------------------------------- */

void pacer_init(pacer_t *p, pacer_version_t version, int gogc, int64_t mem_limit) {
  *p = (pacer_t){0};
  p->version = version;
  p->heap_minimum = PACER_HEAP_MINIMUM;
  p->triggered = PACER_NONE;
  p->mem_limit = PACER_NO_LIMIT;
  if (version == PACER_GO117) {
    /* A made-up previous live heap, so that the initial trigger ratio puts
     * the first trigger at the heap minimum. */
    p->trigger_ratio = GO117_INITIAL_RATIO;
    p->heap_marked = (uint64_t)((double)p->heap_minimum / (1 + p->trigger_ratio));
  }
  pacer_set_gogc(p, gogc);
  pacer_set_memory_limit(p, mem_limit);
  pacer_commit(p, true);       /* no sweep before the first cycle */
}

int pacer_set_gogc(pacer_t *p, int gogc) {
  int old = p->gogc;
  if (gogc < 0)
    gogc = PACER_GOGC_OFF;
  /* Go computes 4 MiB·uint64(-1)/100 here for "off"; with an infinite
   * GOGC goal the minimum does not matter, so keep it 0. */
  p->heap_minimum = gogc < 0 ? 0 : PACER_HEAP_MINIMUM * (uint64_t)gogc / 100;
  p->gogc = gogc;
  return old;
}

int64_t pacer_set_memory_limit(pacer_t *p, int64_t limit) {
  int64_t old = p->mem_limit;
  if (limit >= 0)
    p->mem_limit = limit;
  return old;
}

void pacer_set_memory(pacer_t *p, uint64_t mapped_ready, uint64_t heap_free,
                      uint64_t heap_alloc) {
  p->mapped_ready = mapped_ready;
  p->heap_free = heap_free;
  p->heap_alloc = heap_alloc;
}

/* ---- goal and trigger ----------------------------------------------- */

/* goal minus the headroom for pacing error and scavenging slack (§1.2). */
static uint64_t apply_headroom(pacer_version_t v, uint64_t goal) {
  uint64_t hr = MIN_HEADROOM;
  if (v == PACER_TIP && goal / 100 * HEADROOM_PERCENT > hr)
    hr = goal / 100 * HEADROOM_PERCENT;
  if (goal < hr || goal - hr < hr)
    return hr;
  return goal - hr;
}

uint64_t pacer_limit_headroom_goal(pacer_version_t v, uint64_t limit) {
  return apply_headroom(v, limit);
}

uint64_t pacer_memory_limit_goal(const pacer_t *p) {
  uint64_t limit = (uint64_t)p->mem_limit;
  uint64_t r = p->mapped_ready, used = add_sat(p->heap_free, p->heap_alloc);
  /* Go rereads until F + A <= R; a torn snapshot here counts no non-heap. */
  uint64_t non_heap = used <= r ? r - used : 0;
  uint64_t over = r > limit ? r - limit : 0;
  if (over >= limit || non_heap >= limit - over)
    return p->heap_marked;     /* hopeless: continuous GC, limiter gives way */
  uint64_t goal = apply_headroom(p->version, limit - (non_heap + over));
  return max_u(goal, p->heap_marked);
}

/* §1.3: the lower of the GOGC and memory-limit goals, then the sweeper's
 * distance and the minimum runway if not memory-limited. */
static uint64_t heap_goal_internal(const pacer_t *p, uint64_t *min_trigger) {
  *min_trigger = 0;
  if (p->version == PACER_GO117)
    return p->committed_goal;
  uint64_t goal = p->gcpercent_goal;
  uint64_t limit_goal = pacer_memory_limit_goal(p);
  if (limit_goal < goal)
    return limit_goal;
  uint64_t sweep = p->sweep_dist_min_trigger;
  goal = max_u(goal, sweep);
  *min_trigger = sweep;
  if (p->triggered != PACER_NONE && goal < add_sat(p->triggered, MIN_RUNWAY))
    goal = add_sat(p->triggered, MIN_RUNWAY);
  return goal;
}

uint64_t pacer_heap_goal(const pacer_t *p) {
  uint64_t unused;
  return heap_goal_internal(p, &unused);
}

/* §2.4: goal minus runway, within [M + 45/64·d, M + 61/64·d] (d = goal-M),
 * the upper bound relaxed to goal - 4 MiB for large heaps. */
uint64_t pacer_trigger(const pacer_t *p, uint64_t *goal_out) {
  uint64_t min_trigger, goal = heap_goal_internal(p, &min_trigger);
  if (goal_out)
    *goal_out = goal;
  if (p->version == PACER_GO117)
    return p->committed_trigger;
  uint64_t m = p->heap_marked;
  if (m >= goal)
    return goal;
  uint64_t step = (goal - m) / TRIGGER_RATIO_DEN;
  min_trigger = max_u(min_trigger, m);
  min_trigger = max_u(min_trigger, step * MIN_TRIGGER_RATIO_NUM + m);
  uint64_t max_trigger = step * MAX_TRIGGER_RATIO_NUM + m;
  if (goal > PACER_HEAP_MINIMUM && goal - PACER_HEAP_MINIMUM > max_trigger)
    max_trigger = goal - PACER_HEAP_MINIMUM;
  max_trigger = max_u(max_trigger, min_trigger);
  uint64_t trigger = p->runway > goal ? min_trigger : goal - p->runway;
  if (trigger < min_trigger)
    trigger = min_trigger;
  if (trigger > max_trigger)
    trigger = max_trigger;
  return trigger;              /* <= goal: both bounds are */
}

/* ---- commit ---------------------------------------------------------- */

static uint64_t gcpercent_goal(const pacer_t *p, uint64_t extra) {
  if (p->gogc < 0)
    return PACER_NONE;
  uint64_t m = p->heap_marked, grow, base = add_sat(m, extra);
  if (__builtin_mul_overflow(base, (uint64_t)p->gogc, &grow))
    return PACER_NONE;         /* Go wraps; saturate instead */
  return add_sat(m, grow / 100);
}

/* go117: the trigger ratio, clamped, gives the trigger; the heap minimum
 * (and the sweeper's distance) floor it, and the goal follows it up. */
static void commit_go117(pacer_t *p, bool sweep_done) {
  uint64_t goal = gcpercent_goal(p, 0);
  double ratio = p->trigger_ratio;
  if (p->gogc >= 0) {
    double scale = (double)p->gogc / 100;
    if (ratio > 0.95 * scale)
      ratio = 0.95 * scale;
    if (ratio < 0.6 * scale)
      ratio = 0.6 * scale;
  } else if (ratio < 0) {
    ratio = 0;
  }
  p->trigger_ratio = ratio;
  uint64_t trigger = PACER_NONE;
  if (p->gogc >= 0) {
    trigger = f2u((double)p->heap_marked * (1 + ratio));
    uint64_t min_trigger = p->heap_minimum;
    if (!sweep_done)
      min_trigger = max_u(min_trigger, add_sat(p->heap_live, SWEEP_MIN_HEAP_DISTANCE));
    trigger = max_u(trigger, min_trigger);
    goal = max_u(goal, trigger);
  }
  p->committed_trigger = trigger;
  p->committed_goal = goal;
}

void pacer_commit(pacer_t *p, bool sweep_done) {
  if (p->version == PACER_GO117) {
    commit_go117(p, sweep_done);
  } else {
    p->sweep_dist_min_trigger =
        sweep_done ? 0 : add_sat(p->heap_live, SWEEP_MIN_HEAP_DISTANCE);
    uint64_t goal = gcpercent_goal(p, add_sat(p->last_stack_scan, p->globals_scan));
    p->gcpercent_goal = max_u(goal, p->heap_minimum);
    /* Bytes the mutator allocates while marking at 25% does the expected
     * work: cons/mark · (1-u)/u · W_expected (§2.3). */
    uint64_t expected = add_sat(add_sat(p->last_heap_scan, p->last_stack_scan),
                                p->globals_scan);
    p->runway = f2u((p->cons_mark * (1 - PACER_BG_UTIL) / PACER_BG_UTIL) *
                    (double)expected);
  }
  if (p->marking)
    pacer_revise(p);
}

/* ---- the cycle ------------------------------------------------------- */

void pacer_start_cycle(pacer_t *p, int64_t now, int procs, bool periodic) {
  if (procs < 1)
    procs = 1;
  p->heap_scan_work = p->stack_scan_work = p->globals_scan_work = 0;
  p->assist_time = p->idle_mark_time = 0;
  p->mark_start_time = now;
  if (p->version == PACER_GO117) {
    /* Assists are proportional to the distance left: keep some. */
    uint64_t floor = add_sat(p->heap_live, GO117_GOAL_MIN_DISTANCE);
    p->committed_goal = max_u(p->committed_goal, floor);
    p->triggered = p->heap_live;
  } else if (p->version == PACER_GO119) {
    p->triggered = pacer_trigger(p, NULL);
  } else {
    p->triggered = p->heap_live;
  }

  /* §3.1: dedicated workers for 25% of procs, rounded, and a fractional
   * worker where rounding is more than 30% off. */
  double total = (double)procs * PACER_BG_UTIL;
  int dedicated = (int)(total + 0.5);
  double err = (double)dedicated / total - 1;
  p->fractional_goal = 0;
  if (err < -MAX_UTIL_ERROR || err > MAX_UTIL_ERROR) {
    if ((double)dedicated > total)
      dedicated--;
    p->fractional_goal = (total - (double)dedicated) / (double)procs;
  }
  p->dedicated_workers = dedicated;
  if (periodic)
    p->max_idle_workers = dedicated > 0 ? 0 : 1;
  else
    p->max_idle_workers = procs - dedicated;
  p->marking = true;
  pacer_revise(p);
}

/* §3.2: scan work per allocated byte so that marking ends at the goal;
 * if the heap turns out bigger than expected, against an extrapolated goal
 * capped at γ·goal (go117: against 1.1×goal and all scannable heap). */
void pacer_revise(pacer_t *p) {
  int64_t g = p->gogc < 0 ? GOGC_WHEN_OFF : p->gogc;
  int64_t live = u2i(p->heap_live);
  int64_t goal, expected;
  if (p->version == PACER_GO117) {
    /* 1.17 counted only heap objects as scan work. */
    int64_t work = u2i(p->heap_scan_work), scan = u2i(p->heap_scan);
    goal = u2i(p->committed_goal);
    expected = f2i((double)scan * 100 / (double)(100 + g));
    if (live > goal || work > expected) {
      goal = f2i((double)goal * MAX_OVERSHOOT);
      expected = scan;
    }
    expected -= work;
  } else {
    int64_t work = u2i(add_sat(add_sat(p->heap_scan_work, p->stack_scan_work),
                               p->globals_scan_work));
    goal = u2i(pacer_heap_goal(p));
    expected = u2i(add_sat(add_sat(p->last_heap_scan, p->last_stack_scan),
                           p->globals_scan));
    int64_t max_work = u2i(add_sat(add_sat(p->heap_scan, p->max_stack_scan),
                                   p->globals_scan));
    if (work > expected) {
      int64_t t = u2i(p->triggered);
      int64_t ext = f2i((double)(goal - t) / (double)expected * (double)max_work);
      ext = ext > INT64_MAX - t ? INT64_MAX : ext + t;
      int64_t hard = f2i((1.0 + (double)g / 100.0) * (double)goal);
      goal = ext > hard ? hard : ext;
      expected = max_work;
    }
    if (live > goal) {
      goal = f2i((double)goal * MAX_OVERSHOOT);
      expected = max_work;
    }
    expected -= work;
  }
  int64_t work_left = expected < MIN_SCAN_WORK_LEFT ? MIN_SCAN_WORK_LEFT : expected;
  int64_t heap_left = goal - live;
  if (heap_left <= 0)
    heap_left = 1;
  p->assist_work_per_byte = (double)work_left / (double)heap_left;
  p->assist_bytes_per_work = (double)heap_left / (double)work_left;
}

/* go119: one step of the PI controller; false if it blew up. */
static bool pi_next(pacer_t *p, double input, double setpoint, double *out) {
  double raw = PI_KP * (setpoint - input) + p->pi_integral;
  if (!isfinite(raw)) {
    p->pi_integral = 0;
    return false;
  }
  double o = raw < PI_MIN ? PI_MIN : raw > PI_MAX ? PI_MAX : raw;
  p->pi_integral += (PI_KP * 1.0 / PI_TI) * (setpoint - input) + (1.0 / PI_TT) * (o - raw);
  if (!isfinite(p->pi_integral)) {
    p->pi_integral = 0;
    return false;
  }
  *out = o;
  return true;
}

/* go117 (§2 of the old design): move the trigger ratio by half the error
 * between the goal growth and the growth the cycle would have had at 30%
 * CPU.  A forced cycle says nothing about the trigger. */
static void end_cycle_go117(pacer_t *p, double util, bool user_forced) {
  uint64_t m = p->heap_marked;
  if (user_forced || m == 0)
    return;
  double goal_growth = (double)(p->committed_goal - m) / (double)m;
  if (goal_growth < 0)
    goal_growth = 0;
  double actual_growth = (double)p->heap_live / (double)m - 1;
  double r = p->trigger_ratio;
  double error = goal_growth - r - util / GO117_GOAL_UTIL * (actual_growth - r);
  double next = r + GO117_TRIGGER_GAIN * error;
  if (isfinite(next))
    p->trigger_ratio = next;   /* commit clamps it */
}

/* §2.1, §2.2: measure cons/mark and smooth it. */
void pacer_end_cycle(pacer_t *p, int64_t now, int procs, bool user_forced) {
  if (procs < 1)
    procs = 1;
  p->last_heap_goal = pacer_heap_goal(p);
  p->marking = false;
  int64_t duration = now - p->mark_start_time;
  double util = PACER_BG_UTIL, idle_util = 0;
  if (duration > 0) {
    util += (double)p->assist_time / (double)(duration * procs);
    idle_util = (double)p->idle_mark_time / (double)(duration * procs);
  }
  if (p->version == PACER_GO117) {
    end_cycle_go117(p, util, user_forced);
    return;
  }
  if (p->heap_live <= p->triggered)
    return;                    /* nothing allocated while marking (STW) */
  uint64_t work = add_sat(add_sat(p->heap_scan_work, p->stack_scan_work),
                          p->globals_scan_work);
  double m = ((double)(p->heap_live - p->triggered) * (util + idle_util)) /
             ((double)work * (1 - util));
  if (!isfinite(m) || m < 0)
    return;                    /* no work, or util >= 1: no measurement */
  double c = m;
  switch (p->version) {
  case PACER_GO119:
    if (!pi_next(p, p->cons_mark, m, &c))
      c = 0;
    break;
  case PACER_GO120:
    c = (m + p->cons_mark_history[0]) / 2;
    p->cons_mark_history[0] = m;
    break;
  default:                     /* tip: the largest of the last five */
    for (int i = 0; i < 4; i++)
      if (p->cons_mark_history[i] > c)
        c = p->cons_mark_history[i];
    for (int i = 0; i < 3; i++)
      p->cons_mark_history[i] = p->cons_mark_history[i + 1];
    p->cons_mark_history[3] = m;
    break;
  }
  p->cons_mark = c;
}

void pacer_reset_live(pacer_t *p, uint64_t bytes_marked) {
  p->heap_marked = bytes_marked;
  p->heap_live = bytes_marked;
  p->heap_scan = p->heap_scan_work;
  p->last_heap_scan = p->heap_scan_work;
  p->last_stack_scan = p->stack_scan_work;
  p->triggered = PACER_NONE;
  p->marking = false;
}

void pacer_begin(pacer_t *p, const pacer_cycle_t *c) {
  uint64_t grown = c->heap_live > p->heap_marked ? c->heap_live - p->heap_marked : 0;
  p->heap_live = c->heap_live;
  /* Unknown scannable part: every byte allocated since is scannable. */
  p->heap_scan = c->heap_scan ? c->heap_scan : add_sat(p->last_heap_scan, grown);
  p->max_stack_scan = c->max_stack;
  p->globals_scan = c->globals;
  pacer_start_cycle(p, c->now, c->procs, c->periodic);
}

void pacer_finish_cycle(pacer_t *p, const pacer_cycle_t *c) {
  p->heap_scan_work = c->heap_scan_work;
  p->stack_scan_work = c->stack_scan_work;
  p->globals_scan_work = c->globals_scan_work;
  p->heap_live = add_sat(p->heap_live, c->allocated);
  p->assist_time = c->assist_ns;
  p->idle_mark_time = c->idle_ns;
  pacer_end_cycle(p, c->now, c->procs, c->user_forced);
  pacer_reset_live(p, c->heap_marked);
  pacer_commit(p, c->sweep_done);
  p->limiter.numgc++;
}

/* ---- scavenger goals (§5.1) ----------------------------------------- */

#define RETAIN_EXTRA_PERCENT 10
#define REDUCE_EXTRA_PERCENT 5

pacer_scavenge_goals_t pacer_scavenge_goals(const pacer_t *p, uint64_t held,
                                            uint64_t retained, uint64_t last_inuse,
                                            uint64_t page) {
  pacer_scavenge_goals_t g = {PACER_NONE, PACER_NONE};
  if (p->mem_limit != PACER_NO_LIMIT) {
    uint64_t lim = f2u((double)p->mem_limit * (1.0 - REDUCE_EXTRA_PERCENT / 100.0));
    if (held > lim)
      g.memory_limit = lim;
  }
  uint64_t goal = pacer_heap_goal(p), last_goal = p->last_heap_goal;
  if (last_goal == 0 || last_goal == PACER_NONE || goal == PACER_NONE)
    return g;
  uint64_t want = f2u((double)last_inuse * ((double)goal / (double)last_goal));
  want += want / (100 / RETAIN_EXTRA_PERCENT);
  want = (want + page - 1) & ~(page - 1);
  if (retained > want && retained - want >= page)
    g.gcpercent = want;
  return g;
}

/* ---- GC CPU limiter (§4) --------------------------------------------- */

static void accumulate(pacer_limiter_t *l, int64_t mutator, int64_t gc) {
  uint64_t headroom = l->capacity - l->fill;
  bool was_full = headroom == 0;
  int64_t change = gc - mutator;
  if (change > 0 && headroom <= (uint64_t)change) {
    l->overflow += (uint64_t)change - headroom;
    l->fill = l->capacity;
    if (!was_full) {
      l->enabled = true;
      l->last_enabled_cycle = l->numgc + 1;
    }
    return;
  }
  if (change < 0 && l->fill <= (uint64_t)0 - (uint64_t)change)
    l->fill = 0;
  else
    l->fill += (uint64_t)change;   /* modular: adds a negative change too */
  if (change != 0 && was_full)
    l->enabled = false;
}

static void update_locked(pacer_limiter_t *l, int64_t now) {
  if (now < l->last_update)
    return;
  int64_t window = (now - l->last_update) * l->nprocs;
  l->last_update = now;
  int64_t gc = l->assist_pool, idle = l->idle_pool;
  l->assist_pool = l->idle_pool = 0;
  if (l->gc_enabled)
    gc += f2i((double)window * PACER_BG_UTIL);
  window -= idle;              /* idle time is neither GC nor mutator */
  accumulate(l, window - gc, gc);
}

bool pacer_limiter_need_update(const pacer_limiter_t *l, int64_t now) {
  return now - l->last_update > PACER_LIMITER_PERIOD;
}

bool pacer_limiter_allows_pause(const pacer_limiter_t *l, int64_t pause_ns) {
  uint64_t need = pause_ns > 0 ? (uint64_t)pause_ns * (uint64_t)l->nprocs : 0;
  return l->fill == 0 || l->capacity - l->fill >= need;
}

void pacer_limiter_add_assist(pacer_limiter_t *l, int64_t ns) { l->assist_pool += ns; }
void pacer_limiter_add_idle(pacer_limiter_t *l, int64_t ns) { l->idle_pool += ns; }

int64_t pacer_limiter_idle(int64_t capacity, int64_t used, double wait_per_cpu) {
  if (capacity <= 0 || used < 0) return 0;
  double busy = (double)used * (1.0 + (wait_per_cpu > 0 ? wait_per_cpu : 0));
  return busy >= (double)capacity ? 0 : capacity - (int64_t)busy;
}

void pacer_limiter_update(pacer_limiter_t *l, int64_t now) {
  if (!l->transitioning)       /* Go throws; the transition's finish updates */
    update_locked(l, now);
}

void pacer_limiter_start_transition(pacer_limiter_t *l, bool gc_on, int64_t now) {
  update_locked(l, now);
  l->gc_enabled = gc_on;
  l->transitioning = true;
}

/* The pause since start_transition counts as GC time on every proc. */
void pacer_limiter_finish_transition(pacer_limiter_t *l, int64_t now) {
  if (!l->transitioning)
    return;
  if (now >= l->last_update)
    accumulate(l, 0, (now - l->last_update) * l->nprocs);
  l->last_update = now;
  l->transitioning = false;
}

void pacer_limiter_reset_capacity(pacer_limiter_t *l, int64_t now, int32_t procs) {
  if (procs < 1)
    procs = 1;
  update_locked(l, now);
  l->nprocs = procs;
  l->capacity = (uint64_t)procs * CAPACITY_PER_PROC;
  if (l->fill > l->capacity) {
    l->fill = l->capacity;
    l->enabled = true;
    l->last_enabled_cycle = l->numgc + 1;
  } else if (l->fill < l->capacity) {
    l->enabled = false;
  }
}
