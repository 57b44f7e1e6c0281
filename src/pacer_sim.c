/* The TestGcPacer harness: see pacer_sim.h and go-pacer.md §7.1-§7.2. */
#include "pacer_sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NCORES          8
#define INITIAL_HEAP    (256 << 10)          /* V_0 */
#define REVISE_PERIOD   500000               /* ns of marking between revises */
#define RATE_CONV       (1024.0 * REVISE_PERIOD / 1000000)  /* 512 B per KiB/ms */
#define MIN_RATE        0.0001

/* splitmix64: any seeded uniform generator will do (Go's math/rand
 * sequence is not reproduced). */
static double uniform(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1p-53;
}

static double term_next(sim_term_t *t) {
  if (t->waited < t->delay) {
    t->waited++;
    return 0;
  }
  int k = t->step++;
  switch (t->kind) {
  case SIM_CONST:
    return t->amp;
  case SIM_UNIT:
    return k == 0 ? t->amp : 0;
  case SIM_RAMP:
    return t->amp * (double)(k < t->n ? k : t->n) / (double)t->n;
  case SIM_OSC:
    return sin((double)(k % t->n) / (double)t->n * 2 * M_PI + t->phase) * t->amp;
  case SIM_RANDOM:
    if (k == 0)
      t->rng = t->seed;
    return (uniform(&t->rng) - 0.5) * 2 * t->amp;
  default:
    return 0;
  }
}

double sim_stream_next(sim_stream_t *s) {
  double sum = 0;
  for (int i = 0; i < SIM_TERMS && s->t[i].kind != SIM_NONE; i++)
    sum += term_next(&s->t[i]);
  return sum;
}

/* ---- the scenarios (§7.2) --------------------------------------------- */

#define KIB (1 << 10)
#define MIB ((int64_t)1 << 20)
#define CONST(a) SIM_STREAM(SIM_CONST_(a))
/* G12: the live heap doubles, then levels off from cycle 13. */
#define G12 SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 12, 0))
#define STEADY_REST .scan = CONST(1024.0), .frac = CONST(1.0), .cores = NCORES

const sim_scenario_t sim_scenarios[] = {
  { .name = "Steady", .about = "steady heap, alloc 33, scan 1024",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "SteadyBigStacks", .about = "128 MiB of stacks to scan",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(132.0), .growth = G12,
    .stacks = SIM_STREAM(SIM_CONST_(2048), SIM_RAMP_(128 << 20, 8, 0)), STEADY_REST },
  { .name = "SteadyBigGlobals", .about = "128 MiB of globals to scan",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 128 * MIB, .length = 50,
    .alloc = CONST(132.0), .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "StepAlloc", .about = "allocation rate 33 -> 99 at cycle 52",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 100,
    .alloc = SIM_STREAM(SIM_CONST_(33.0), SIM_RAMP_(66.0, 1, 50)),
    .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "HeavyStepAlloc", .about = "allocation rate 33 -> 363 at cycle 52",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 100,
    .alloc = SIM_STREAM(SIM_CONST_(33.0), SIM_RAMP_(330.0, 1, 50)),
    .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "StepScannableFrac", .about = "scannable 0.2, 0.7 in cycle 51 only",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 100,
    .alloc = CONST(128.0), .growth = G12, .stacks = CONST(8192),
    .scan = CONST(1024.0), .cores = NCORES,
    .frac = SIM_STREAM(SIM_CONST_(0.2), SIM_UNIT_(0.5, 50)) },
  { .name = "HighGOGC", .about = "GOGC=1500, jittery, live heap x15 at cycle 26",
    .gogc = 1500, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = SIM_STREAM(SIM_RANDOM_(7, 0x53), SIM_CONST_(165)),
    .growth = SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 12, 0),
                         SIM_RANDOM_(0.01, 0x1), SIM_UNIT_(14, 25)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "OscAlloc", .about = "allocation rate 67 +- 13 sin, period 8",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = SIM_STREAM(SIM_OSC_(13, 0, 8), SIM_CONST_(67)),
    .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "JitterAlloc", .about = "allocation rate 132 +- 13 random",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = SIM_STREAM(SIM_RANDOM_(13, 0xf), SIM_CONST_(132)),
    .growth = SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 12, 0), SIM_RANDOM_(0.01, 0xe)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "HeavyJitterAlloc", .about = "allocation rate 330 +- 33 random",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = SIM_STREAM(SIM_RANDOM_(33.0, 0x0), SIM_CONST_(330)),
    .growth = SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 12, 0), SIM_RANDOM_(0.01, 0x152)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "SmallHeapSlowAlloc", .about = "small heap, alloc 1, 1% scannable",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(1.0), .scan = CONST(2048.0), .frac = CONST(0.01), .cores = NCORES,
    .growth = SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 3, 0)), .stacks = CONST(8192) },
  { .name = "MediumHeapSlowAlloc", .about = "medium heap, alloc 1, 1% scannable",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(1.0), .scan = CONST(2048.0), .frac = CONST(0.01), .cores = NCORES,
    .growth = SIM_STREAM(SIM_CONST_(2.0), SIM_RAMP_(-1.0, 8, 0)), .stacks = CONST(8192) },
  { .name = "LargeHeapSlowAlloc", .about = "large heap, alloc 1, 1% scannable",
    .gogc = 100, .mem_limit = PACER_NO_LIMIT, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(1.0), .scan = CONST(2048.0), .frac = CONST(0.01), .cores = NCORES,
    .growth = SIM_STREAM(SIM_CONST_(4.0), SIM_RAMP_(-3.0, 12, 0)), .stacks = CONST(8192) },
  { .name = "SteadyMemoryLimit", .about = "steady heap well under a 512 MiB limit",
    .gogc = 100, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "SteadyMemoryLimitNoGCPercent", .about = "GOGC=off, 512 MiB limit",
    .gogc = -1, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = G12, .stacks = CONST(8192), STEADY_REST },
  { .name = "ExceedMemoryLimit", .about = "live heap grows past a 512 MiB limit",
    .gogc = 100, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = SIM_STREAM(SIM_CONST_(3.5), SIM_RAMP_(-2.5, 12, 0)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "ExceedMemoryLimitNoGCPercent", .about = "GOGC=off, live heap past the limit",
    .gogc = -1, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = SIM_STREAM(SIM_CONST_(3.5), SIM_RAMP_(-2.5, 12, 0)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "MaintainMemoryLimit", .about = "live heap settles near a 512 MiB limit",
    .gogc = 100, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = SIM_STREAM(SIM_CONST_(3.0), SIM_RAMP_(-2.0, 12, 0)),
    .stacks = CONST(8192), STEADY_REST },
  { .name = "MaintainMemoryLimitNoGCPercent", .about = "GOGC=off, live heap near the limit",
    .gogc = -1, .mem_limit = 512 * MIB, .globals = 32 * KIB, .length = 50,
    .alloc = CONST(33.0), .growth = SIM_STREAM(SIM_CONST_(3.0), SIM_RAMP_(-2.0, 12, 0)),
    .stacks = CONST(8192), STEADY_REST },
};
const int sim_scenario_count = sizeof sim_scenarios / sizeof sim_scenarios[0];

const sim_scenario_t *sim_find(const char *name) {
  for (int i = 0; i < sim_scenario_count; i++)
    if (strcmp(sim_scenarios[i].name, name) == 0)
      return &sim_scenarios[i];
  return NULL;
}

/* ---- the harness (§7.1) ---------------------------------------------- */

typedef struct cycle_in {
  double alloc, scan, growth, frac;
  uint64_t stacks;
} cycle_in_t;

static cycle_in_t next_cycle(sim_scenario_t *s) {
  cycle_in_t c;
  c.alloc = fmax(MIN_RATE, sim_stream_next(&s->alloc));
  c.scan = fmax(MIN_RATE, sim_stream_next(&s->scan));
  c.growth = fmax(MIN_RATE, sim_stream_next(&s->growth));
  c.frac = sim_stream_next(&s->frac);
  c.frac = c.frac < 0 ? 0 : c.frac > 1 ? 1 : c.frac;
  double st = sim_stream_next(&s->stacks) / 2048;
  st = (st < 0 ? ceil(st) : floor(st)) * 2048;
  c.stacks = (uint64_t)fmax(0, st);
  return c;
}

/* Scan work is done globals first, then stacks, then heap. */
static void do_work(int64_t left[3], int64_t work, int64_t done[3]) {
  for (int i = 0; i < 3; i++) {
    done[i] = 0;
    if (left[i] == 0 || work == 0)
      continue;
    int64_t d = left[i] > work ? work : left[i];
    done[i] = d;
    left[i] -= d;
    work -= d;
  }
}

int sim_run(const sim_scenario_t *scenario, pacer_version_t v, sim_result_t *out,
            int cap, sim_check_fn check, void *arg) {
  sim_scenario_t sc = *scenario;       /* the streams' running state */
  pacer_t pacer, *p = &pacer;
  pacer_init(p, v, sc.gogc, sc.mem_limit);
  int64_t black_last = 0;
  const double cores = sc.cores;
  int n = 0;
  for (int i = 0; i < sc.length && n < cap; i++) {
    cycle_in_t cy = next_cycle(&sc);

    /* StartCycle: the heap reached the trigger. */
    uint64_t trig = pacer_trigger(p, NULL);
    if (trig == PACER_NONE)
      break;                   /* go117 with GOGC=off: no cycle ever starts */
    if (trig < p->heap_marked)
      trig = p->heap_marked;
    p->max_stack_scan = cy.stacks;
    p->globals_scan = sc.globals;
    p->heap_live = trig;
    p->heap_scan += (uint64_t)((double)(trig - p->heap_marked) * cy.frac);
    pacer_start_cycle(p, 0, sc.cores, false);

    int64_t marked = i == 0 ? INITIAL_HEAP
        : (int64_t)((double)((int64_t)p->heap_marked - black_last) * cy.growth);
    int64_t left[3] = {(int64_t)sc.globals, (int64_t)cy.stacks,
                       (int64_t)((double)marked * cy.frac)};
    int64_t duration = 0, assist = 0, black = 0;
    while (left[0] + left[1] + left[2] > 0) {
      /* Assists hold scanned/allocated at the assist ratio; background
       * marking alone gives 25%. */
      double a = p->assist_work_per_byte;
      double u = a * cy.alloc / (a * cy.alloc + cy.scan);
      if (u < PACER_BG_UTIL)
        u = PACER_BG_UTIL;
      int64_t scanned = (int64_t)(cy.scan * RATE_CONV * cores * u);
      int64_t allocated = (int64_t)(cy.alloc * RATE_CONV * cores * (1 - u));
      int64_t done[3];
      do_work(left, scanned, done);
      int64_t elapsed = REVISE_PERIOD, actual = done[0] + done[1] + done[2];
      if (actual < scanned) {          /* marking ends inside this step */
        elapsed = (int64_t)((double)actual * (double)REVISE_PERIOD /
                            (cy.scan * RATE_CONV * cores * u));
        allocated = (int64_t)(cy.alloc * RATE_CONV * (double)elapsed /
                              (double)REVISE_PERIOD * cores * (1 - u));
      }
      p->heap_live += (uint64_t)allocated;
      p->heap_scan += (uint64_t)(int64_t)((double)allocated * cy.frac);
      p->globals_scan_work += (uint64_t)done[0];
      p->stack_scan_work += (uint64_t)done[1];
      p->heap_scan_work += (uint64_t)done[2];
      pacer_revise(p);
      assist += (int64_t)((double)elapsed * cores * (u - PACER_BG_UTIL));
      duration += elapsed;
      black += allocated;
    }

    sim_result_t *r = &out[n++];
    *r = (sim_result_t){
      .cycle = i + 1,
      .heap_live = p->heap_marked,
      .heap_scannable = (int64_t)((double)((int64_t)p->heap_marked - black_last) * cy.frac),
      .trigger = p->triggered,
      .peak = p->heap_live,
      .goal = pacer_heap_goal(p),
      .util = (double)assist / ((double)duration * cores) + PACER_BG_UTIL,
      .alloc_rate = cy.alloc,
      .mark_ns = duration,
      .assist_ns = assist,
      .limit_goal = pacer_memory_limit_goal(p),
    };
    if (check)
      check(arg, scenario, out, n);

    /* EndCycle: marking took `duration`; it found V + black live. */
    p->assist_time = assist;
    pacer_end_cycle(p, duration, sc.cores, false);
    pacer_reset_live(p, (uint64_t)(marked + black));
    pacer_commit(p, false);
    black_last = black;
  }
  return n;
}

/* ---- the assertions (§7.3) ------------------------------------------- */

typedef struct chk {
  const sim_scenario_t *sc;
  const sim_result_t *r;
  int n;
  char *msg;
  size_t cap;
} chk_t;

static bool in_range(chk_t *k, const char *what, double x, double lo, double hi) {
  if (x >= lo && x <= hi)
    return true;
  snprintf(k->msg, k->cap, "%s cycle %d: %s %f not in [%f, %f]", k->sc->name, k->n,
           what, x, lo, hi);
  return false;
}

static bool near(chk_t *k, const char *what, double x, double y, double eps) {
  return in_range(k, what, x, y - eps, y + eps);
}

static bool equal(chk_t *k, const char *what, uint64_t x, uint64_t y) {
  if (x == y)
    return true;
  snprintf(k->msg, k->cap, "%s cycle %d: %s %llu, want %llu", k->sc->name, k->n, what,
           (unsigned long long)x, (unsigned long long)y);
  return false;
}

static bool named(const chk_t *k, const char *name) {
  return strcmp(k->sc->name, name) == 0;
}

#define U(i)  (k->r[(i)].util)
#define LAST  (k->r[k->n - 1])
#define N     (k->n)
#define RATIO sim_goal_ratio(&LAST)

/* Cases 1-3, also part of 14, 15, 18, 19. */
static bool steady(chk_t *k) {
  return near(k, "utilization", U(N - 1), 0.25, 0.005) &&
         near(k, "utilization step", U(N - 1), U(N - 2), 0.005) &&
         in_range(k, "goal ratio", RATIO, 0.95, 1.05);
}

static bool settled_again(chk_t *k) {      /* cases 4-6 */
  return !((N >= 25 && N < 50) || N >= 75) ||
         (near(k, "utilization step", U(N - 1), U(N - 2), 0.005) &&
          in_range(k, "goal ratio", RATIO, 0.95, 1.05));
}

static bool slow_alloc_util(chk_t *k) {
  return N <= 25 || (near(k, "utilization", U(N - 1), 0.25, 0.005) &&
                     near(k, "utilization step", U(N - 1), U(N - 2), 0.05) &&
                     near(k, "utilization vs cycle 12", U(N - 1), U(11), 0.05));
}

/* The 1.18+ pacers; tip and 1.19/1.20 differ in case 9 only. */
static bool check_redesign(chk_t *k, pacer_version_t v) {
  uint64_t limit_goal = pacer_limit_headroom_goal(v, 512 * (uint64_t)MIB);
  if (named(k, "Steady") || named(k, "SteadyBigStacks") || named(k, "SteadyBigGlobals"))
    return N < 25 || steady(k);
  if (named(k, "StepAlloc") || named(k, "HeavyStepAlloc") || named(k, "StepScannableFrac"))
    return settled_again(k);
  if (named(k, "HighGOGC"))
    return N <= 12 || (in_range(k, "goal ratio", RATIO, 0.90, N == 26 ? 15 : 1.05) &&
                       near(k, "utilization", U(N - 1), 0.25, 0.25 + 0.03) &&
                       near(k, "utilization step", U(N - 1), U(N - 2), 0.03));
  if (named(k, "OscAlloc"))
    return N <= 12 || (in_range(k, "goal ratio", RATIO, 0.95, 1.05) &&
                       in_range(k, "utilization", U(N - 1), 0.25, 0.30));
  if (named(k, "JitterAlloc")) {
    bool tip = v == PACER_TIP;
    return N <= 12 || (in_range(k, "goal ratio", RATIO, 0.95, tip ? 1.025 : 1.05) &&
                       in_range(k, "utilization", U(N - 1), 0.25, tip ? 0.275 : 0.30));
  }
  if (named(k, "HeavyJitterAlloc"))
    return N <= 13 || (in_range(k, "goal ratio", RATIO, 0.95, 1.05) &&
                       near(k, "utilization step", U(N - 1), U(N - 2), 0.05) &&
                       near(k, "utilization vs cycle 12", U(N - 1), U(11), 0.05));
  if (named(k, "SmallHeapSlowAlloc") || named(k, "MediumHeapSlowAlloc")) {
    int from = named(k, "SmallHeapSlowAlloc") ? 4 : 9;
    return (N <= from || (in_range(k, "goal ratio", RATIO, 0.925, 1.025) &&
                          in_range(k, "trigger ratio", sim_trigger_ratio(&LAST), 0.925,
                                   0.975))) &&
           slow_alloc_util(k);
  }
  if (named(k, "LargeHeapSlowAlloc"))
    return (N <= 13 || (in_range(k, "goal ratio", RATIO, 0.95, 1.05) &&
                        in_range(k, "runway", sim_runway(&LAST), 4 * MIB - 64 * KIB,
                                 4 * MIB + 64 * KIB))) &&
           slow_alloc_util(k);
  if (named(k, "SteadyMemoryLimit"))
    return in_range(k, "peak", (double)LAST.peak, 0, (double)(limit_goal - 1)) &&
           (N < 25 || steady(k));
  if (named(k, "SteadyMemoryLimitNoGCPercent") || named(k, "MaintainMemoryLimit") ||
      named(k, "MaintainMemoryLimitNoGCPercent"))
    return (N <= 12 && named(k, "MaintainMemoryLimit")) ||
           (equal(k, "goal", LAST.goal, limit_goal) && (N < 25 || steady(k)));
  if (named(k, "ExceedMemoryLimit") || named(k, "ExceedMemoryLimitNoGCPercent"))
    return (N >= 10 || !named(k, "ExceedMemoryLimitNoGCPercent") ||
            equal(k, "goal", LAST.goal, limit_goal)) &&
           (N <= 12 || equal(k, "goal", LAST.goal, LAST.heap_live)) &&
           (N < 25 || (near(k, "utilization", U(N - 1), 1.0, 0.005) &&
                       near(k, "utilization step", U(N - 1), U(N - 2), 0.005)));
  snprintf(k->msg, k->cap, "no checks for %s", k->sc->name);
  return false;
}

/* The old pacer: the checks Go 1.18's test kept for it (nopacerredesign),
 * plus that it settles near its own 30% target in the steady state. */
static bool check_go117(chk_t *k) {
  if (named(k, "Steady"))
    return N < 25 || (near(k, "utilization", U(N - 1), 0.30, 0.01) &&
                      near(k, "utilization step", U(N - 1), U(N - 2), 0.005) &&
                      in_range(k, "goal ratio", RATIO, 0.95, 1.05));
  if (named(k, "SteadyBigStacks") || named(k, "SteadyBigGlobals") ||
      strstr(k->sc->name, "SlowAlloc"))       /* it ignores stacks, globals */
    return N < 25 || near(k, "utilization step", U(N - 1), U(N - 2), 0.005);
  if (strstr(k->sc->name, "Step"))
    return settled_again(k);
  if (named(k, "OscAlloc") || named(k, "JitterAlloc"))
    return N <= 12 || (in_range(k, "goal ratio", RATIO, 0.95, 1.05) &&
                       in_range(k, "utilization", U(N - 1), 0.25, 0.40));
  if (named(k, "HeavyJitterAlloc"))
    return N <= 13 || (in_range(k, "goal ratio", RATIO, 0.95, 1.05) &&
                       near(k, "utilization step", U(N - 1), U(N - 2), 0.05) &&
                       near(k, "utilization vs cycle 12", U(N - 1), U(11), 0.07));
  if (strstr(k->sc->name, "MemoryLimit"))    /* no limit: GOGC goal only */
    return N <= 13 || in_range(k, "goal / marked",
                               (double)LAST.goal / (double)LAST.heap_live, 1.95, 2.10);
  return true;                                /* HighGOGC: nothing held */
}

bool sim_check_cycle(const sim_scenario_t *sc, pacer_version_t v, const sim_result_t *r,
                     int n, char *msg, size_t cap) {
  chk_t chk = {.sc = sc, .r = r, .n = n, .msg = msg, .cap = cap}, *k = &chk;
  if (n < 1 || !equal(k, "cycle number", (uint64_t)r[n - 1].cycle, (uint64_t)n))
    return false;
  if (LAST.heap_scannable < 0 || LAST.trigger > LAST.goal) {
    snprintf(msg, cap, "%s cycle %d: heap scannable < 0 or trigger > goal", sc->name, n);
    return false;
  }
  return in_range(k, "utilization", U(n - 1), 0, 1) &&
         (v == PACER_GO117 ? check_go117(k) : check_redesign(k, v));
}
