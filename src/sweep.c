/* Sweeping: see sweep.h. */
#include "sweep.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "heap.h"
#include "memprof.h"
#include "os.h"
#include "provenance.h"

/* Takes the allocation at granule g if its state word still shows
 * `expect` for it (START, with FLAG as given): clears both bits. */
static bool take(_Atomic uint64_t *w, size_t g, bool flagged) {
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  uint64_t want = flagged ? start | flag : start;
  uint64_t old = atomic_load_explicit(w, memory_order_acquire);
  do {
    if ((old & (start | flag)) != want) return false;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, old & ~(start | flag),
                                                  memory_order_acq_rel, memory_order_acquire));
  return true;
}

/* Sets or clears FLAG while START is still set. */
static void set_flag(_Atomic uint64_t *w, size_t g, bool on) {
  uint64_t start = objindex_start_bit(g), flag = objindex_flag_bit(g);
  uint64_t old = atomic_load_explicit(w, memory_order_relaxed), next;
  do {
    if (!(old & start) || ((old & flag) != 0) == on) return;
    next = on ? old | flag : old & ~flag;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, next, memory_order_acq_rel,
                                                  memory_order_relaxed));
}

/* Garbage this large has its whole pages dropped rather than written.
 * Dropping pages costs a system call and a TLB shootdown on every CPU
 * (measured: 150 to 600 us for 64 KiB on a 2-CPU VM, against 4 us to
 * clear it), and the pages fault back in when reused: only worth it where
 * memory matters more than that. */
#define ZERO_BY_MADVISE ((size_t)2 << 20)

/* Garbage is zeroed before jemalloc hands it out again.  malloc does not
 * clear memory, and a program seldom writes every byte of what it gets
 * (the tail of a size class, a half-filled buffer): dead objects' words
 * left there would be scanned as pointers in the object's next life and
 * keep other garbage alive, chain after chain.  bdwgc clears for the same
 * reason. */
static void zero_garbage(uintptr_t start, size_t size) {
  if (size < ZERO_BY_MADVISE) {
    memset((void *)start, 0, size);
    return;
  }
  uintptr_t lo = align_up(start, PAGE_SIZE), hi = align_down(start + size, PAGE_SIZE);
  memset((void *)start, 0, lo - start);
  madvise((void *)lo, hi - lo, MADV_DONTNEED);
  memset((void *)hi, 0, start + size - hi);
}

/* how: the program freed it (a deferred free), or nothing reached it. */
static void release(uintptr_t start, size_t size, memprof_end_t how, sweep_result_t *out) {
  out->freed_bytes += size;
  out->freed_objects++;
  if (unlikely(objindex_page_sampled(&heap.index, start))) memprof_end(start, how);
  if (size > OBJINDEX_SMALL_MAX) objindex_clear_large(&heap.index, start, size);
  zero_garbage(start, size);
  pacegc_je_sdallocx((void *)start, size, 0);
}

static void sweep_one(sweep_mode_t mode, sweep_when_t when, _Atomic uint64_t *w, size_t g,
                      bool flagged, sweep_result_t *out) {
  uintptr_t start = heap.index.base + (g << GRANULE_SHIFT);
  size_t size = objindex_size(&heap.index, start);
  bool marked = objindex_is_marked(&heap.index, start);
  if (mode == SWEEP_DEFERRED) {
    if (!flagged) return;
    if (marked) {
      out->dangling_bytes += size;
      out->dangling_objects++;
      if (provenance_enabled) provenance_report_dangling(start, size);
    } else if (take(w, g, true)) {
      if (provenance_enabled) provenance_forget(start);
      release(start, size, MEMPROF_FREED, out);
    }
    return;
  }
  if (marked) {
    if (flagged) set_flag(w, g, false);    /* reached again: no longer condemned */
    return;
  }
  out->unreached_bytes += size;
  out->unreached_objects++;
  if (mode == SWEEP_DRY_RUN || when == SWEEP_HOLD) return;
  if (flagged || when == SWEEP_AT_ONCE) {
    if (take(w, g, flagged)) release(start, size, MEMPROF_RECLAIMED, out);
  } else {
    set_flag(w, g, true);
    out->condemned_bytes += size;
    out->condemned_objects++;
  }
}

/* The state words that cover the heap's used part. */
static size_t state_words(void) {
  uintptr_t used = atomic_load(&heap.unused);
  return (objindex_granule(&heap.index, used) + OBJINDEX_STATE_GRANULES - 1) /
         OBJINDEX_STATE_GRANULES;
}

/* State words a thread takes at a time: 1024 granules, 16 KiB of heap,
 * at most a few tens of microseconds with signals blocked. */
#define SWEEP_CHUNK_WORDS ((size_t)32)
/* `next` between jobs: above any job's words, so a thread holding a stale
 * value cannot take a chunk of a job being set up. */
#define SWEEP_NO_JOB (SIZE_MAX / 2)
/* The least runway a job is spread over, and the part of it (a half)
 * left spare: the job ends well before the trigger, so that the next
 * cycle seldom waits for a thread the OS preempted in the middle of a
 * chunk (with four threads on two CPUs, a chunk that takes 30 us of CPU
 * takes 1.5 ms now and then; a quarter spare left the heap 1.1-1.2x its
 * goal at the cycles' starts, a half 1.05-1.09x). */
#define SWEEP_MIN_RUNWAY ((int64_t)1 << 20)
#define SWEEP_SPARE_RUNWAY 2

/* The job.  mode, when and done are written before `next` publishes a
 * job and read only by threads that took a chunk of it; the fields a
 * thread reads before it takes one are atomic (a job may be starting). */
static struct sweep_job {
  sweep_mode_t mode;
  sweep_when_t when;
  sweep_done_fn done;
  _Atomic size_t words;         /* state words the job covers */
  _Atomic int64_t basis;        /* live bytes when it started */
  _Atomic double words_per_byte;   /* what allocating threads sweep per byte */
  _Atomic size_t next;          /* first word nobody has taken */
  _Atomic size_t busy;          /* threads between taking and finishing a chunk */
  _Atomic size_t swept;         /* words swept */
  _Atomic bool held;            /* fork: no chunk is taken */
  _Atomic bool ended;           /* `done` has run */
  _Atomic bool unsettled;       /* the result waits for sweep_take_result */
  atomic_flag merging;          /* guards result */
  sweep_result_t result;
  _Atomic uint64_t cpu_ns;      /* threads' CPU time sweeping, over all jobs */
} J = { .next = SWEEP_NO_JOB, .ended = true, .merging = ATOMIC_FLAG_INIT };

static void end_job(void) {
  if (atomic_exchange(&J.ended, true)) return;
  if (J.done) J.done();
  atomic_store(&J.unsettled, true);
}

/* Every thread that took part (busy) leaves through here; the last one
 * out of a job with nothing left to take ends it. */
static void leave(void) {
  if (atomic_fetch_sub(&J.busy, 1) == 1 && atomic_load(&J.next) >= atomic_load(&J.words))
    end_job();
}

/* Takes the next chunk: [*lo, *hi) of the state words.  On true the
 * caller is busy until it calls leave(). */
static bool take_chunk(size_t *lo, size_t *hi) {
  atomic_fetch_add(&J.busy, 1);                 /* seq_cst, then `held`: sweep_hold */
  if (!atomic_load(&J.held)) {
    size_t n = atomic_load(&J.next), words;
    while (n < (words = atomic_load(&J.words))) {
      if (atomic_compare_exchange_weak(&J.next, &n, n + SWEEP_CHUNK_WORDS)) {
        *lo = n;
        *hi = n + SWEEP_CHUNK_WORDS < words ? n + SWEEP_CHUNK_WORDS : words;
        return true;
      }
    }
  }
  leave();
  return false;
}

/* The 32 mark bits of state word i's granules, each moved to its
 * granule's START position (bit 2k), so the two tables line up. */
static uint64_t marks_as_starts(size_t i) {
  uint64_t m = atomic_load_explicit(&heap.index.marks[i >> 1], memory_order_acquire);
  uint64_t x = (m >> ((i & 1) * 32)) & 0xffffffffu;
  x = (x | x << 16) & 0x0000ffff0000ffffull;
  x = (x | x << 8) & 0x00ff00ff00ff00ffull;
  x = (x | x << 4) & 0x0f0f0f0f0f0f0f0full;
  x = (x | x << 2) & 0x3333333333333333ull;
  x = (x | x << 1) & 0x5555555555555555ull;
  return x;
}

/* Leaks reclaimed at once (reclaimdelay=0, the default): all of a
 * word's unmarked allocations are taken with one atomic operation, not
 * one each.  The marks are read again after each fresh look at the word:
 * an allocation made meanwhile where a freed one was is marked before
 * its START is published (allocate-black), so it is never taken.  No
 * FLAG is set in this mode (only a reclaim delay condemns); a word with
 * one goes one by one (false). */
static bool sweep_word_at_once(_Atomic uint64_t *w, size_t i, sweep_result_t *out) {
  uint64_t old = atomic_load_explicit(w, memory_order_acquire), dead;
  do {
    if (old & ~OBJINDEX_STARTS_MASK) return false;      /* a FLAG: one by one */
    dead = old & ~marks_as_starts(i);
    if (dead == 0) return true;
  } while (!atomic_compare_exchange_weak_explicit(w, &old, old & ~dead, memory_order_acq_rel,
                                                  memory_order_acquire));
  while (dead) {
    unsigned b = (unsigned)__builtin_ctzll(dead);
    dead &= dead - 1;
    uintptr_t start = heap.index.base + ((i * OBJINDEX_STATE_GRANULES + b / 2) << GRANULE_SHIFT);
    size_t size = objindex_size(&heap.index, start);
    out->unreached_bytes += size;
    out->unreached_objects++;
    release(start, size, MEMPROF_RECLAIMED, out);
  }
  return true;
}

static void sweep_words(size_t lo, size_t hi, sweep_result_t *out) {
  bool at_once = J.mode == SWEEP_LEAKS && J.when == SWEEP_AT_ONCE;
  for (size_t i = lo; i < hi; i++) {
    _Atomic uint64_t *w = &heap.index.states[i];
    if (at_once && sweep_word_at_once(w, i, out)) continue;
    uint64_t bits = atomic_load_explicit(w, memory_order_acquire);
    uint64_t starts = bits & OBJINDEX_STARTS_MASK;
    while (starts) {
      unsigned b = (unsigned)__builtin_ctzll(starts);
      starts &= starts - 1;
      size_t g = i * OBJINDEX_STATE_GRANULES + b / 2;
      sweep_one(J.mode, J.when, w, g, (bits >> (b + 1)) & 1, out);
    }
  }
}

/* Adds a chunk's result to the job's, before the chunk is left (the job
 * may end there).  Signals are blocked (sweep_some). */
static void merge(const sweep_result_t *r) {
  while (atomic_flag_test_and_set_explicit(&J.merging, memory_order_acquire)) sched_yield();
  J.result.freed_bytes += r->freed_bytes;
  J.result.freed_objects += r->freed_objects;
  J.result.condemned_bytes += r->condemned_bytes;
  J.result.condemned_objects += r->condemned_objects;
  J.result.unreached_bytes += r->unreached_bytes;
  J.result.unreached_objects += r->unreached_objects;
  J.result.dangling_bytes += r->dangling_bytes;
  J.result.dangling_objects += r->dangling_objects;
  atomic_flag_clear_explicit(&J.merging, memory_order_release);
}

void sweep_start(sweep_mode_t mode, sweep_when_t when, sweep_done_fn done, int64_t basis,
                 int64_t runway, bool empty) {
  atomic_fetch_add(&J.busy, 1);                 /* no one ends the job while it is set up */
  atomic_store(&J.next, SWEEP_NO_JOB);
  J.mode = mode;
  J.when = when;
  J.done = done;
  size_t words = empty ? 0 : state_words();
  if (runway < SWEEP_MIN_RUNWAY) runway = SWEEP_MIN_RUNWAY;
  atomic_store(&J.words, words);
  atomic_store(&J.basis, basis);
  atomic_store(&J.words_per_byte, (double)words / (double)(runway - runway / SWEEP_SPARE_RUNWAY));
  memset(&J.result, 0, sizeof J.result);
  atomic_store(&J.swept, 0);
  atomic_store(&J.unsettled, false);
  atomic_store(&J.ended, false);
  atomic_store(&J.next, 0);
  leave();
}

bool sweep_pending(void) {
  return atomic_load_explicit(&J.next, memory_order_relaxed) <
         atomic_load_explicit(&J.words, memory_order_relaxed);
}

size_t sweep_some(size_t words) {
  size_t done = 0, lo, hi;
  sigset_t mask;
  os_block_signals(&mask);
  uint64_t cpu0 = os_thread_cpu_ns();
  while (done < words && take_chunk(&lo, &hi)) {
    sweep_result_t r = {0};
    sweep_words(lo, hi, &r);
    atomic_fetch_add(&J.swept, hi - lo);
    merge(&r);
    leave();
    done += hi - lo;
  }
  /* CPU time, not wall time: a thread preempted in a chunk is not
   * sweeping, and four threads on two CPUs are preempted often. */
  if (done > 0) atomic_fetch_add(&J.cpu_ns, os_thread_cpu_ns() - cpu0);
  os_restore_signals(&mask);
  return done;
}

void sweep_pay(int64_t live) {
  int64_t basis = atomic_load_explicit(&J.basis, memory_order_relaxed);
  if (live <= basis) return;
  double owed = (double)(live - basis) * atomic_load_explicit(&J.words_per_byte, memory_order_relaxed) -
                (double)atomic_load_explicit(&J.swept, memory_order_relaxed);
  if (owed >= 1) sweep_some(owed < (double)SIZE_MAX / 2 ? (size_t)owed : SIZE_MAX);
}

void sweep_finish(void) {
  sweep_some(SIZE_MAX);                         /* takes chunks until none is left */
  while (atomic_load(&J.busy) != 0) sched_yield();
  if (atomic_load(&J.next) >= atomic_load(&J.words)) end_job();
}

bool sweep_take_result(sweep_result_t *out) {
  if (!atomic_exchange(&J.unsettled, false)) return false;
  *out = J.result;
  return true;
}

uint64_t sweep_cpu_ns(void) { return atomic_load(&J.cpu_ns); }

bool sweep_ended(void) { return atomic_load(&J.ended); }

void sweep_hold(void) {
  atomic_store(&J.held, true);                  /* seq_cst, then `busy`: take_chunk */
  while (atomic_load(&J.busy) != 0) sched_yield();
}

void sweep_release(void) { atomic_store(&J.held, false); }

/* A thread that had just counted itself busy when the parent forked is
 * not in the child. */
void sweep_after_fork_child(void) {
  atomic_store(&J.busy, 0);
  atomic_flag_clear(&J.merging);
  sweep_release();
}

void sweep_clear_flags(void) {
  size_t words = state_words();
  for (size_t i = 0; i < words; i++)
    if (atomic_load_explicit(&heap.index.states[i], memory_order_relaxed) & ~OBJINDEX_STARTS_MASK)
      atomic_fetch_and(&heap.index.states[i], OBJINDEX_STARTS_MASK);
}
