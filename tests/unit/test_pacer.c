/* Unit tests for the pacer (src/pacer.c) through the Go runtime's own
 * tests, ported: TestGcPacer's 19 scenarios with their assertions
 * (go-pacer.md §7.1-§7.3, harness in src/pacer_sim.c), TestGCCPULimiter's
 * sequence (§7.4), Go 1.19.8's printed results (§7.5), and the formulas'
 * edge cases (§1-§3). */
#include <check.h>

#include "check_main.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "pacer.h"
#include "pacer_sim.h"

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define MAX_CYCLES 100

/* ---- TestGcPacer ------------------------------------------------------ */

typedef struct run {
  pacer_version_t v;
  const sim_scenario_t *sc;
} run_t;

/* Go's assertions (§7.3; for go117 those Go 1.18 kept for its old pacer,
 * plus 30% CPU when steady), after every cycle. */
static void check_cycle(void *arg, const sim_scenario_t *sc, const sim_result_t *r,
                        int n) {
  char why[256];
  ck_assert_msg(sim_check_cycle(sc, ((run_t *)arg)->v, r, n, why, sizeof why), "%s", why);
}

static void run_scenario(pacer_version_t v, int i) {
  static sim_result_t r[MAX_CYCLES];
  run_t run = {.v = v, .sc = &sim_scenarios[i]};
  int n = sim_run(run.sc, v, r, MAX_CYCLES, check_cycle, &run);
  /* go117 with GOGC=off (it has no memory limit) never starts a cycle */
  if (v == PACER_GO117 && run.sc->gogc == PACER_GOGC_OFF)
    ck_assert_int_eq(n, 0);
  else
    ck_assert_int_eq(n, run.sc->length);
}

START_TEST(gcpacer_tip) { run_scenario(PACER_TIP, _i); }
END_TEST
START_TEST(gcpacer_go120) { run_scenario(PACER_GO120, _i); }
END_TEST
START_TEST(gcpacer_go119) { run_scenario(PACER_GO119, _i); }
END_TEST
START_TEST(gcpacer_go117) { run_scenario(PACER_GO117, _i); }
END_TEST

/* Lines of Go 1.19.8's TestGcPacer log (cycle util M->T->peak (goal)), for
 * every scenario without a random stream: PACER_GO119 reproduces them. */
static const struct { const char *scenario, *line; } go119_log[] = {
  {"Steady", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"Steady", "26 25.3% 20846954->39921499->41734867 (goal: 41734868)"},
  {"Steady", "50 25.0% 20884992->39967328->41810943 (goal: 41810944)"},
  {"SteadyBigStacks", "1 25.0% 0->3997696->4112535 (goal: 4194304)"},
  {"SteadyBigStacks", "26 25.3% 77054395->230092121->288361333 (goal: 288361334)"},
  {"SteadyBigStacks", "50 25.0% 78276440->231564449->290805423 (goal: 290805424)"},
  {"SteadyBigGlobals", "1 98.9% 0->3997696->4194700 (goal: 4194304)"},
  {"SteadyBigGlobals", "26 25.3% 77044318->230055471->288314555 (goal: 288314556)"},
  {"SteadyBigGlobals", "50 25.0% 78266152->231527537->290758223 (goal: 290758224)"},
  {"StepAlloc", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"StepAlloc", "26 25.3% 20846954->39921499->41734867 (goal: 41734868)"},
  {"StepAlloc", "52 50.0% 20885328->39967701->41811615 (goal: 41811616)"},
  {"StepAlloc", "100 25.0% 24572896->43654986->49186751 (goal: 49186752)"},
  {"HeavyStepAlloc", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"HeavyStepAlloc", "26 25.3% 20846954->39921499->41734867 (goal: 41734868)"},
  {"HeavyStepAlloc", "52 78.6% 20885328->39967701->41811615 (goal: 41811616)"},
  {"HeavyStepAlloc", "100 45.6% 27098636->46181156->54238231 (goal: 54238232)"},
  {"StepScannableFrac", "1 25.0% 0->3997696->4032715 (goal: 4194304)"},
  {"StepScannableFrac", "26 25.3% 20454137->39530416->40949233 (goal: 40949234)"},
  {"StepScannableFrac", "52 25.0% 24052296->43134415->44577133 (goal: 48145552)"},
  {"StepScannableFrac", "100 25.0% 20485026->39567541->41011011 (goal: 41011012)"},
  {"OscAlloc", "1 25.0% 0->3997696->4057191 (goal: 4194304)"},
  {"OscAlloc", "26 27.5% 22485322->41262234->45011603 (goal: 45011604)"},
  {"OscAlloc", "50 27.2% 22559772->41351584->45160503 (goal: 45160504)"},
  {"SmallHeapSlowAlloc", "1 25.0% 0->3997696->3997759 (goal: 4194304)"},
  {"SmallHeapSlowAlloc", "26 25.0% 582609->4024961->4025029 (goal: 4194304)"},
  {"SmallHeapSlowAlloc", "50 25.0% 582609->4024961->4025029 (goal: 4194304)"},
  {"MediumHeapSlowAlloc", "1 25.0% 0->3997696->3997759 (goal: 4194304)"},
  {"MediumHeapSlowAlloc", "26 25.0% 4054169->7957315->7957434 (goal: 8149298)"},
  {"MediumHeapSlowAlloc", "50 25.0% 4054169->7957315->7957434 (goal: 8149298)"},
  {"LargeHeapSlowAlloc", "1 25.0% 0->3997696->3997759 (goal: 4194304)"},
  {"LargeHeapSlowAlloc", "26 25.0% 3405451943->6806750542->6806800485 (goal: 6810944846)"},
  {"LargeHeapSlowAlloc", "50 25.0% 3405451943->6806750542->6806800485 (goal: 6810944846)"},
  {"SteadyMemoryLimit", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"SteadyMemoryLimit", "26 25.3% 20846954->39921499->41734867 (goal: 41734868)"},
  {"SteadyMemoryLimit", "50 25.0% 20884992->39967328->41810943 (goal: 41810944)"},
  {"SteadyMemoryLimitNoGCPercent", "1 25.0% 0->531628032->531657335 (goal: 535822336)"},
  {"SteadyMemoryLimitNoGCPercent", "26 25.0% 20886447->531628032->533472923 (goal: 535822336)"},
  {"SteadyMemoryLimitNoGCPercent", "50 25.0% 20886447->531628032->533472923 (goal: 535822336)"},
  {"ExceedMemoryLimit", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"ExceedMemoryLimit", "12 66.0% 999686760->999686760->1019186785 (goal: 999686760)"},
  {"ExceedMemoryLimit", "13 100.0% 1194234457->1194234457->1194234457 (goal: 1194234457)"},
  {"ExceedMemoryLimit", "26 100.0% 1174734432->1174734432->1174734432 (goal: 1174734432)"},
  {"ExceedMemoryLimit", "50 100.0% 1174734432->1174734432->1174734432 (goal: 1174734432)"},
  {"ExceedMemoryLimitNoGCPercent", "1 25.0% 0->531628032->531657335 (goal: 535822336)"},
  {"ExceedMemoryLimitNoGCPercent", "26 100.0% 1174734432->1174734432->1174734432 (goal: 1174734432)"},
  {"ExceedMemoryLimitNoGCPercent", "50 100.0% 1174734432->1174734432->1174734432 (goal: 1174734432)"},
  {"MaintainMemoryLimit", "1 25.0% 0->3997696->4026999 (goal: 4194304)"},
  {"MaintainMemoryLimit", "26 25.3% 390728974->501897888->535822335 (goal: 535822336)"},
  {"MaintainMemoryLimit", "50 25.0% 391440624->501332056->535822335 (goal: 535822336)"},
  {"MaintainMemoryLimitNoGCPercent", "1 25.0% 0->531628032->531657335 (goal: 535822336)"},
  {"MaintainMemoryLimitNoGCPercent", "26 25.3% 390728976->501897883->535822335 (goal: 535822336)"},
  {"MaintainMemoryLimitNoGCPercent", "50 25.0% 391440626->501332055->535822335 (goal: 535822336)"},
};

START_TEST(go119_matches_go) {
  static sim_result_t r[MAX_CYCLES];
  const char *last = "";
  int n = 0;
  for (size_t i = 0; i < sizeof go119_log / sizeof go119_log[0]; i++) {
    if (strcmp(last, go119_log[i].scenario) != 0) {
      last = go119_log[i].scenario;
      n = sim_run(sim_find(last), PACER_GO119, r, MAX_CYCLES, NULL, NULL);
    }
    int cycle = atoi(go119_log[i].line);
    ck_assert_int_le(cycle, n);
    const sim_result_t *c = &r[cycle - 1];
    char line[128];
    snprintf(line, sizeof line, "%d %2.1f%% %lu->%lu->%lu (goal: %lu)", c->cycle,
             c->util * 100, (unsigned long)c->heap_live, (unsigned long)c->trigger,
             (unsigned long)c->peak, (unsigned long)c->goal);
    ck_assert_msg(strcmp(line, go119_log[i].line) == 0, "%s: got %s, Go printed %s",
                  last, line, go119_log[i].line);
  }
}
END_TEST

/* §7.5: the steady state of the default pacer: 25% CPU, peak at the goal. */
START_TEST(steady_reference_shape) {
  static sim_result_t r[MAX_CYCLES];
  int n = sim_run(sim_find("Steady"), PACER_TIP, r, MAX_CYCLES, NULL, NULL);
  ck_assert_int_eq(n, 50);
  ck_assert_uint_eq(r[0].goal, 4 * MIB);             /* cycle 1 as in 1.19 */
  ck_assert_uint_eq(r[0].trigger, 3997696);
  for (int i = 47; i < 50; i++) {
    ck_assert(fabs(r[i].util - 0.25) < 0.0005);
    ck_assert(fabs(sim_goal_ratio(&r[i]) - 1.0) < 0.001);
    /* the 1.19 reference: M 20884992, T 39967328, goal 41810944 */
    ck_assert(fabs((double)r[i].goal / 41810944 - 1) < 0.001);
    ck_assert(fabs((double)r[i].trigger / 39967328 - 1) < 0.001);
  }
}
END_TEST

/* ---- TestGCCPULimiter (§7.4) ------------------------------------------ */

#define MS 1000000LL
#define SEC 1000000000LL
#define CAP_PER_PROC SEC

START_TEST(cpu_limiter) {
  const int64_t procs = 14;
  int64_t ticks = 0;
#define ADVANCE(d) (ticks += (d))
#define ASSIST(d, frac) ((int64_t)((frac) * (double)(d) * (double)procs))
  pacer_limiter_t l = {0};
  pacer_limiter_reset_capacity(&l, ticks, procs);
  uint64_t base = 0;   /* overflow carried over from the first run */
  for (int run = 0; run < 2; run++) {
    ck_assert_uint_eq(l.capacity, procs * CAP_PER_PROC);
    ck_assert_uint_eq(l.fill, 0);
    /* mutator time alone never fills the bucket */
    pacer_limiter_update(&l, ADVANCE(10 * MS));
    pacer_limiter_update(&l, ADVANCE(SEC));
    pacer_limiter_update(&l, ADVANCE(3600 * SEC));
    ck_assert_uint_eq(l.fill, 0);
    ck_assert(!pacer_limiter_need_update(&l, ADVANCE(PACER_LIMITER_PERIOD / 2)));
    ck_assert(pacer_limiter_need_update(&l, ADVANCE(PACER_LIMITER_PERIOD)));
    pacer_limiter_update(&l, ADVANCE(0));
    ck_assert(!pacer_limiter_need_update(&l, ADVANCE(0)));
    /* a stop-the-world counts on every proc */
    pacer_limiter_start_transition(&l, true, ADVANCE(109 * MS));
    pacer_limiter_finish_transition(&l, ADVANCE(2 * MS + 1000));
    uint64_t fill = (2 * MS + 1000) * procs;
    ck_assert_uint_eq(l.fill, fill);
    /* marking without assists (25%) drains at half the procs: to exactly
     * `procs` ns */
    double factor = 1 / (1 - 2 * PACER_BG_UTIL);
    pacer_limiter_update(&l, ADVANCE((int64_t)(factor * (double)(fill - procs) / procs)));
    ck_assert_uint_eq(l.fill, procs);
    pacer_limiter_update(&l, ADVANCE(2 * procs * CAP_PER_PROC));
    ck_assert_uint_eq(l.fill, 0);
    /* 50% GC: no change; 100% GC for 1 ms: 14 ms in, not yet limiting */
    pacer_limiter_add_assist(&l, ASSIST(10 * MS, 0.5 - PACER_BG_UTIL));
    pacer_limiter_update(&l, ADVANCE(10 * MS));
    ck_assert_uint_eq(l.fill, 0);
    pacer_limiter_add_assist(&l, ASSIST(MS, 1.0 - PACER_BG_UTIL));
    pacer_limiter_update(&l, ADVANCE(MS));
    ck_assert_uint_eq(l.fill, procs * MS);
    ck_assert(!pacer_limiter_limiting(&l));
    /* exactly full: limiting, no overflow; then 50% keeps it there */
    pacer_limiter_add_assist(&l, ASSIST(CAP_PER_PROC - MS, 1.0 - PACER_BG_UTIL));
    pacer_limiter_update(&l, ADVANCE(CAP_PER_PROC - MS));
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, base);
    pacer_limiter_add_assist(&l, ASSIST(SEC, 0.5 - PACER_BG_UTIL));
    pacer_limiter_update(&l, ADVANCE(SEC));
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, base);
    /* 25% for a second: half drained, off */
    pacer_limiter_add_assist(&l, ASSIST(CAP_PER_PROC, 0));
    pacer_limiter_update(&l, ADVANCE(CAP_PER_PROC));
    ck_assert_uint_eq(l.fill, l.capacity / 2);
    ck_assert(!pacer_limiter_limiting(&l));
    /* 100% for a second: full, and half a second of GC overflows */
    pacer_limiter_add_assist(&l, ASSIST(CAP_PER_PROC, 1.0 - PACER_BG_UTIL));
    pacer_limiter_update(&l, ADVANCE(CAP_PER_PROC));
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, base + CAP_PER_PROC * procs / 2);
    /* leftover assists at the end of marking, then the pause */
    pacer_limiter_add_assist(&l, ASSIST(MS, 1.0 - PACER_BG_UTIL));
    pacer_limiter_start_transition(&l, false, ADVANCE(MS));
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, base + (CAP_PER_PROC / 2 + MS) * procs);
    pacer_limiter_finish_transition(&l, ADVANCE(5 * MS));
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    uint64_t overflow = base + (CAP_PER_PROC / 2 + 6 * MS) * procs;
    ck_assert_uint_eq(l.overflow, overflow);
    /* more procs: same fill, off; fewer: clamped, on; overflow untouched */
    uint64_t full = l.capacity;
    pacer_limiter_reset_capacity(&l, ADVANCE(0), procs + 10);
    ck_assert_uint_eq(l.fill, full);
    ck_assert(!pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, overflow);
    pacer_limiter_reset_capacity(&l, ADVANCE(0), procs - 10);
    ck_assert_uint_eq(l.fill, l.capacity);
    ck_assert(pacer_limiter_limiting(&l));
    ck_assert_uint_eq(l.overflow, overflow);
    pacer_limiter_reset_capacity(&l, ADVANCE(CAP_PER_PROC * procs), procs);
    base = overflow;
  }
}
END_TEST

/* A stop-the-world collector: each cycle a transition on and off.  Pauses
 * taking 2/3 of the time fill the bucket by 200 CPU-ms a cycle (4 procs:
 * +400 paused, -200 running); mutator time takes it off again. */
START_TEST(limiter_stop_the_world) {
  pacer_limiter_t l = {0};
  int64_t t = 0;
  pacer_limiter_reset_capacity(&l, t, 4);
  int engaged = 0;
  for (int cycle = 1; cycle <= 30 && !engaged; cycle++) {
    pacer_limiter_start_transition(&l, true, t);
    pacer_limiter_finish_transition(&l, t += 100 * MS);
    if (pacer_limiter_limiting(&l))
      engaged = cycle;
    pacer_limiter_start_transition(&l, false, t);
    pacer_limiter_finish_transition(&l, t);
    l.numgc = cycle;
    pacer_limiter_update(&l, t += 50 * MS);
  }
  ck_assert_int_eq(engaged, 19);   /* 18 · 200 + 400 = 4 s: exactly full */
  ck_assert_uint_eq(l.last_enabled_cycle, 19);
  ck_assert_uint_eq(l.overflow, 0);
  ck_assert(!pacer_limiter_limiting(&l));
  ck_assert_uint_eq(l.fill, l.capacity - 200 * MS);
  /* Gated by allows_pause (checked every 10 ms), pauses get half the time. */
  int64_t paused = 0, start = t;
  for (int cycle = 0; cycle < 200; cycle++) {
    while (!pacer_limiter_allows_pause(&l, 100 * MS))
      pacer_limiter_update(&l, t += PACER_LIMITER_PERIOD);
    pacer_limiter_start_transition(&l, true, t);
    pacer_limiter_finish_transition(&l, t += 100 * MS);
    pacer_limiter_start_transition(&l, false, t);
    pacer_limiter_finish_transition(&l, t);
    paused += 100 * MS;
    pacer_limiter_update(&l, t += 50 * MS);
  }
  double share = (double)paused / (double)(t - start);
  ck_assert_msg(share > 0.49 && share < 0.52, "pause share %f", share);
}
END_TEST

/* One program thread on 2 procs, on a CPU it shares with two other
 * processes: each cycle a 50 ms pause, then 100 ms in which it runs 33 ms
 * and waits 67 ms on the run queue.  Go counts the waiting P as running,
 * so the pauses (100 proc-ms) never outweigh the mutator (100 proc-ms);
 * counted as idle, the wait left 33 proc-ms of mutator a cycle and the
 * limiter engaged with no memory limit (returns the cycle it last
 * engaged in, 0 if it did not in 200). */
static int busy_machine_engages(double wait_per_cpu) {
  pacer_limiter_t l = {0};
  int64_t t = 0;
  pacer_limiter_reset_capacity(&l, t, 2);
  for (int cycle = 1; cycle <= 200; cycle++) {
    pacer_limiter_start_transition(&l, true, t);
    pacer_limiter_finish_transition(&l, t += 50 * MS);
    pacer_limiter_start_transition(&l, false, t);
    pacer_limiter_finish_transition(&l, t);
    l.numgc = cycle;
    pacer_limiter_add_idle(&l, pacer_limiter_idle(2 * 100 * MS, 100 * MS / 3, wait_per_cpu));
    pacer_limiter_update(&l, t += 100 * MS);
  }
  return (int)l.last_enabled_cycle;
}

START_TEST(limiter_busy_machine) {
  ck_assert_int_eq(pacer_limiter_idle(200, 50, 0), 150);
  ck_assert_int_eq(pacer_limiter_idle(200, 50, 1.0), 100);
  ck_assert_int_eq(pacer_limiter_idle(200, 150, 1.0), 0);   /* more runnable threads than procs */
  ck_assert_int_eq(pacer_limiter_idle(200, -5, 1.0), 0);    /* a clock that went back */
  ck_assert_int_eq(pacer_limiter_idle(200, 50, -1.0), 150);
  ck_assert_int_eq(busy_machine_engages(2.0), 0);
  ck_assert_int_gt(busy_machine_engages(0), 0);
}
END_TEST

/* ---- goal, trigger and assist formulas (§1-§3) ----------------------- */

/* A pacer after a cycle that marked m bytes and scanned ps of stacks. */
static pacer_t after(pacer_version_t v, int gogc, int64_t limit, uint64_t m,
                     uint64_t ps, uint64_t g) {
  pacer_t p;
  pacer_init(&p, v, gogc, limit);
  p.heap_marked = p.heap_live = m;
  p.last_stack_scan = ps;
  p.globals_scan = g;
  pacer_commit(&p, true);
  return p;
}

START_TEST(goal_and_trigger) {
  /* §2.6: Steady, cycle 50 */
  pacer_t p = after(PACER_TIP, 100, PACER_NO_LIMIT, 20884992, 8192, 32768);
  uint64_t goal;
  ck_assert_uint_eq(pacer_trigger(&p, &goal), 40830040);   /* no runway: 61/64 */
  ck_assert_uint_eq(goal, 41810944);
  p.runway = 1843616;
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 39967328);
  p.runway = goal;                                            /* 45/64 */
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 35598552);
  p.runway = goal + 1;
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 35598552);
  pacer_set_gogc(&p, 50);
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_heap_goal(&p), 20884992 + 20925952 / 2);
  /* multiply, then divide */
  p = after(PACER_TIP, 33, PACER_NO_LIMIT, 1000000007, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), 1000000007 + 330000002);
  /* large heaps keep 4 MiB of runway at most... */
  p = after(PACER_TIP, 100, PACER_NO_LIMIT, GIB, 0, 0);
  ck_assert_uint_eq(pacer_trigger(&p, &goal), 2 * GIB - 4 * MIB);
  /* ...and never start before 45/64 of the way */
  p.runway = GIB;
  ck_assert_uint_eq(pacer_trigger(&p, NULL), GIB + GIB / 64 * 45);
}
END_TEST

START_TEST(heap_minimum) {
  static const int gogc[] = {100, 50, 200};
  for (int i = 0; i < 3; i++) {
    pacer_t p = after(PACER_TIP, gogc[i], PACER_NO_LIMIT, 0, 0, 0);
    ck_assert_uint_eq(pacer_heap_goal(&p), 4 * MIB * gogc[i] / 100);
  }
  pacer_t p = after(PACER_TIP, 100, PACER_NO_LIMIT, 0, 0, 0);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 3997696);       /* §6.3 line 1 */
  ck_assert_uint_eq(pacer_heap_goal(&p), 4 * MIB);
  /* GOGC=0: no minimum; the goal is M, the sweeper's distance, or T+64K */
  p = after(PACER_TIP, 0, PACER_NO_LIMIT, MIB, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), MIB);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), MIB);
  pacer_commit(&p, false);
  ck_assert_uint_eq(pacer_heap_goal(&p), 2 * MIB);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 2 * MIB);
  p.heap_live = 2 * MIB;
  pacer_start_cycle(&p, 0, 8, false);
  ck_assert_uint_eq(pacer_heap_goal(&p), 2 * MIB + 64 * KIB);
}
END_TEST

START_TEST(gogc_off) {
  pacer_t p = after(PACER_TIP, PACER_GOGC_OFF, PACER_NO_LIMIT, 100 * MIB, 0, 0);
  uint64_t goal, trigger = pacer_trigger(&p, &goal);
  ck_assert_uint_eq(goal, pacer_limit_headroom_goal(PACER_TIP, INT64_MAX));
  ck_assert_uint_gt(trigger, (uint64_t)1 << 62);
  ck_assert_uint_le(trigger, goal);
  pacer_set_gogc(&p, 100);
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_heap_goal(&p), 200 * MIB);
  p = after(PACER_GO117, PACER_GOGC_OFF, PACER_NO_LIMIT, 100 * MIB, 0, 0);
  ck_assert_uint_eq(pacer_trigger(&p, &goal), PACER_NONE);
  ck_assert_uint_eq(goal, PACER_NONE);
  /* a forced cycle with GOGC=off assists as if GOGC were 100000 */
  p = after(PACER_TIP, PACER_GOGC_OFF, 512 * MIB, 100 * MIB, 0, 0);
  p.last_heap_scan = 100 * MIB;
  p.heap_live = p.heap_scan = 150 * MIB;
  pacer_start_cycle(&p, 0, 8, false);
  ck_assert(p.assist_work_per_byte > 0 && p.assist_work_per_byte < 1);
}
END_TEST

START_TEST(memory_limit) {
  ck_assert_uint_eq(pacer_limit_headroom_goal(PACER_TIP, 512 * MIB), 520764785);
  ck_assert_uint_eq(pacer_limit_headroom_goal(PACER_GO119, 512 * MIB), 535822336);
  ck_assert_uint_eq(pacer_limit_headroom_goal(PACER_GO120, 512 * MIB), 535822336);
  pacer_t p = after(PACER_TIP, PACER_GOGC_OFF, 512 * MIB, 0, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), 520764785);
  /* non-heap memory: R - F - A = 30 MiB; goal 482 MiB less 3% */
  pacer_set_memory(&p, 100 * MIB, 10 * MIB, 60 * MIB);
  ck_assert_uint_eq(pacer_heap_goal(&p), 505413632 - 505413632 / 100 * 3);
  /* 88 MiB over the limit pushes it down as much again */
  pacer_set_memory(&p, 600 * MIB, 0, 550 * MIB);
  ck_assert_uint_eq(pacer_heap_goal(&p), 392167424 - 392167424 / 100 * 3);
  /* hopeless: the goal is the live heap */
  p.heap_marked = 10 * MIB;
  pacer_set_memory(&p, GIB, 0, 100 * MIB);
  ck_assert_uint_eq(pacer_heap_goal(&p), 10 * MIB);
  /* small limits: at least 1 MiB of headroom, and the goal is >= 1 MiB */
  p = after(PACER_TIP, PACER_GOGC_OFF, 3 * MIB / 2, 0, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), MIB);
  p = after(PACER_TIP, PACER_GOGC_OFF, 3 * MIB / 2, 3 * MIB, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), 3 * MIB);
  /* the lower goal wins; when it is the limit's, no sweep distance */
  p = after(PACER_TIP, 100, 64 * MIB, 20 * MIB, 0, 0);
  ck_assert_uint_eq(pacer_heap_goal(&p), 40 * MIB);
  p = after(PACER_TIP, 100, 64 * MIB, 127 * MIB / 2, 0, 0);
  pacer_commit(&p, false);
  ck_assert_uint_eq(pacer_heap_goal(&p), 127 * MIB / 2);    /* M: over */
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 127 * MIB / 2);
  ck_assert_int_eq(pacer_set_memory_limit(&p, -1), 64 * MIB);  /* read only */
  ck_assert_int_eq(p.mem_limit, 64 * MIB);
}
END_TEST

/* §5.1: the scavenger's goals. */
START_TEST(scavenge_goals) {
  const uint64_t page = 4096;
  pacer_t p = after(PACER_TIP, 100, PACER_NO_LIMIT, 0, 0, 0);
  p.last_heap_goal = 0;                       /* before the first cycle ends */
  pacer_scavenge_goals_t g = pacer_scavenge_goals(&p, 100 * MIB, 100 * MIB, 10 * MIB, page);
  ck_assert_uint_eq(g.gcpercent, PACER_NONE);
  ck_assert_uint_eq(g.memory_limit, PACER_NONE);
  /* the goal halves: keep in-use / 2 + 10% */
  p = after(PACER_TIP, 100, PACER_NO_LIMIT, 10 * MIB, 0, 0);
  p.last_heap_goal = 2 * pacer_heap_goal(&p);
  g = pacer_scavenge_goals(&p, 64 * MIB, 64 * MIB, 40 * MIB, page);
  ck_assert_uint_eq(g.gcpercent, 22 * MIB);
  /* within a page of the goal: nothing to do */
  g = pacer_scavenge_goals(&p, 64 * MIB, 22 * MIB + page - 1, 40 * MIB, page);
  ck_assert_uint_eq(g.gcpercent, PACER_NONE);
  /* page-rounded up */
  g = pacer_scavenge_goals(&p, 64 * MIB, 64 * MIB, 40 * MIB + 10, page);
  ck_assert_uint_eq(g.gcpercent, 22 * MIB + page);
  /* the limit's: 95%, once held memory is above it */
  pacer_set_memory_limit(&p, 100 * MIB);
  g = pacer_scavenge_goals(&p, 95 * MIB, 0, 0, page);
  ck_assert_uint_eq(g.memory_limit, PACER_NONE);
  g = pacer_scavenge_goals(&p, 96 * MIB, 0, 0, page);
  ck_assert_uint_eq(g.memory_limit, 95 * MIB);
}
END_TEST

/* §3.1 */
START_TEST(mark_workers) {
  static const struct { int procs, dedicated; double frac; } w[] = {
    {1, 0, .25}, {2, 0, .25}, {3, 0, .25}, {4, 1, 0}, {5, 1, 0},
    {6, 1, 0.5 / 6}, {7, 2, 0}, {8, 2, 0}, {16, 4, 0},
  };
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
    for (int periodic = 0; periodic < 2; periodic++) {
      pacer_t p;
      pacer_init(&p, PACER_TIP, 100, PACER_NO_LIMIT);
      pacer_start_cycle(&p, 0, w[i].procs, periodic);
      ck_assert_int_eq(p.dedicated_workers, w[i].dedicated);
      ck_assert(fabs(p.fractional_goal - w[i].frac) < 1e-9);
      int idle = periodic ? (w[i].dedicated > 0 ? 0 : 1) : w[i].procs - w[i].dedicated;
      ck_assert_int_eq(p.max_idle_workers, idle);
    }
  }
}
END_TEST

/* §3.2: the assist ratio, the extrapolated goal, the hard goal γ·N and
 * the 1.1× escape. */
START_TEST(assist_ratio) {
  pacer_t p = after(PACER_TIP, 100, PACER_NO_LIMIT, 100 * MIB, 0, 0);
  p.last_heap_scan = 100 * MIB;
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_heap_goal(&p), 200 * MIB);
  p.heap_live = p.heap_scan = 190 * MIB;
  pacer_start_cycle(&p, 0, 8, false);
  ck_assert(fabs(p.assist_work_per_byte - 10.0) < 1e-12);     /* 100 MiB / 10 MiB */
  ck_assert(fabs(p.assist_bytes_per_work - 0.1) < 1e-12);
  p.heap_scan_work = 150 * MIB;     /* more than expected: goal 209 MiB */
  pacer_revise(&p);
  ck_assert(fabs(p.assist_work_per_byte - 40.0 / 19) < 1e-6);
  p.heap_scan = 10 * GIB;           /* extrapolation capped at 2 x 200 MiB */
  pacer_revise(&p);
  ck_assert(fabs(p.assist_work_per_byte - (10240.0 - 150) / (400 - 190)) < 1e-6);
  p.heap_live = 420 * MIB;          /* past even that: 1.1 x 400 MiB */
  pacer_revise(&p);
  ck_assert(fabs(p.assist_work_per_byte - (10240.0 - 150) / 20) < 1e-6);
  p.heap_live = 500 * MIB;          /* and past that: no distance left */
  pacer_revise(&p);
  ck_assert(p.assist_work_per_byte == (double)(10 * GIB - 150 * MIB));
  p.heap_scan_work = 20 * GIB;      /* work left is at least 1000 */
  pacer_revise(&p);
  ck_assert(p.assist_work_per_byte == 1000.0);
}
END_TEST

START_TEST(go117_pacer) {
  pacer_t p;
  pacer_init(&p, PACER_GO117, 100, PACER_NO_LIMIT);
  ck_assert_uint_eq(p.heap_marked, 2236962);          /* 4 MiB / (1 + 7/8) */
  uint64_t goal;
  ck_assert_uint_eq(pacer_trigger(&p, &goal), 4 * MIB);
  ck_assert_uint_eq(goal, 2 * 2236962);
  /* trigger ratio within 0.6..0.95 of GOGC/100 */
  p.heap_marked = p.heap_live = 100 * MIB;
  p.trigger_ratio = 5;
  pacer_commit(&p, true);
  ck_assert(p.trigger_ratio == 0.95);
  ck_assert_uint_eq(pacer_trigger(&p, &goal), (uint64_t)(100.0 * MIB * 1.95));
  ck_assert_uint_eq(goal, 200 * MIB);
  p.trigger_ratio = -1;
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 160 * MIB);
  pacer_set_gogc(&p, 200);
  p.trigger_ratio = 0;
  pacer_commit(&p, true);
  ck_assert(fabs(p.trigger_ratio - 1.2) < 1e-12);
  ck_assert_uint_eq(pacer_heap_goal(&p), 300 * MIB);
  /* no memory limit */
  pacer_set_memory_limit(&p, 64 * MIB);
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_heap_goal(&p), 300 * MIB);
  /* the heap minimum floors the trigger; the goal follows it; the start of
   * a cycle keeps 1 MiB between the heap and the goal */
  pacer_set_gogc(&p, 100);
  p.heap_marked = p.heap_live = MIB;
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_trigger(&p, &goal), 4 * MIB);
  ck_assert_uint_eq(goal, 4 * MIB);
  p.heap_live = 4 * MIB;
  pacer_start_cycle(&p, 0, 8, false);
  ck_assert_uint_eq(pacer_heap_goal(&p), 5 * MIB);
  /* assists: half the scannable heap expected at GOGC=100; past it, all of
   * it against 1.1 x goal */
  p = after(PACER_GO117, 100, PACER_NO_LIMIT, 100 * MIB, 0, 0);
  p.trigger_ratio = 0.8;
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), 180 * MIB);
  p.heap_live = p.heap_scan = 180 * MIB;
  pacer_start_cycle(&p, 0, 8, false);
  ck_assert(fabs(p.assist_work_per_byte - 4.5) < 1e-12);
  p.heap_scan_work = 100 * MIB;
  pacer_revise(&p);
  ck_assert(fabs(p.assist_work_per_byte - 2.0) < 1e-12);
  /* the controller: growth 0.9 at 30% CPU against 1.0: ratio 0.8 -> 0.85 */
  p.heap_live = 190 * MIB;
  p.assist_time = 400000;           /* 5% of 1 ms on 8 procs */
  pacer_t forced = p;
  pacer_end_cycle(&forced, 1000000, 8, true);
  ck_assert(forced.trigger_ratio == 0.8);
  pacer_end_cycle(&p, 1000000, 8, false);
  ck_assert(fabs(p.trigger_ratio - 0.85) < 1e-9);
  pacer_reset_live(&p, 100 * MIB);
  pacer_commit(&p, true);
  ck_assert_uint_eq(pacer_trigger(&p, NULL), (uint64_t)(100.0 * MIB * (1 + p.trigger_ratio)));
}
END_TEST

/* The calls a stop-the-world collector makes (pacer_begin/finish_cycle):
 * nothing is allocated while marking, so cons/mark stays 0 and the
 * trigger rests at its upper bound; allocation during marking moves it. */
START_TEST(stop_the_world_cycles) {
  pacer_t p;
  pacer_init(&p, PACER_TIP, 100, PACER_NO_LIMIT);
  for (int i = 0; i < 4; i++) {
    pacer_cycle_t c = {.now = i * SEC, .procs = 4, .heap_live = pacer_trigger(&p, NULL),
                       .max_stack = MIB, .globals = MIB};
    pacer_begin(&p, &c);
    c.now += 10 * MS;
    c.heap_marked = c.heap_scan_work = 10 * MIB;
    c.stack_scan_work = 64 * KIB;
    c.globals_scan_work = MIB;
    pacer_finish_cycle(&p, &c);
    ck_assert(p.cons_mark == 0);
    ck_assert_uint_eq(p.limiter.numgc, i + 1);
    uint64_t goal;
    ck_assert_uint_eq(pacer_trigger(&p, &goal), 21541888);   /* M + d/64·61 */
    ck_assert_uint_eq(goal, 10 * MIB + 11 * MIB + 64 * KIB);
  }
  pacer_cycle_t c = {.now = 0, .procs = 4, .heap_live = pacer_trigger(&p, NULL),
                     .max_stack = MIB, .globals = MIB};
  pacer_begin(&p, &c);
  c.now = 10 * MS;
  c.heap_marked = c.heap_scan_work = 10 * MIB;
  c.stack_scan_work = 64 * KIB;
  c.globals_scan_work = MIB;
  c.allocated = MIB;                /* at 25%: runway = 3 · (1/3 MiB) */
  pacer_finish_cycle(&p, &c);
  ck_assert(p.cons_mark > 0);
  uint64_t goal, trigger = pacer_trigger(&p, &goal);
  ck_assert_uint_le(goal - MIB - trigger, 2);
  ck_assert_uint_le(trigger, goal - MIB);
}
END_TEST

static Suite *pacer_suite(void) {
  Suite *s = suite_create("pacer");
  TCase *tc = tcase_create("gcpacer");
  tcase_add_loop_test(tc, gcpacer_tip, 0, sim_scenario_count);
  tcase_add_loop_test(tc, gcpacer_go120, 0, sim_scenario_count);
  tcase_add_loop_test(tc, gcpacer_go119, 0, sim_scenario_count);
  tcase_add_loop_test(tc, gcpacer_go117, 0, sim_scenario_count);
  tcase_add_test(tc, go119_matches_go);
  tcase_add_test(tc, steady_reference_shape);
  suite_add_tcase(s, tc);
  tc = tcase_create("limiter");
  tcase_add_test(tc, cpu_limiter);
  tcase_add_test(tc, limiter_stop_the_world);
  tcase_add_test(tc, limiter_busy_machine);
  suite_add_tcase(s, tc);
  tc = tcase_create("formulas");
  tcase_add_test(tc, goal_and_trigger);
  tcase_add_test(tc, heap_minimum);
  tcase_add_test(tc, gogc_off);
  tcase_add_test(tc, memory_limit);
  tcase_add_test(tc, scavenge_goals);
  tcase_add_test(tc, mark_workers);
  tcase_add_test(tc, assist_ratio);
  tcase_add_test(tc, go117_pacer);
  tcase_add_test(tc, stop_the_world_cycles);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return check_main(pacer_suite()); }
