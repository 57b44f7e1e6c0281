/*
 * One collection cycle: see gc.h.
 *
 * Invariants:
 *   - at most one cycle runs at a time (gc.lock); fork waits for it;
 *   - a cycle's sweep runs after the world restarts, on the threads that
 *     allocate (sweep.h) and the cycle's own (gc_sweep_inline); the next
 *     cycle finishes it before it marks, and whoever holds gc.lock next
 *     settles its result (gc_sweep_settle);
 *   - the world is stopped from threads_stop_world() to
 *     threads_start_world(), and in between nothing here calls malloc,
 *     stdio, a jemalloc entry point or takes a lock a mutator can hold;
 *   - every mark bit is clear when marking starts, and allocate-black is
 *     on from the end of marking (the first stop, for a concurrent mark)
 *     until the sweep has finished;
 *   - while a concurrent mark runs, every page of the heap and of the
 *     tracked mappings written since the mark last read it is either
 *     reported by dirty_collect() or read at the final stop (dirty.h);
 *   - FLAG bits set by a cycle all date from one mark (sweep.h).
 */
#include "gc.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "background.h"
#include "blocking.h"
#include "config.h"
#include "dirty.h"
#include "heap.h"
#include "kernroots.h"
#include "mark.h"
#include "markers.h"
#include "meta.h"
#include "memprof.h"
#include "metrics_out.h"
#include "profile_out.h"
#include "os.h"
#include "pace.h"
#include "provenance.h"
#include "range.h"
#include "report.h"
#include "roots.h"
#include "scavenge.h"
#include "stacks.h"
#include "stats.h"
#include "sweep.h"
#include "threads.h"
#include "trace.h"
#include "transit.h"

#include "pacegc.h"

#define GC_STOP_TIMEOUT_MS 2000
/* After a stop fails, heap-triggered and gcstress cycles wait this long
 * before the next try, twice as long after each further failure. */
#define GC_BACKOFF_MIN_NS ((uint64_t)10000000)
#define GC_BACKOFF_MAX_NS ((uint64_t)10000000000)
#define GC_STOP_REPORTS_MAX 8
/* Cycles in a row that could not read every kernel queue (transit.h)
 * before the user is told: one now and then is harmless, a run of them
 * means the heap grows past its goal. */
#define GC_PARTIAL_STREAK_TOLD 4
/* Cycles run on a stack of pacegc's own, whatever the stack of the thread
 * that allocated: threads with 16 KiB stacks allocate too. */
#define GC_STACK_SIZE ((size_t)512 << 10)
/* Helper markers pay off only when there is enough to mark: waking one
 * costs tens of microseconds to milliseconds on a busy machine, while a
 * small heap is marked in a fraction of a millisecond. */
#define GC_PARALLEL_MARK_MIN ((uint64_t)16 << 20)
/* A concurrent mark reads the pages written meanwhile, round after round,
 * until a round finds fewer than GC_DIRTY_SMALL bytes written: the final
 * stop reads what the last round left, so this bounds its length. */
#define GC_DIRTY_SMALL ((size_t)256 << 10)
#define GC_DIRTY_ROUNDS_MAX 8
/* Marking beside the program pays off once stopping the world to mark
 * would take longer than the concurrent cycle's costs: a second stop,
 * arming and disarming write tracking, the program's write faults (17 us
 * each on the 2-CPU VM of the README's numbers), pages read twice.  On a
 * 1 GB/s allocator with 10 MB live, whose marks take 3 to 7 ms with the
 * world stopped, marking beside it doubled run time and peak RSS; at
 * 100 MB of linked nodes (60 to 120 ms stopped) it wins.  So a cycle marks
 * beside the program when the last one found at least this much live
 * (heap and roots), unless PACEGC_GODEBUG=concurrent=0 or 2.  Bytes, not
 * the last mark's time: the time doubles on a busy machine, and a cycle
 * that went concurrent for it would stay so. */
#define GC_CONCURRENT_MIN_BYTES ((uint64_t)32 << 20)


/* Set while this thread holds gc.lock in gc_collect or runs the
 * background cycle: an allocation the cycle makes itself (pthread_create
 * for a marker or the background thread) must not wait for the lock it
 * holds. */
static __thread bool gc_inside;

static struct gc_state {
  pthread_mutex_t lock;
  _Atomic int64_t live;          /* marked at the last cycle + net since */
  _Atomic int64_t trigger;       /* start a cycle when live reaches this */
  _Atomic long allocations;      /* for gcstress */
  uint64_t cycles, forced_cycles;
  uint64_t start_ns;             /* process start, for "@s" */
  uint64_t cpu_ns;               /* collector CPU over all cycles */
  uint64_t pause_ns;             /* world stopped, over all cycles */
  uint32_t limiter_seen;         /* the limiter's last engagement, as of the
                                    last cycle (metrics) */
  uint64_t condemned_at_ns;      /* when the FLAG bits in the heap were set */
  uint64_t sweep_cycle;          /* the cycle the last sweep job is of */
  sweep_mode_t sweep_mode;       /* and its mode */
  uint64_t sweep_cpu_seen;       /* sweep_cpu_ns() at the last settling */
  uint64_t last_scan_bytes;      /* roots and heap the last mark scanned */
  uint64_t last_live_bytes;      /* heap and roots the last mark found live */
  /* The next heap-triggered cycle may mark beside the program: it goes to
   * the background thread.  One that stops the world runs on the thread
   * that crossed the trigger, which sweeps before it allocates on. */
  _Atomic bool use_background;
  /* Stops that failed: no heap or gcstress cycle is tried before
   * retry_at; backoff doubles while they fail and is 0 after a success. */
  _Atomic uint64_t retry_at;
  uint64_t backoff;
  stop_result_t last_failure;
  unsigned stop_reports;
  _Atomic bool disabled;         /* no cycle can ever run in this process */
  _Atomic bool cycling;          /* gc_cycle runs (else the lock's holder settles or ticks) */
  bool leaks_off;                /* leak reclaim stood down (gc_leaks_off) */
  unsigned partial_streak;       /* cycles in a row that could not reclaim */
  bool told_partial;             /* such a streak was reported */
  char *stack;                   /* the cycles' stack, GC_STACK_SIZE, guard below */
  bool told_stw;                 /* said why marking stops the world */
  /* While a concurrent mark runs: scan work an allocating thread owes
   * per KiB it allocates (0: no assists), and their CPU time. */
  _Atomic uint64_t assist_per_kib;
  _Atomic uint64_t assist_ns;
  world_t world;
  roots_t roots;
  roots_t dirty;                 /* a concurrent mark's ranges to read again */
} gc = { .lock = PTHREAD_MUTEX_INITIALIZER, .trigger = INT64_MAX };

static void gc_note_alloc(int64_t net_bytes, long allocations);

void gc_init(void) {
  const pacegc_config_t *c = config_get();
  gc.start_ns = os_monotonic_ns();
  pace_init(c, (int64_t)gc.start_ns);
  atomic_store(&gc.trigger, pace_trigger());
  atomic_store(&gc.use_background, c->concurrent == 2);
  provenance_enabled = c->dangling && c->free_mode == FREE_DEFER;
  atomic_store(&heap_allocate_black, provenance_enabled);
  threads_init(c->stop_signal, c->ptrace != 0);
  blocking_init(c->stop_blocked == 0);
  metrics_out_init(c->metrics_path);
  profile_out_init(c);
  heap_set_budget(c->gcstress > 0 ? 0 : HEAP_BUDGET_DEFAULT, gc_note_alloc);
}

static bool gc_heap_due(int64_t live) {
  return live >= atomic_load_explicit(&gc.trigger, memory_order_relaxed);
}

static bool gc_over_budget(void) {
  int64_t trigger = atomic_load_explicit(&gc.trigger, memory_order_relaxed);
  return trigger < INT64_MAX / 2 && atomic_load(&gc.live) >= 2 * trigger;
}

static void gc_sweep_settle(void);

/* The pacer's tick (limiter, memory inputs, scavenger), on the thread
 * that noticed it was due, through gc_collect(GC_TICK) (jemalloc's
 * statistics and purges want more stack than a small thread may have);
 * skipped while a cycle runs. */
static void gc_tick_locked(int64_t now) {
  gc_sweep_settle();
  pace_tick(now, atomic_load(&gc.live));
  atomic_store(&gc.trigger, pace_trigger());
}

/* Most scan work one assist does before the thread allocates on; it
 * assists again at its next batch. */
#define GC_ASSIST_MAX ((size_t)1 << 20)

/* Go's mark assist: while a concurrent mark runs, a thread pays for what
 * it allocates with scan work, so that marking ends before the heap
 * passes its goal.  Every signal is blocked meanwhile (mark.h).  Not for
 * the cycle's own allocations, nor while the CPU limiter is full. */
static void gc_assist(int64_t bytes) {
  uint64_t per_kib = atomic_load_explicit(&gc.assist_per_kib, memory_order_relaxed);
  if (per_kib == 0 || bytes <= 0 || gc_inside) return;
  size_t budget = (size_t)((uint64_t)bytes * per_kib >> 10);
  if (budget > GC_ASSIST_MAX) budget = GC_ASSIST_MAX;
  if (budget == 0) return;
  int saved_errno = errno;
  sigset_t mask;
  os_block_signals(&mask);
  uint64_t cpu0 = os_thread_cpu_ns();
  for (size_t done = 0, d; done < budget && (d = mark_assist(budget - done)) > 0;) done += d;
  atomic_fetch_add_explicit(&gc.assist_ns, os_thread_cpu_ns() - cpu0, memory_order_relaxed);
  os_restore_signals(&mask);
  errno = saved_errno;
}

/* The heap's budget function (heap.h): a thread's batch of net allocated
 * bytes (and allocation count, for gcstress); may assist a concurrent
 * mark, sweep, start or run a cycle. */
static void gc_note_alloc(int64_t net_bytes, long allocations) {
  int64_t live = atomic_fetch_add(&gc.live, net_bytes) + net_bytes;
  gc_assist(net_bytes);
  if (unlikely(sweep_pending()) && !gc_inside) sweep_pay(live);
  long stress = config_get()->gcstress;
  if (stress > 0 && allocations > 0) {
    long before = atomic_fetch_add(&gc.allocations, allocations);
    if (before / stress != (before + allocations) / stress) {
      gc_collect(GC_STRESS);
      return;
    }
  }
  uint64_t now = os_monotonic_ns();
  if (pace_tick_due((int64_t)now)) gc_collect(GC_TICK);
  if (gc_heap_due(live)) gc_collect(GC_HEAP);
  if (unlikely(profile_out_due(now))) profile_out_write();
}

static sweep_mode_t sweep_mode(const pacegc_config_t *c) {
  if (!c->reclaim) return SWEEP_DRY_RUN;
  if (c->free_mode == FREE_DEFER) return SWEEP_DEFERRED;
  if (!gc.leaks_off) return SWEEP_LEAKS;
  return c->free_mode == FREE_IGNORE ? SWEEP_DEFERRED : SWEEP_DRY_RUN;
}

/*
 * Requests in flight in io_uring or Linux AIO hold pointers (user_data,
 * aio_data, buffers) in the kernel where no scan reads them: once the
 * process maps either's ring, leak reclaim stands down for good.  Frees
 * the program made and pacegc ignored are then deferred instead, as
 * PACEGC_FREE=defer does; honoured frees stay honoured.  Allocations
 * condemned by leak reclaim (with a reclaim delay) are condemned no
 * more, before any free can set FLAG with its other meaning.
 */
static void gc_leaks_off(kernel_io_t io, const pacegc_config_t *c) {
  gc.leaks_off = true;
  sweep_clear_flags();
  if (c->free_mode == FREE_IGNORE) heap_free_mode = FREE_DEFER;
  report("leak reclaim is off for this process: it uses %s, whose requests in flight hold "
         "pointers no scan can read; %s",
         io == KERNEL_IO_URING ? "io_uring" : "Linux AIO",
         c->free_mode == FREE_IGNORE
             ? "free() now releases what nothing points to any more, as with PACEGC_FREE=defer"
             : "free() releases memory at once, as before");
}

/* The delay is never shortened to meet the memory limit: a wrong free
 * costs the program's data, a limit overshot only memory, and the limit
 * is soft. */
static uint64_t gc_reclaim_delay_ns(const pacegc_config_t *c) {
  return (uint64_t)c->reclaim_delay_ms * 1000000u;
}

/* Whether a cycle starting at `now` can reclaim leaks: condemned garbage
 * is freed only once the reclaim delay has passed, and until then a cycle
 * neither frees nor condemns (sweep.h).  Heap-triggered cycles wait for
 * it: a cycle that cannot free anything would stop the world for nothing.
 * (The program then runs faster and makes more garbage per delay: memory
 * for time, README's collector benchmark.) */
static bool gc_cycle_can_reclaim(const pacegc_config_t *c, uint64_t now) {
  return sweep_mode(c) != SWEEP_LEAKS || now - gc.condemned_at_ns >= gc_reclaim_delay_ns(c);
}

/*
 * One cycle's times: the first stop begins at t_start; marking begins at
 * t_mark (the roots are collected; a concurrent mark: the world runs
 * again); t_term ends marking (a concurrent mark: the final stop begins);
 * the world runs again at t_end.  The trace's a, b, c are the three
 * spans between them.
 */
typedef struct cycle {
  uint64_t t_start, t_mark, t_term, t_end;
  uint64_t pause_ns;             /* the world stopped, both stops */
  uint64_t mark_cpu;             /* marking (beside the program, if concurrent) */
  uint64_t helper_cpu;           /* the helper markers' part of the cycle */
  uint64_t assist_cpu;           /* program threads' assists */
  size_t traced_bytes;           /* marked by tracing (not allocated black) */
  int markers;                   /* markers with the world stopped */
  bool forced, concurrent;
  int64_t heap_start, heap_end, goal;   /* h0, h1, the goal */
  mark_result_t mark;
} cycle_t;

static void gc_trace(const cycle_t *cy, bool forced, const pacegc_config_t *c) {
  uint64_t now = os_monotonic_ns();
  uint64_t procs = (uint64_t)c->maxprocs;
  uint64_t elapsed = now - gc.start_ns;
  uint64_t stw = cy->t_mark - cy->t_start, term = cy->t_end - cy->t_term;
  trace_cycle_t t = {
    .n = gc.cycles,
    .since_start_ns = cy->t_start - gc.start_ns,
    .cpu_percent = elapsed ? (unsigned)(gc.cpu_ns * 100 / (elapsed * procs)) : 0,
    .stw_ns = stw, .mark_ns = cy->t_term - cy->t_mark, .term_ns = term,
    .stw_cpu_ns = stw * procs, .assist_cpu_ns = cy->assist_cpu, .bg_cpu_ns = cy->mark_cpu,
    .term_cpu_ns = term * procs,
    .heap_start = (uint64_t)cy->heap_start, .heap_end = (uint64_t)cy->heap_end,
    .heap_live = cy->mark.marked_bytes, .goal = (uint64_t)cy->goal,
    .stacks = gc.roots.stack_bytes, .globals = gc.roots.global_bytes,
    .procs = c->maxprocs, .forced = forced,
  };
  trace_write(&t);
}

/* pacegc's line after a sweep where frees are deferred or nothing is
 * reclaimed (none with leak reclaim: Go's line says it all). */
static void gc_trace_sweep(const sweep_result_t *s) {
  if (gc.sweep_mode == SWEEP_LEAKS) return;
  bool dry = gc.sweep_mode == SWEEP_DRY_RUN;
  trace_reclaim_t r = {
    .n = gc.sweep_cycle, .dry_run = dry,
    .objects = dry ? s->unreached_objects : s->freed_objects,
    .bytes = dry ? s->unreached_bytes : s->freed_bytes,
    .kept_objects = s->dangling_objects, .kept_bytes = s->dangling_bytes,
  };
  trace_write_reclaim(&r);
}

/* ---- the sweep (sweep.h) ---- */

/* The last job ended: new allocations need not be marked any more (with
 * dangling=1 they keep taking the slow path, to record where they were
 * made; marks outside a sweep are cleared by the next mark). */
static void gc_sweep_ended(void) { atomic_store(&heap_allocate_black, provenance_enabled); }

/* What an ended sweep tells: the collector's time, the CPU limiter, the
 * scavenger (there is more free memory now), the trace and the metrics.
 * gc.lock held. */
static void gc_sweep_settle(void) {
  sweep_result_t r;
  if (!sweep_take_result(&r)) return;
  uint64_t total = sweep_cpu_ns(), ns = total - gc.sweep_cpu_seen;
  gc.sweep_cpu_seen = total;
  gc.cpu_ns += ns;
  if (config_get()->gctrace > 0) gc_trace_sweep(&r);
  metrics_out_note_sweep(r.freed_bytes, r.freed_objects);
  pace_sweep_end((int64_t)ns);
  heap_stats_t hs;
  heap_read_stats(&hs);
  pace_scavenge(&hs, atomic_load(&gc.live));
  atomic_store(&gc.trigger, pace_trigger());
}

/*
 * Who sweeps (sweep.h).  A program thread that ran a cycle itself (the
 * heap crossed the trigger there, gcstress, pacegc_collect) sweeps it
 * before it lets go of gc.lock, helped by the threads that allocate
 * meanwhile; a thread that crosses the trigger in that time waits for the
 * lock rather than allocate on.  Letting the lock go first and sweeping
 * after was measured worse: churn's 2.5 KiB objects on four threads ran
 * 11-12 s at 240-265 MB peak RSS that way, 4.3-5.2 s at 96-101 MB this way
 * (before the sweep was shared: 7-9 s, 170 MB).  pacegc_collect so
 * returns with the sweep done, as Go's runtime.GC() does.
 */
static void gc_sweep_inline(void) {
  sweep_finish();
  gc_sweep_settle();
}

/* The background collector thread (concurrent cycles) is Go's background
 * sweeper: it sweeps without the lock, and settles if it can have it. */
static void gc_sweep_in_background(void) {
  sweep_some(SIZE_MAX);
  if (pthread_mutex_trylock(&gc.lock) != 0) return;   /* its holder settles */
  gc_sweep_settle();
  pthread_mutex_unlock(&gc.lock);
}

/* Turns collection off for good (the stop or the roots need /proc, and
 * it cannot be had): frees are honoured from now on, so that memory the
 * program frees still goes back, and nothing is reclaimed. */
static void gc_disable(const char *why) {
  if (atomic_exchange(&gc.disabled, true)) return;
  heap_disable_collection();
  report("collection is off for this process: %s; free() releases memory at once from now on",
         why);
}

static const char *stop_failure_text(const stop_result_t *why) {
  switch (why->status) {
  case STOP_BLOCKED:
    return "it blocks the stop signal, by a system call pacegc's wrappers do not see "
           "(a raw rt_sigprocmask, or a helper thread of glibc's, which blocks every signal), "
           "and ptrace could not stop it (refused here, or PACEGC_GODEBUG=ptrace=0)";
  case STOP_STOPPED:
    return "it is stopped (SIGSTOP, or a debugger), and ptrace could not stop it";
  case STOP_VFORK: return "it waits in vfork for its child to exec or exit";
  case STOP_TIMEOUT: return "it did not take the stop signal within 2000 ms";
  case STOP_SEND: return "the stop signal cannot be sent to it";
  default: return "no memory for the tables of a stop";
  }
}

/* After a failed stop: cycles the heap or gcstress would start wait, and
 * longer while stops keep failing, so that a thread that cannot stop does
 * not make every allocation wait for it.  Told once per cause. */
static void gc_stop_failed(const stop_result_t *why) {
  if (why->status == STOP_BUSY) return;
  if (why->status == STOP_NO_SIGNAL) {
    gc_disable("no signal to stop threads with could be installed");
    return;
  }
  if (why->status == STOP_NO_TASKS) {
    gc_disable(os_may_open() ? "/proc/self/task cannot be read"
                             : "/proc/self/task cannot be opened again since the program "
                               "turned on a seccomp filter");
    return;
  }
  gc.backoff = gc.backoff == 0 ? GC_BACKOFF_MIN_NS
             : gc.backoff * 2 < GC_BACKOFF_MAX_NS ? gc.backoff * 2 : GC_BACKOFF_MAX_NS;
  atomic_store(&gc.retry_at, os_monotonic_ns() + gc.backoff);
  if (why->status == gc.last_failure.status && why->tid == gc.last_failure.tid) return;
  gc.last_failure = *why;
  if (gc.stop_reports++ >= GC_STOP_REPORTS_MAX) return;
  report("cannot stop thread %d: %s%s%s%s; no cycle runs until it can (next try in %lu ms, "
         "then less and less often, up to every %lu s)", (int)why->tid, stop_failure_text(why),
         why->err ? " (" : "", why->err ? strerror(why->err) : "", why->err ? ")" : "",
         (unsigned long)(gc.backoff / 1000000), (unsigned long)(GC_BACKOFF_MAX_NS / 1000000000));
}

static void gc_stop_succeeded(void) {
  gc.backoff = 0;
  gc.last_failure = (stop_result_t){ STOP_OK, 0, 0 };
}

/* Stops the world for a cycle; false (and the failure dealt with) if it
 * cannot be stopped. */
static bool gc_stop(void) {
  stop_result_t why;
  if (!threads_stop_world(&gc.world, GC_STOP_TIMEOUT_MS, &why)) {
    gc_stop_failed(&why);
    return false;
  }
  gc_stop_succeeded();
  return true;
}

/* After roots could not be collected: if /proc/self/maps is gone for
 * good, so is collection. */
static void gc_roots_failed(void) {
  if (os_proc_fd(OS_PROC_MAPS) < 0)
    gc_disable(os_may_open() ? "/proc/self/maps cannot be read"
                             : "/proc/self/maps cannot be opened again since the program "
                               "turned on a seccomp filter");
}

static pacer_cycle_t gc_pacer_input(const cycle_t *cy, int procs) {
  uint64_t h0 = (uint64_t)(cy->heap_start > 0 ? cy->heap_start : 0);
  return (pacer_cycle_t){
    .now = (int64_t)cy->t_mark, .procs = procs, .user_forced = cy->forced,
    .heap_live = h0, .heap_scan = h0,
    .max_stack = gc.roots.stack_bytes, .globals = gc.roots.global_bytes,
  };
}

/* The assist ratio from the pacer, for gc_assist. */
static void gc_publish_assist_ratio(void) {
  double per_byte = pace_assist_work_per_byte();
  uint64_t per_kib = per_byte * 1024 > 1e12 ? (uint64_t)1e12 : (uint64_t)(per_byte * 1024);
  atomic_store(&gc.assist_per_kib, per_kib == 0 && per_byte > 0 ? 1 : per_kib);
}

/* With the world stopped, marking done: the pacer's end of the cycle
 * (marked_bytes counts what was allocated black meanwhile), and the heap's
 * live bytes from now on. */
static void gc_mark_done(cycle_t *cy, pacer_cycle_t *pc, uint64_t allocated) {
  pc->now = (int64_t)os_monotonic_ns();
  pc->heap_marked = cy->mark.marked_bytes;
  pc->heap_scan_work = cy->mark.heap_scan_bytes;
  pc->stack_scan_work = gc.roots.stack_bytes;
  pc->globals_scan_work = gc.roots.global_bytes;
  pc->allocated = allocated;
  pace_mark_end(pc);
  atomic_store(&heap_allocate_black, 1);
  atomic_store(&gc.live, (int64_t)cy->mark.marked_bytes);
}

/* A mark with the world stopped throughout.  False if the cycle had to be
 * abandoned. */
static bool gc_mark_stw(cycle_t *cy, uintptr_t self_sp) {
  pace_pause_begin((int64_t)cy->t_start);
  if (!gc_stop()) {
    pace_pause_end((int64_t)os_monotonic_ns());
    return false;
  }
  bool ok = roots_collect(&gc.roots, &gc.world, self_sp);
  cy->t_mark = os_monotonic_ns();
  uint64_t cpu0 = os_thread_cpu_ns();
  if (ok) {
    mark_clear();
    pacer_cycle_t pc = gc_pacer_input(cy, cy->markers);
    pace_mark_begin(&pc);
    mark_from_roots(&gc.roots, cy->markers, &cy->mark);
    gc_mark_done(cy, &pc, 0);
  }
  cy->helper_cpu = markers_take_cpu_ns();
  cy->mark_cpu = os_thread_cpu_ns() - cpu0 + cy->helper_cpu;
  cy->t_term = os_monotonic_ns();
  cy->heap_end = cy->heap_start;
  threads_start_world(&gc.world);
  cy->t_end = os_monotonic_ns();
  cy->pause_ns = cy->t_end - cy->t_start;
  pace_pause_end((int64_t)cy->t_end);
  if (!ok) gc_roots_failed();
  return ok;
}

/*
 * Whether cycles should mark beside the program (concurrent=1): from
 * GC_CONCURRENT_MIN_BYTES live, and not while the memory limit sets the
 * goal below GOGC's.  There cycles follow one another (the live heap is
 * near or over the limit): the program would take write faults on every
 * page all the time, pauses are no longer what hurts, and with the world
 * stopped the CPU limiter keeps the collector to half the CPU as designed.
 */
static bool gc_wants_concurrent(const pacegc_config_t *c) {
  if (c->concurrent != 1) return c->concurrent == 2;
  return gc.last_live_bytes >= GC_CONCURRENT_MIN_BYTES && !pace_limit_sets_goal();
}

/* Why marking stops the world, in the trace, once per process. */
static void gc_tell_stw(const pacegc_config_t *c, const char *why, const char *detail) {
  if (gc.told_stw || c->gctrace <= 0) return;
  gc.told_stw = true;
  trace_write_note(why, detail);
}

/* Whether this cycle may mark beside the program; the first time it may
 * not, the trace says why. */
static bool gc_concurrent_ok(const pacegc_config_t *c) {
  /* A cycle a program thread runs itself (pacegc_collect, gcstress, a
   * heap over budget) holds that thread anyway: with concurrent=1 it
   * stops the world, cheaper than arming tracking for it. */
  if (!gc_wants_concurrent(c) || (c->concurrent == 1 && !background_is_me())) return false;
  const char *why, *detail = NULL;
  wtrack_status_t s;
  if (os_seccomp_filtered()) {
    why = "concurrent marking is off under a seccomp filter, which might kill the process "
          "for userfaultfd or process_vm_readv: cycles mark with the world stopped";
  } else if (!range_reserved()) {
    why = "concurrent marking is off under RLIMIT_AS (the heap is mapped piece by piece): "
          "cycles mark with the world stopped";
  } else if ((s = dirty_available()) != WTRACK_OK) {
    why = "concurrent marking is off, write tracking cannot be had: cycles mark with the "
          "world stopped";
    detail = wtrack_status_text(s);
  } else {
    return true;
  }
  gc_tell_stw(c, why, detail);
  return false;
}

/* The markers of a concurrent mark.  On the background thread, Go's
 * dedicated workers and, where rounding leaves a share over, one
 * fractional worker that sleeps to keep to it (pacer.h §3.1).  On a
 * program's thread (pacegc_collect, gcstress, a heap over budget) the
 * thread waits for the cycle anyway: every marker runs flat out. */
static int gc_concurrent_markers(const pacegc_config_t *c) {
  if (!background_is_me()) return markers_prepare(c->maxprocs);
  int dedicated;
  double fraction;
  pace_mark_workers(&dedicated, &fraction);
  int want = dedicated + (fraction > 0 ? 1 : 0);
  int n = markers_prepare(want < 1 ? 1 : want);
  if (fraction > 0 && n == want) markers_set_fraction(n - 1, fraction);
  else if (dedicated == 0) markers_set_fraction(0, fraction);
  return n;
}

/* Go's revise: the assist ratio follows the heap and the work done. */
static void gc_revise(void) {
  pace_revise(atomic_load(&gc.live), mark_scan_progress());
  gc_publish_assist_ratio();
}

/* Beside the program: the roots of the first stop, then the pages written
 * meanwhile, round after round.  False if the heap's written pages could
 * not be read: the final stop then marks everything again. */
static bool gc_mark_beside(cycle_t *cy, const pacegc_config_t *c) {
  uint64_t cpu0 = os_thread_cpu_ns();
  int n = gc_concurrent_markers(c);
  mark_ranges(&gc.roots, n, true);
  gc_revise();
  bool heap_ok = true;
  for (int round = 0; round < GC_DIRTY_ROUNDS_MAX; round++) {
    roots_reset(&gc.dirty);
    if (!dirty_collect(&gc.dirty, false)) {
      heap_ok = false;
      break;
    }
    size_t written = gc.dirty.heap_bytes + gc.dirty.global_bytes;
    gc_revise();
    if (written == 0) break;
    mark_ranges(&gc.dirty, n, true);
    if (written < GC_DIRTY_SMALL) break;
  }
  markers_set_fraction(-1, 0);
  cy->helper_cpu = markers_take_cpu_ns();
  cy->mark_cpu = os_thread_cpu_ns() - cpu0 + cy->helper_cpu;
  return heap_ok;
}

/* The final stop's marking: the roots tracking does not cover and the
 * pages written since the last round; everything again if those could
 * not be read. */
static void gc_mark_final(cycle_t *cy, bool heap_ok) {
  roots_reset(&gc.dirty);
  if (heap_ok && dirty_collect(&gc.dirty, true)) {
    dirty_untracked(&gc.roots, &gc.dirty);
    if (!gc.dirty.overflow) {
      mark_ranges(&gc.dirty, cy->markers, false);
      mark_end(&cy->mark);
      return;
    }
  }
  mark_clear();
  mark_from_roots(&gc.roots, cy->markers, &cy->mark);
}

/*
 * A mostly-concurrent mark: tracking armed, a short stop to collect the
 * roots and turn on allocate-black, marking beside the program, and a
 * final stop that reads again what was written since (dirty.h).  The
 * pauses follow the roots and the pages written in the last round, not
 * the heap.  False if the cycle had to be abandoned: then nothing is
 * reclaimed, and the marks are cleared by the next cycle.
 */
static bool gc_mark_concurrent(cycle_t *cy, uintptr_t self_sp, const pacegc_config_t *c) {
  mark_clear();                  /* allocate-black is off: nothing marks */
  if (!dirty_arm()) {
    gc_tell_stw(c, "write tracking failed; this cycle marks with the world stopped",
                strerror(errno));
    return gc_mark_stw(cy, self_sp);
  }
  cy->t_start = os_monotonic_ns();
  pace_pause_begin((int64_t)cy->t_start);
  if (!gc_stop()) {
    pace_pause_end((int64_t)os_monotonic_ns());
    dirty_disarm();
    return false;
  }
  bool ok = roots_collect(&gc.roots, &gc.world, self_sp);
  pacer_cycle_t pc = gc_pacer_input(cy, c->maxprocs);
  if (ok) {
    dirty_protect_roots();
    mark_begin();
    atomic_store(&heap_allocate_black, 1);
    pc.now = (int64_t)os_monotonic_ns();
    pace_mark_begin(&pc);
    atomic_store(&gc.assist_ns, 0);
    gc_publish_assist_ratio();
    mark_assists(true);
  }
  threads_start_world(&gc.world);
  cy->t_mark = os_monotonic_ns();
  cy->pause_ns = cy->t_mark - cy->t_start;
  pace_pause_end((int64_t)cy->t_mark);
  if (!ok) {
    dirty_disarm();
    gc_roots_failed();
    return false;
  }

  bool heap_ok = gc_mark_beside(cy, c);

  cy->t_term = os_monotonic_ns();
  pace_pause_begin((int64_t)cy->t_term);
  if (!gc_stop()) {
    pace_pause_end((int64_t)os_monotonic_ns());
    mark_assists(false);
    atomic_store(&gc.assist_per_kib, 0);
    dirty_disarm();
    atomic_store(&heap_allocate_black, provenance_enabled);
    return false;
  }
  cy->heap_end = atomic_load(&gc.live);
  mark_assists(false);
  atomic_store(&gc.assist_per_kib, 0);
  cy->assist_cpu = atomic_load(&gc.assist_ns);
  pace_add_gc_cpu((int64_t)cy->assist_cpu);
  pc.assist_ns = (int64_t)cy->assist_cpu;
  ok = roots_collect(&gc.roots, &gc.world, self_sp);
  /* The limiter counts the markers' CPU as the collector's (Go: the
   * dedicated and fractional workers), not only the stops and assists. */
  pace_add_gc_cpu((int64_t)cy->mark_cpu);
  if (ok) {
    gc_mark_final(cy, heap_ok);
    cy->traced_bytes = cy->mark.marked_bytes;
    int64_t grown = cy->heap_end - cy->heap_start;
    cy->mark.marked_bytes += grown > 0 ? (size_t)grown : 0;   /* allocated black */
    gc_mark_done(cy, &pc, grown > 0 ? (uint64_t)grown : 0);
  }
  threads_start_world(&gc.world);
  cy->t_end = os_monotonic_ns();
  cy->pause_ns += cy->t_end - cy->t_term;
  pace_pause_end((int64_t)cy->t_end);
  dirty_disarm();
  if (!ok) {
    atomic_store(&heap_allocate_black, provenance_enabled);
    gc_roots_failed();
  }
  return ok;
}

/* Where the next heap-triggered cycle marks: what this one found live
 * (traced, not allocated black) decides (GC_CONCURRENT_MIN_BYTES). */
static void gc_note_mark(const cycle_t *cy, const pacegc_config_t *c) {
  size_t traced = cy->concurrent ? cy->traced_bytes : cy->mark.marked_bytes;
  gc.last_live_bytes = traced + gc.roots.global_bytes + gc.roots.stack_bytes;
  atomic_store(&gc.use_background, gc_wants_concurrent(c));
}

/* The collector's fields of pacegc_read_stats; gc.lock held. */
static void gc_stats_locked(pacegc_stats_t *out) {
  out->heap_live = (size_t)(atomic_load(&gc.live) > 0 ? atomic_load(&gc.live) : 0);
  pace_read_stats(out);
  out->num_gc = (uint32_t)gc.cycles;
  out->num_forced_gc = (uint32_t)gc.forced_cycles;
  out->gc_cpu_ns = gc.cpu_ns;
  out->pause_total_ns = gc.pause_ns;
}

void gc_read_stats(pacegc_stats_t *out) {
  pthread_mutex_lock(&gc.lock);
  gc_sweep_settle();
  gc_stats_locked(out);
  pthread_mutex_unlock(&gc.lock);
}

/* The metrics file (metrics_out.h): this cycle's counts, and the file
 * itself once a second. */
static void gc_metrics(const cycle_t *cy) {
  uint32_t engaged = pace_limiter_last_enabled();
  uint64_t stops[2] = { cy->t_mark - cy->t_start, cy->t_end - cy->t_term };
  if (cy->concurrent) metrics_out_note_cycle(stops, 2, engaged != gc.limiter_seen);
  else metrics_out_note_cycle(&cy->pause_ns, 1, engaged != gc.limiter_seen);
  gc.limiter_seen = engaged;
  uint64_t now = os_monotonic_ns();
  if (!metrics_out_due(now)) return;
  heap_stats_t hs;
  heap_read_stats(&hs);
  pacegc_stats_t s;
  stats_fill_heap(&s, &hs);
  gc_stats_locked(&s);
  metrics_out_write(&s, now);
}

/* The last word at exit: the last sweep's trace line, and what the
 * program ends with in the heap profile and the metrics file. */
__attribute__((destructor)) static void gc_at_exit(void) {
  if (pthread_mutex_trylock(&gc.lock) == 0) {
    gc_sweep_settle();
    pthread_mutex_unlock(&gc.lock);
  }
  profile_out_write();
  if (!metrics_out_on()) return;
  pacegc_stats_t s;
  pacegc_read_stats(&s);
  metrics_out_write(&s, os_monotonic_ns());
}

/* Starts the cycle's sweep (sweep.h), the world running and allocate-
 * black on.  complete: the mark can be trusted; otherwise nothing is
 * swept. */
static void gc_sweep_begin(const cycle_t *cy, const pacegc_config_t *c, bool complete) {
  uint64_t delay = gc_reclaim_delay_ns(c);
  bool confirm = cy->t_term - gc.condemned_at_ns >= delay;
  if (complete && confirm) gc.condemned_at_ns = cy->t_term;
  gc.sweep_cycle = gc.cycles + 1;
  gc.sweep_mode = sweep_mode(c);
  int64_t live = atomic_load(&gc.live), trigger = pace_trigger();
  sweep_start(gc.sweep_mode, delay == 0 ? SWEEP_AT_ONCE : confirm ? SWEEP_CONFIRM : SWEEP_HOLD,
              gc_sweep_ended, live, trigger > live ? trigger - live : 0, !complete);
}

static NOINLINE void gc_cycle_run(gc_reason_t why, uintptr_t self_sp) {
  const pacegc_config_t *c = config_get();
  bool forced = why == GC_USER;
  cycle_t cy = {.forced = forced};
  sweep_finish();                /* the marks are the last sweep's until it ends */
  heap_stats_t hs;
  heap_read_stats(&hs);          /* before the stop: jemalloc takes locks */
  pace_cycle_start(&hs);
  cy.t_start = os_monotonic_ns();
  cy.heap_start = atomic_load(&gc.live);
  cy.goal = pace_heap_goal();
  cy.markers = gc.last_scan_bytes >= GC_PARALLEL_MARK_MIN ? markers_prepare(c->maxprocs) : 1;
  cy.concurrent = gc_concurrent_ok(c);
  uint64_t cpu0 = os_thread_cpu_ns();
  if (!cy.concurrent) dirty_release();
  bool marked = cy.concurrent ? gc_mark_concurrent(&cy, self_sp, c) : gc_mark_stw(&cy, self_sp);
  cy.helper_cpu += markers_take_cpu_ns();
  if (!marked) return;

  if (gc.roots.kernel_io != KERNEL_IO_NONE && sweep_mode(c) == SWEEP_LEAKS)
    gc_leaks_off(gc.roots.kernel_io, c);
  /* A kernel queue that could not be read whole may hold the only
   * pointer to anything unmarked, and so may an allocation a parked thread
   * was publishing that marking could not note (mark.h), or a root range
   * a concurrent mark could not read: nothing is reclaimed this time. */
  bool complete = !gc.roots.partial && !cy.mark.unborn_lost && !cy.mark.unreadable;
  gc.partial_streak = gc.roots.partial ? gc.partial_streak + 1 : 0;
  if (gc.partial_streak == GC_PARTIAL_STREAK_TOLD && !gc.told_partial) {
    gc.told_partial = true;
    report("gc %lu and the %u cycles before it reclaimed nothing: the bytes queued in the "
           "process's pipes and sockets, or its POSIX timers, could not be read whole (over "
           "%zu MiB queued, bytes not sent yet on a TCP connection within the process, or no "
           "memory or descriptor to read them with); a cycle that cannot read them reclaims "
           "nothing (said once)", (unsigned long)gc.cycles + 1, GC_PARTIAL_STREAK_TOLD - 1,
           TRANSIT_BUDGET >> 20);
  }
  gc_sweep_settle();              /* the last sweep's: its result is overwritten here */
  gc_sweep_begin(&cy, c, complete);

  gc.cycles++;
  gc.forced_cycles += forced;
  gc.last_scan_bytes = cy.mark.root_scan_bytes + cy.mark.heap_scan_bytes;
  gc_note_mark(&cy, c);
  gc.cpu_ns += os_thread_cpu_ns() - cpu0 + cy.helper_cpu;
  gc.pause_ns += cy.pause_ns;
  if (c->gctrace > 0) gc_trace(&cy, forced, c);
  pace_cycle_end((int64_t)cy.pause_ns);
  atomic_store(&gc.trigger, pace_trigger());
  if (metrics_out_on()) gc_metrics(&cy);
}

/* A thread that finds gc.lock taken by a cycle allocates on; one taken
 * for anything else (a tick, a sweep's settling) is waited for. */
static void gc_cycle(gc_reason_t why, uintptr_t self_sp) {
  atomic_store(&gc.cycling, true);
  gc_cycle_run(why, self_sp);
  atomic_store(&gc.cycling, false);
}

/* A heap-triggered cycle runs if the heap is still over the trigger, it
 * can reclaim, and the CPU limiter has room for it: while the limiter is
 * full the heap overshoots its goal instead (Go's limiter trades memory
 * for CPU the same way). */
static bool gc_heap_cycle_ok(void) {
  uint64_t now = os_monotonic_ns();
  return gc_heap_due(atomic_load(&gc.live)) && gc_cycle_can_reclaim(config_get(), now) &&
         pace_cycle_allowed((int64_t)now);
}

/* The cycles' stack, mapped on first use, with a guard page below. */
static bool gc_stack_ready(void) {
  if (gc.stack != NULL) return true;
  char *p = meta_map(GC_STACK_SIZE + PAGE_SIZE, "pacegc-cycle-stack");
  if (p == NULL) return false;
  mprotect(p, PAGE_SIZE, PROT_NONE);
  gc.stack = p + PAGE_SIZE;
  return true;
}

/* The background thread's work (background.h): the heap-triggered cycle
 * it was asked for, if one is still due.  Its stack is bookkeeping
 * memory, never a root. */
static void gc_background_cycle(void) {
  pthread_mutex_lock(&gc.lock);
  gc_inside = true;
  if (!atomic_load(&gc.disabled) && os_monotonic_ns() >= atomic_load(&gc.retry_at) &&
      gc_heap_cycle_ok())
    gc_cycle(GC_HEAP, (uintptr_t)__builtin_frame_address(0));
  gc_inside = false;
  pthread_mutex_unlock(&gc.lock);
  if (sweep_pending()) gc_sweep_in_background();
}

typedef struct cycle_call { gc_reason_t why; uintptr_t self_sp; } cycle_call_t;

/* A heap-triggered cycle that may mark beside the program goes to the
 * background thread, so that this one allocates on, unless the heap is
 * over budget: then this thread pays. */
static bool gc_to_background(gc_reason_t why) {
  return why == GC_HEAP && atomic_load_explicit(&gc.use_background, memory_order_relaxed) &&
         !gc_over_budget();
}

static void gc_cycle_call(void *arg) {
  const cycle_call_t *c = arg;
  if (c->why == GC_TICK) gc_tick_locked((int64_t)os_monotonic_ns());
  else if (!gc_to_background(c->why) || !background_start(gc_background_cycle) ||
           !background_request()) {
    gc_cycle(c->why, c->self_sp);
    gc_sweep_inline();
  }
}

/* Runs inside the program's malloc, free or realloc call, which must not
 * change errno on success.  The work runs on pacegc's stack with the
 * program's signals held back: a handler that longjmps out of it would
 * leave the world stopped, and the thread's own stack may be too small. */
void gc_collect(gc_reason_t why) {
  int saved_errno = errno;
  if (atomic_load_explicit(&gc.disabled, memory_order_relaxed) || gc_inside) return;
  if (why != GC_USER && why != GC_TICK &&
      os_monotonic_ns() < atomic_load_explicit(&gc.retry_at, memory_order_relaxed))
    return;
  if (gc_to_background(why) && background_request()) {
    errno = saved_errno;
    return;
  }
  if (why == GC_USER) {
    pthread_mutex_lock(&gc.lock);
  } else if (pthread_mutex_trylock(&gc.lock) != 0) {
    /* A cycle is running: this thread allocates on, unless the heap
     * has meanwhile grown past twice the trigger, when it waits rather
     * than grow the heap, and the next sweep with it, without bound.
     * Anything else holding the lock (a tick, a sweep's settling) is
     * short, and a heap-triggered cycle waits for it rather than let its
     * thread allocate past the trigger.  (Not a gcstress one: the lock is
     * not fair, and a thread calling pacegc_collect back to back kept
     * one waiting for over a second.) */
    bool over = gc_over_budget();
    if (why == GC_HEAP ? atomic_load(&gc.cycling) && !over : why == GC_TICK || !over) return;
    pthread_mutex_lock(&gc.lock);
    if (!gc_heap_due(atomic_load(&gc.live))) {
      pthread_mutex_unlock(&gc.lock);
      return;
    }
  }
  if ((why == GC_HEAP && !gc_heap_cycle_ok()) || !gc_stack_ready()) {
    pthread_mutex_unlock(&gc.lock);
    return;
  }
  sigset_t mask;
  os_block_signals(&mask);
  /* Spill callee-saved registers into this frame, which lies above every
   * frame of the cycle: the collecting thread's stack is scanned from
   * here.  The cycle's own frames, on pacegc's stack, are no root: a
   * register a caller of this thread held a pointer in, and the cycle's
   * functions pushed there, is found in regs. */
  uintptr_t regs[OS_SAVED_REGS];
  OS_SAVE_REGISTERS(regs);
  cycle_call_t call = { why, (uintptr_t)regs < (uintptr_t)__builtin_frame_address(0)
                                 ? (uintptr_t)regs : (uintptr_t)__builtin_frame_address(0) };
  gc_inside = true;
  os_call_on_stack(gc.stack + GC_STACK_SIZE, gc_cycle_call, &call);
  gc_inside = false;
  __asm__ volatile("" : : "r"(regs) : "memory");   /* keep regs alive to here */
  os_restore_signals(&mask);
  pthread_mutex_unlock(&gc.lock);
  errno = saved_errno;
}

/* A sweep in progress stops where it is: the child goes on with it (its
 * chunks are all either swept or not taken). */
void gc_before_fork(void) {
  pthread_mutex_lock(&gc.lock);
  sweep_hold();
  memprof_before_fork();
}

void gc_after_fork_parent(void) {
  memprof_after_fork_parent();
  sweep_release();
  pthread_mutex_unlock(&gc.lock);
}

void gc_after_fork_child(void) {
  os_after_fork_child();
  stacks_after_fork_child();
  pthread_mutex_init(&gc.lock, NULL);
  sweep_after_fork_child();
  atomic_store(&heap_allocate_black, provenance_enabled || !sweep_ended());
  pace_after_fork_child();
  threads_after_fork_child();
  blocking_after_fork_child();
  metrics_out_after_fork_child();
  memprof_after_fork_child();
  profile_out_after_fork_child();
  report_after_fork_child();
  kernroots_after_fork_child();
  markers_after_fork_child();
  dirty_after_fork_child();
  background_after_fork_child();
}

EXPORT void pacegc_collect(void) {
  heap_ensure_init();
  gc_collect(GC_USER);
}

EXPORT int pacegc_set_gogc(int percent) {
  heap_ensure_init();
  pthread_mutex_lock(&gc.lock);
  int old = pace_set_gogc(percent);
  atomic_store(&gc.trigger, pace_trigger());
  pthread_mutex_unlock(&gc.lock);
  return old;
}

EXPORT int64_t pacegc_set_memory_limit(int64_t limit) {
  heap_ensure_init();
  pthread_mutex_lock(&gc.lock);
  int64_t old = pace_set_memory_limit(limit);
  if (limit >= 0) gc_tick_locked((int64_t)os_monotonic_ns());
  atomic_store(&gc.trigger, pace_trigger());
  pthread_mutex_unlock(&gc.lock);
  return old;
}

EXPORT void pacegc_free_os_memory(void) {
  heap_ensure_init();
  gc_collect(GC_USER);
  scavenge_force();
}
