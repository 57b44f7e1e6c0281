/*
 * One collection cycle: see gc.h.
 *
 * Invariants:
 *   - at most one cycle runs at a time (gc.lock); fork waits for it;
 *   - the world is stopped from threads_stop_world() to
 *     threads_start_world(), and in between nothing here calls malloc,
 *     stdio, a jemalloc entry point or takes a lock a mutator can hold;
 *   - every mark bit is clear when marking starts, and allocate-black is
 *     on from the end of marking until the sweep has finished;
 *   - FLAG bits set by a cycle all date from one mark (sweep.h).
 */
#include "gc.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "heap.h"
#include "kernroots.h"
#include "mark.h"
#include "markers.h"
#include "meta.h"
#include "os.h"
#include "pace.h"
#include "provenance.h"
#include "report.h"
#include "roots.h"
#include "scavenge.h"
#include "stacks.h"
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

_Atomic int gc_allocate_black;
int64_t gc_flush_bytes = 64 << 10;

static struct gc_state {
  pthread_mutex_t lock;
  _Atomic int64_t live;          /* marked at the last cycle + net since */
  _Atomic int64_t trigger;       /* start a cycle when live reaches this */
  _Atomic long allocations;      /* for gcstress */
  uint64_t cycles, forced_cycles;
  uint64_t start_ns;             /* process start, for "@s" */
  uint64_t cpu_ns;               /* collector CPU over all cycles */
  uint64_t pause_ns;             /* world stopped, over all cycles */
  uint64_t condemned_at_ns;      /* when the FLAG bits in the heap were set */
  uint64_t last_scan_bytes;      /* roots and heap the last mark scanned */
  /* Stops that failed: no heap or gcstress cycle is tried before
   * retry_at; backoff doubles while they fail and is 0 after a success. */
  _Atomic uint64_t retry_at;
  uint64_t backoff;
  stop_result_t last_failure;
  unsigned stop_reports;
  _Atomic bool disabled;         /* no cycle can ever run in this process */
  bool leaks_off;                /* leak reclaim stood down (gc_leaks_off) */
  unsigned partial_streak;       /* cycles in a row that could not reclaim */
  bool told_partial;             /* such a streak was reported */
  char *stack;                   /* the cycles' stack, GC_STACK_SIZE, guard below */
  world_t world;
  roots_t roots;
} gc = { .lock = PTHREAD_MUTEX_INITIALIZER, .trigger = INT64_MAX };

void gc_init(void) {
  const pacegc_config_t *c = config_get();
  gc.start_ns = os_monotonic_ns();
  pace_init(c, (int64_t)gc.start_ns);
  atomic_store(&gc.trigger, pace_trigger());
  if (c->gcstress > 0) gc_flush_bytes = 0;
  provenance_enabled = c->dangling && c->free_mode == FREE_DEFER;
  atomic_store(&gc_allocate_black, provenance_enabled);
  threads_init(c->stop_signal, c->ptrace != 0);
}

static bool gc_heap_due(int64_t live) {
  return live >= atomic_load_explicit(&gc.trigger, memory_order_relaxed);
}

static bool gc_over_budget(void) {
  int64_t trigger = atomic_load_explicit(&gc.trigger, memory_order_relaxed);
  return trigger < INT64_MAX / 2 && atomic_load(&gc.live) >= 2 * trigger;
}

/* The pacer's tick (limiter, memory inputs, scavenger), on the thread
 * that noticed it was due, through gc_collect(GC_TICK) (jemalloc's
 * statistics and purges want more stack than a small thread may have);
 * skipped while a cycle runs. */
static void gc_tick_locked(int64_t now) {
  pace_tick(now, atomic_load(&gc.live));
  atomic_store(&gc.trigger, pace_trigger());
}

void gc_note_alloc(int64_t net_bytes, long allocations) {
  int64_t live = atomic_fetch_add(&gc.live, net_bytes) + net_bytes;
  long stress = config_get()->gcstress;
  if (stress > 0 && allocations > 0) {
    long before = atomic_fetch_add(&gc.allocations, allocations);
    if (before / stress != (before + allocations) / stress) {
      gc_collect(GC_STRESS);
      return;
    }
  }
  if (pace_tick_due((int64_t)os_monotonic_ns())) gc_collect(GC_TICK);
  if (gc_heap_due(live)) gc_collect(GC_HEAP);
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

typedef struct cycle {
  uint64_t t_start, t_rooted, t_marked, t_resumed, mark_cpu, sweep_cpu;
  int markers;
  bool forced;
  int64_t heap_start, goal;
  mark_result_t mark;
  sweep_result_t sweep;
} cycle_t;

static void gc_trace(const cycle_t *cy, bool forced, const pacegc_config_t *c) {
  uint64_t now = os_monotonic_ns();
  uint64_t procs = (uint64_t)c->maxprocs;
  uint64_t elapsed = now - gc.start_ns;
  uint64_t stw = cy->t_rooted - cy->t_start, term = cy->t_resumed - cy->t_marked;
  trace_cycle_t t = {
    .n = gc.cycles,
    .since_start_ns = cy->t_start - gc.start_ns,
    .cpu_percent = elapsed ? (unsigned)(gc.cpu_ns * 100 / (elapsed * procs)) : 0,
    .stw_ns = stw, .mark_ns = cy->t_marked - cy->t_rooted, .term_ns = term,
    .stw_cpu_ns = stw * procs, .bg_cpu_ns = cy->mark_cpu, .term_cpu_ns = term * procs,
    .heap_start = (uint64_t)cy->heap_start, .heap_end = (uint64_t)cy->heap_start,
    .heap_live = cy->mark.marked_bytes, .goal = (uint64_t)cy->goal,
    .stacks = gc.roots.stack_bytes, .globals = gc.roots.global_bytes,
    .procs = c->maxprocs, .forced = forced,
  };
  trace_write(&t);
  sweep_mode_t mode = sweep_mode(c);
  if (mode == SWEEP_LEAKS) return;
  trace_reclaim_t r = {
    .n = gc.cycles, .dry_run = mode == SWEEP_DRY_RUN,
    .objects = mode == SWEEP_DRY_RUN ? cy->sweep.unreached_objects : cy->sweep.freed_objects,
    .bytes = mode == SWEEP_DRY_RUN ? cy->sweep.unreached_bytes : cy->sweep.freed_bytes,
    .kept_objects = cy->sweep.dangling_objects, .kept_bytes = cy->sweep.dangling_bytes,
  };
  trace_write_reclaim(&r);
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

/* The part of a cycle with the world stopped.  Returns false if the cycle
 * had to be abandoned. */
static bool gc_mark_phase(cycle_t *cy, uintptr_t self_sp) {
  stop_result_t why;
  if (!threads_stop_world(&gc.world, GC_STOP_TIMEOUT_MS, &why)) {
    gc_stop_failed(&why);
    return false;
  }
  gc_stop_succeeded();
  bool ok = roots_collect(&gc.roots, &gc.world, self_sp);
  cy->t_rooted = os_monotonic_ns();
  uint64_t cpu0 = os_thread_cpu_ns();
  if (ok) {
    mark_clear();
    pacer_cycle_t pc = {
      .now = (int64_t)cy->t_rooted, .procs = cy->markers, .user_forced = cy->forced,
      .heap_live = (uint64_t)(cy->heap_start > 0 ? cy->heap_start : 0),
      .heap_scan = (uint64_t)(cy->heap_start > 0 ? cy->heap_start : 0),
      .max_stack = gc.roots.stack_bytes, .globals = gc.roots.global_bytes,
    };
    pacer_begin(&pace_pacer, &pc);
    mark_from_roots(&gc.roots, cy->markers, &cy->mark);
    pc.now = (int64_t)os_monotonic_ns();
    pc.heap_marked = cy->mark.marked_bytes;
    pc.heap_scan_work = cy->mark.heap_scan_bytes;
    pc.stack_scan_work = gc.roots.stack_bytes;
    pc.globals_scan_work = gc.roots.global_bytes;
    pacer_finish_cycle(&pace_pacer, &pc);
    atomic_store(&gc_allocate_black, 1);
    atomic_store(&gc.live, (int64_t)cy->mark.marked_bytes);
  }
  cy->mark_cpu = os_thread_cpu_ns() - cpu0 + markers_last_cpu_ns();
  cy->t_marked = os_monotonic_ns();
  threads_start_world(&gc.world);
  cy->t_resumed = os_monotonic_ns();
  if (!ok && os_proc_fd(OS_PROC_MAPS) < 0)
    gc_disable(os_may_open() ? "/proc/self/maps cannot be read"
                             : "/proc/self/maps cannot be opened again since the program "
                               "turned on a seccomp filter");
  return ok;
}

static NOINLINE void gc_cycle(gc_reason_t why, uintptr_t self_sp) {
  const pacegc_config_t *c = config_get();
  bool forced = why == GC_USER;
  cycle_t cy = {.forced = forced};
  heap_stats_t hs;
  heap_read_stats(&hs);          /* before the stop: jemalloc takes locks */
  pace_cycle_start(&hs);
  cy.t_start = os_monotonic_ns();
  cy.heap_start = atomic_load(&gc.live);
  cy.goal = (int64_t)pacer_heap_goal(&pace_pacer);
  cy.markers = gc.last_scan_bytes >= GC_PARALLEL_MARK_MIN ? markers_prepare(c->maxprocs) : 1;
  uint64_t cpu0 = os_thread_cpu_ns();
  pace_pause_begin((int64_t)cy.t_start);
  bool marked = gc_mark_phase(&cy, self_sp);
  pace_pause_end((int64_t)os_monotonic_ns());
  if (!marked) return;

  uint64_t sweep0 = os_thread_cpu_ns();
  if (gc.roots.kernel_io != KERNEL_IO_NONE && sweep_mode(c) == SWEEP_LEAKS)
    gc_leaks_off(gc.roots.kernel_io, c);
  /* A kernel queue that could not be read whole may hold the only
   * pointer to anything unmarked, and so may an allocation a parked thread
   * was publishing that marking could not note (mark.h): nothing is
   * reclaimed this time. */
  bool complete = !gc.roots.partial && !cy.mark.unborn_lost;
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
  if (complete) {
    uint64_t delay = gc_reclaim_delay_ns(c);
    bool confirm = cy.t_marked - gc.condemned_at_ns >= delay;
    sweep(sweep_mode(c), delay == 0 ? SWEEP_AT_ONCE : confirm ? SWEEP_CONFIRM : SWEEP_HOLD,
          &cy.sweep);
    if (confirm) gc.condemned_at_ns = cy.t_marked;
  }
  /* With dangling=1 allocations keep taking the slow path, to record
   * where they were made; marks outside a sweep are cleared by the next
   * mark. */
  atomic_store(&gc_allocate_black, provenance_enabled);
  cy.sweep_cpu = os_thread_cpu_ns() - sweep0;

  gc.cycles++;
  gc.forced_cycles += forced;
  gc.last_scan_bytes = cy.mark.root_scan_bytes + cy.mark.heap_scan_bytes;
  gc.cpu_ns += os_thread_cpu_ns() - cpu0 + markers_last_cpu_ns();
  gc.pause_ns += cy.t_resumed - cy.t_start;
  if (c->gctrace > 0) gc_trace(&cy, forced, c);
  heap_read_stats(&hs);
  pace_cycle_end((int64_t)cy.sweep_cpu, (int64_t)(cy.t_resumed - cy.t_start), &hs,
                 atomic_load(&gc.live));
  atomic_store(&gc.trigger, pace_trigger());
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

typedef struct cycle_call { gc_reason_t why; uintptr_t self_sp; } cycle_call_t;

static void gc_cycle_call(void *arg) {
  const cycle_call_t *c = arg;
  if (c->why == GC_TICK) gc_tick_locked((int64_t)os_monotonic_ns());
  else gc_cycle(c->why, c->self_sp);
}

/* Runs inside the program's malloc, free or realloc call, which must not
 * change errno on success.  The work runs on pacegc's stack with the
 * program's signals held back: a handler that longjmps out of it would
 * leave the world stopped, and the thread's own stack may be too small. */
void gc_collect(gc_reason_t why) {
  int saved_errno = errno;
  if (atomic_load_explicit(&gc.disabled, memory_order_relaxed)) return;
  if (why != GC_USER && why != GC_TICK &&
      os_monotonic_ns() < atomic_load_explicit(&gc.retry_at, memory_order_relaxed))
    return;
  if (why == GC_USER) {
    pthread_mutex_lock(&gc.lock);
  } else if (pthread_mutex_trylock(&gc.lock) != 0) {
    /* One is running.  If the heap has meanwhile grown past twice the
     * trigger, this thread waits for it rather than allocate on: threads
     * that allocate faster than one thread sweeps would otherwise grow
     * the heap, and the next sweep with it, without bound. */
    if (why == GC_TICK || !gc_over_budget()) return;
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
  os_call_on_stack(gc.stack + GC_STACK_SIZE, gc_cycle_call, &call);
  __asm__ volatile("" : : "r"(regs) : "memory");   /* keep regs alive to here */
  os_restore_signals(&mask);
  pthread_mutex_unlock(&gc.lock);
  errno = saved_errno;
}

void gc_before_fork(void) { pthread_mutex_lock(&gc.lock); }
void gc_after_fork_parent(void) { pthread_mutex_unlock(&gc.lock); }

void gc_after_fork_child(void) {
  os_after_fork_child();
  stacks_after_fork_child();
  pthread_mutex_init(&gc.lock, NULL);
  atomic_store(&gc_allocate_black, provenance_enabled);
  pace_after_fork_child();
  threads_after_fork_child();
  kernroots_after_fork_child();
  markers_after_fork_child();
}

void gc_read_stats(pacegc_stats_t *out) {
  pthread_mutex_lock(&gc.lock);
  out->heap_live = (size_t)(atomic_load(&gc.live) > 0 ? atomic_load(&gc.live) : 0);
  out->heap_marked = pace_pacer.heap_marked;
  uint64_t goal, trigger = pacer_trigger(&pace_pacer, &goal);
  out->heap_goal = goal > SIZE_MAX ? SIZE_MAX : (size_t)goal;
  out->heap_trigger = trigger > SIZE_MAX ? SIZE_MAX : (size_t)trigger;
  out->memory_limit = pace_pacer.mem_limit;
  out->gogc = pace_pacer.gogc;
  out->num_gc = (uint32_t)gc.cycles;
  out->num_forced_gc = (uint32_t)gc.forced_cycles;
  out->limiter_last_enabled = pace_pacer.limiter.last_enabled_cycle;
  out->gc_cpu_ns = gc.cpu_ns;
  out->pause_total_ns = gc.pause_ns;
  pthread_mutex_unlock(&gc.lock);
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
