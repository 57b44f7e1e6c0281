/*
 * The Go runtime's TestGcPacer harness (go-pacer.md §7.1), ported: an
 * idealised collector that drives src/pacer.c through start_cycle, revise
 * (every 500 µs of simulated marking on 8 cores) and end_cycle/reset_live/
 * commit, with allocation and scan rates drawn from per-cycle streams.
 * The unit test checks its results; tools/pacersim prints and plots them.
 * Not part of the library: compiled into those two programs only.
 */
#ifndef PACEGC_PACER_SIM_H
#define PACEGC_PACER_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pacer.h"

/* A stream is a sum of up to SIM_TERMS terms, each optionally delayed by
 * `delay` zeros; one value per cycle. */
typedef enum sim_kind {
  SIM_NONE = 0,
  SIM_CONST,       /* amp forever */
  SIM_UNIT,        /* amp once, then 0 */
  SIM_RAMP,        /* amp·k/n for k = 0..n, then amp */
  SIM_OSC,         /* amp·sin(2πk/n + phase) */
  SIM_RANDOM,      /* uniform in [-amp, amp], seeded */
} sim_kind_t;

typedef struct sim_term {
  sim_kind_t kind;
  double amp, phase;
  int n, delay;
  uint64_t seed;
  /* running state */
  int step, waited;
  uint64_t rng;
} sim_term_t;

#define SIM_TERMS 4
typedef struct sim_stream {
  sim_term_t t[SIM_TERMS];
} sim_stream_t;

#define SIM_CONST_(a)        {.kind = SIM_CONST, .amp = (a)}
#define SIM_UNIT_(a, d)      {.kind = SIM_UNIT, .amp = (a), .delay = (d)}
#define SIM_RAMP_(h, len, d) {.kind = SIM_RAMP, .amp = (h), .n = (len), .delay = (d)}
#define SIM_OSC_(a, ph, per) {.kind = SIM_OSC, .amp = (a), .phase = (ph), .n = (per)}
#define SIM_RANDOM_(a, s)    {.kind = SIM_RANDOM, .amp = (a), .seed = (s)}
#define SIM_STREAM(...)      {.t = {__VA_ARGS__}}

double sim_stream_next(sim_stream_t *s);

typedef struct sim_scenario {
  const char *name, *about;
  int gogc;
  int64_t mem_limit;
  uint64_t globals;
  int cores, length;
  sim_stream_t alloc;   /* KiB per CPU-ms, >= 0.0001 */
  sim_stream_t scan;    /* KiB per CPU-ms, >= 0.0001 */
  sim_stream_t growth;  /* live heap factor per cycle, >= 0.0001 */
  sim_stream_t frac;    /* scannable fraction, clamped to [0, 1] */
  sim_stream_t stacks;  /* stack bytes, to a multiple of 2048, >= 0 */
} sim_scenario_t;

/* One cycle, as the Go test records it. */
typedef struct sim_result {
  int cycle;                 /* 1-based */
  uint64_t heap_live;        /* M when the cycle started */
  uint64_t trigger;          /* T */
  uint64_t peak;             /* H when marking ended */
  uint64_t goal;             /* the goal when marking ended */
  int64_t heap_scannable;
  double util;               /* GC share of CPU while marking */
  /* for the tool */
  double alloc_rate;         /* KiB per CPU-ms this cycle */
  int64_t mark_ns, assist_ns;
  uint64_t limit_goal;       /* memory-limit goal when marking ended */
} sim_result_t;

static inline double sim_goal_ratio(const sim_result_t *r) {
  return (double)r->peak / (double)r->goal;
}
static inline double sim_trigger_ratio(const sim_result_t *r) {
  return (double)(r->trigger - r->heap_live) / (double)(r->goal - r->heap_live);
}
static inline double sim_runway(const sim_result_t *r) {
  return (double)(r->goal - r->trigger);
}

/* The 19 TestGcPacer scenarios (§7.2), in the test's order. */
extern const sim_scenario_t sim_scenarios[];
extern const int sim_scenario_count;
const sim_scenario_t *sim_find(const char *name);

/* Called after every cycle with all results so far (n of them). */
typedef void (*sim_check_fn)(void *arg, const sim_scenario_t *sc,
                             const sim_result_t *r, int n);

/* Runs sc through a fresh pacer of version v; fills out[0..length-1]
 * (at most cap) and returns the number of cycles run. */
int sim_run(const sim_scenario_t *sc, pacer_version_t v, sim_result_t *out,
            int cap, sim_check_fn check, void *arg);

/* Go's assertions (§7.3) on the first n results of sc under version v
 * (go117: those Go 1.18 kept for its old pacer, and 30% CPU when steady).
 * False with a one-line reason in msg if one fails. */
bool sim_check_cycle(const sim_scenario_t *sc, pacer_version_t v, const sim_result_t *r,
                     int n, char *msg, size_t cap);

#endif
