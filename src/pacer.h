/*
 * The pacer: when to start a cycle, how far the heap may grow, and how
 * much CPU the collector may take.  It follows the Go runtime's pacer
 * (shared/research/go-pacer.md is the spec; section numbers below are its):
 *
 *   - goal      N = M + (M + Ps + G)·GOGC/100, at least 4 MiB·GOGC/100
 *               (§1.1), or lower under a soft memory limit (§1.2, §1.3);
 *   - trigger   goal minus the runway the cons/mark ratio asks for, so
 *               that marking at 25% of the CPU ends at the goal (§2),
 *               bounded to 45/64..61/64 of the way from M to the goal;
 *   - assists   work per allocated byte while marking, against a hard
 *               goal (§3.2), for the concurrent mark;
 *   - limiter   a leaky bucket that caps collector CPU at 50% (§4).
 *
 * Everything is a pure function over a pacer_t: no globals, no clock, no
 * system call, no allocation.  The caller measures and passes times in
 * nanoseconds; it also serialises calls (one lock around the pacer).
 *
 * Versions (pacer_t.version): PACER_TIP, the default, is Go 1.21 and later
 * (cons/mark = the largest of the last 5 measurements, limit headroom
 * max(3%, 1 MiB), T = heap live at cycle start).  PACER_GO120 and
 * PACER_GO119 keep the older smoothing (mean of 2; a PI controller) and
 * 1 MiB headroom, for comparison with those runtimes' numbers.
 * PACER_GO117 is the pacer before the 1.18 redesign (PACEGC_GODEBUG=
 * pacer=go117): goal M·(1+GOGC/100), a proportional controller on the
 * trigger ratio aiming at 30% CPU (25% background + 5% assists), trigger
 * ratio in 0.6..0.95 of GOGC/100, heap minimum as floor of the trigger,
 * hard goal 1.1×goal.  It has no memory limit: the limit goal is still
 * computed (pacer_memory_limit_goal) but does not lower its goal.
 *
 * Integer math where Go has it: goal, trigger bounds, memory-limit goal and
 * headroom are uint64 (multiply then divide; d/64·45 truncates d/64 first).
 * Floating point where Go has it: cons/mark, runway (then truncated), the
 * hard goal, the assist ratios, go117's trigger ratio.  Float-to-integer
 * conversions saturate (Go's are implementation-defined out of range).
 */
#ifndef PACEGC_PACER_H
#define PACEGC_PACER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum pacer_version {
  PACER_TIP = 0,          /* Go 1.21+ (default) */
  PACER_GO120,
  PACER_GO119,
  PACER_GO117,            /* pre-redesign */
} pacer_version_t;

#define PACER_GOGC_OFF       (-1)
#define PACER_NO_LIMIT       INT64_MAX
#define PACER_NONE           UINT64_MAX     /* "infinite" goal / unset T */
#define PACER_HEAP_MINIMUM   ((uint64_t)4 << 20)   /* for GOGC=100 */
#define PACER_BG_UTIL        0.25           /* background mark share */
#define PACER_LIMITER_PERIOD 10000000       /* ns between limiter updates */

/* GC CPU limiter (§4): GC time fills the bucket, mutator time drains it. */
typedef struct pacer_limiter {
  uint64_t fill, capacity;   /* CPU-ns; capacity = procs × 1 s */
  uint64_t overflow;         /* GC CPU-ns that found the bucket full */
  bool enabled;              /* limiting: assists (and eager scavenging) off */
  bool gc_enabled;           /* marking: 25% of each window counts as GC */
  bool transitioning;        /* between start and finish of a transition */
  int32_t nprocs;
  int64_t last_update;       /* ns */
  int64_t assist_pool;       /* assist CPU-ns not yet accounted */
  int64_t idle_pool;         /* idle CPU-ns not yet accounted */
  uint32_t numgc;            /* completed cycles (pacer_finish_cycle counts) */
  uint32_t last_enabled_cycle;   /* numgc+1 when it last turned on; 0 never */
} pacer_limiter_t;

typedef struct pacer {
  pacer_version_t version;
  int gogc;                  /* percent, or PACER_GOGC_OFF */
  int64_t mem_limit;         /* bytes, PACER_NO_LIMIT when off */
  uint64_t heap_minimum;     /* 4 MiB·gogc/100 */

  /* Memory-limit inputs (§1.2), one consistent snapshot, F + A <= R. */
  uint64_t mapped_ready;     /* R: mapped and not released */
  uint64_t heap_free;        /* F: free pages not returned to the OS */
  uint64_t heap_alloc;       /* A: bytes in allocations, live or unswept */

  /* Heap and roots (§0). */
  uint64_t heap_marked;      /* M */
  uint64_t heap_live;        /* H = M + allocated since */
  uint64_t heap_scan;        /* Hs: scannable part of H */
  uint64_t last_heap_scan;   /* Ph */
  uint64_t last_stack_scan;  /* Ps */
  uint64_t max_stack_scan;   /* Smax: all reserved stack */
  uint64_t globals_scan;     /* G */

  /* The cycle in progress. */
  uint64_t heap_scan_work, stack_scan_work, globals_scan_work;
  int64_t assist_time, idle_mark_time;     /* CPU-ns */
  int64_t mark_start_time;                 /* ns */
  uint64_t triggered;        /* T; PACER_NONE outside marking */
  bool marking;
  int dedicated_workers;     /* §3.1 */
  double fractional_goal;
  int max_idle_workers;

  /* Outputs while marking (§3.2). */
  double assist_work_per_byte, assist_bytes_per_work;
  uint64_t last_heap_goal;   /* the goal at the last end_cycle */

  /* 1.18+ pacing state. */
  double cons_mark;
  double cons_mark_history[4];   /* past measurements (go120: [0]) */
  double pi_integral;            /* go119 */
  uint64_t runway;
  uint64_t gcpercent_goal;       /* N_gogc */
  uint64_t sweep_dist_min_trigger;

  /* go117 state: trigger and goal are fixed at commit. */
  double trigger_ratio;
  uint64_t committed_trigger, committed_goal;

  pacer_limiter_t limiter;
} pacer_t;

/* Go's init: the heap minimum, T unset, then commit(sweep done).  The
 * limiter is zeroed; start it with pacer_limiter_reset_capacity(). */
void pacer_init(pacer_t *p, pacer_version_t version, int gogc, int64_t mem_limit);

/* Setters; both leave the goal as it was until the next pacer_commit().
 * set_memory_limit ignores a negative value; both return the old value. */
int pacer_set_gogc(pacer_t *p, int gogc);
int64_t pacer_set_memory_limit(pacer_t *p, int64_t limit);
void pacer_set_memory(pacer_t *p, uint64_t mapped_ready, uint64_t heap_free,
                      uint64_t heap_alloc);

/* The goal and trigger, computed from the current state (live: they move
 * with the memory inputs).  pacer_trigger() stores the goal in *goal if
 * goal is not NULL.  The trigger never exceeds the goal. */
uint64_t pacer_heap_goal(const pacer_t *p);
uint64_t pacer_trigger(const pacer_t *p, uint64_t *goal);
uint64_t pacer_memory_limit_goal(const pacer_t *p);
/* L minus the headroom this version leaves (no non-heap memory). */
uint64_t pacer_limit_headroom_goal(pacer_version_t v, uint64_t limit);

/* The cycle, as in Go (each with the state fields it reads):
 *   start_cycle  heap_live, heap_scan, max_stack_scan, globals_scan are
 *                current; clears the work counters, sets T, workers, revise
 *   revise       after heap_live or the work counters moved while marking
 *   end_cycle    assist_time, idle_mark_time, work counters, heap_live final;
 *                measures cons/mark (go117: the next trigger ratio)
 *   reset_live   M = H = bytes marked, Ph = Wh, Ps = Ws, T unset
 *   commit       goal and runway for the next cycle; sweep_done=false lifts
 *                the goal and trigger to H + 1 MiB for the sweeper. */
void pacer_start_cycle(pacer_t *p, int64_t now, int procs, bool periodic);
void pacer_revise(pacer_t *p);
void pacer_end_cycle(pacer_t *p, int64_t now, int procs, bool user_forced);
void pacer_reset_live(pacer_t *p, uint64_t bytes_marked);
void pacer_commit(pacer_t *p, bool sweep_done);

/* One cycle as a collector measures it, for pacer_begin/pacer_finish_cycle. */
typedef struct pacer_cycle {
  int64_t now;               /* begin: mark start; finish: mark end */
  int procs;                 /* collector threads (GOMAXPROCS) */
  bool periodic, user_forced;
  /* begin */
  uint64_t heap_live;        /* M + bytes allocated since the last cycle */
  uint64_t heap_scan;        /* scannable part of heap_live (= heap_live) */
  uint64_t max_stack;        /* reserved stack bytes of all threads */
  uint64_t globals;          /* scannable root bytes other than stacks */
  /* finish */
  uint64_t heap_marked;      /* bytes found live */
  uint64_t heap_scan_work;   /* heap bytes scanned */
  uint64_t stack_scan_work;  /* stack bytes scanned */
  uint64_t globals_scan_work;/* other root bytes scanned */
  uint64_t allocated;        /* bytes allocated while marking (0 if STW) */
  int64_t assist_ns;         /* mutator assist CPU */
  int64_t idle_ns;           /* idle-worker mark CPU */
  bool sweep_done;           /* sweeping finished before commit */
} pacer_cycle_t;

void pacer_begin(pacer_t *p, const pacer_cycle_t *c);
void pacer_finish_cycle(pacer_t *p, const pacer_cycle_t *c);

/* The scavenger's goals (§5.1, Go's gcPaceScavenger), from the limit and
 * the goals of the pacer as of the end of a cycle:
 *   gcpercent    last_inuse · next goal / last goal · 1.1, page-rounded:
 *                the pages the heap should need up to the next cycle, with
 *                10% to spare; PACER_NONE before the first cycle ends, or
 *                while `retained` (in-use + free pages) is within a page;
 *   memory_limit 0.95 · the limit, once `held` (R) is above it, else
 *                PACER_NONE.
 * Free pages go back to the OS while retained > gcpercent or held >
 * memory_limit. */
typedef struct pacer_scavenge_goals {
  uint64_t gcpercent, memory_limit;
} pacer_scavenge_goals_t;

pacer_scavenge_goals_t pacer_scavenge_goals(const pacer_t *p, uint64_t held,
                                            uint64_t retained, uint64_t last_inuse,
                                            uint64_t page);

/* The limiter (§4).  reset_capacity also initialises a zeroed limiter.
 * Transitions bracket each stop-the-world: start(gc_on, t0) ... finish(t1)
 * counts (t1-t0)·procs as GC time.  update() expects no transition open. */
void pacer_limiter_reset_capacity(pacer_limiter_t *l, int64_t now, int32_t procs);
bool pacer_limiter_need_update(const pacer_limiter_t *l, int64_t now);
void pacer_limiter_add_assist(pacer_limiter_t *l, int64_t ns);
void pacer_limiter_add_idle(pacer_limiter_t *l, int64_t ns);
/* The idle time of `capacity` proc-ns in which the process's threads ran
 * `used` CPU-ns and waited wait_per_cpu ns for a CPU per ns they ran: a
 * thread that is runnable holds its proc whether or not the machine runs
 * it (Go's running P), so only what nobody ran or waited for is idle. */
int64_t pacer_limiter_idle(int64_t capacity, int64_t used, double wait_per_cpu);
void pacer_limiter_update(pacer_limiter_t *l, int64_t now);
void pacer_limiter_start_transition(pacer_limiter_t *l, bool gc_on, int64_t now);
void pacer_limiter_finish_transition(pacer_limiter_t *l, int64_t now);
static inline bool pacer_limiter_limiting(const pacer_limiter_t *l) {
  return l->enabled;
}
/* For a stop-the-world collector, which has no assists to turn off: may a
 * heap-triggered cycle whose pause is expected to last pause_ns start now?
 * Yes if the bucket is empty or has room for the pause on every proc; so
 * pauses take at most half the time once the bucket is full. */
bool pacer_limiter_allows_pause(const pacer_limiter_t *l, int64_t pause_ns);

#endif
