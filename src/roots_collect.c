/* The root set, gathered with the world stopped: see roots.h. */
#include "roots.h"

#include <string.h>

#include "checks.h"
#include "heap.h"
#include "kernroots.h"
#include "meta.h"
#include "os.h"
#include "resident.h"
#include "stacks.h"
#include "tracer.h"
#include "transit.h"

/* ---- gathering the inputs, with the world stopped ---- */

/* Scratch tables in bookkeeping memory, kept from cycle to cycle. */
static struct {
  maps_t maps;
  span_t *excluded, *stacks;
  size_t excluded_cap, stacks_cap;
  pid_t *tids;
  size_t tids_cap;
} rs;

/* A thread's address the stack is live from. */
typedef struct live { pid_t tid; uintptr_t at; } live_t;

typedef struct stack_plan {
  const maps_t *maps;
  span_t *excluded, *stacks;
  size_t nexcluded, nstacks;
  const pid_t *tids;          /* sorted: the threads that are alive */
  size_t ntids;
  uintptr_t main_lo_live;     /* lowest live address in [stack], or UINTPTR_MAX */
  size_t main_line;           /* the [stack] line holding it */
} stack_plan_t;

static bool tid_alive(const stack_plan_t *p, pid_t tid) {
  size_t lo = 0, hi = p->ntids;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p->tids[mid] < tid) lo = mid + 1;
    else hi = mid;
  }
  return lo < p->ntids && p->tids[lo] == tid;
}

#define LESS_TID(x, y) ((x) < (y))

/* The block containing a, or NULL; b is sorted and disjoint. */
static stack_block_t *block_at(stack_block_t *b, size_t n, uintptr_t a) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (b[mid].hi <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && a >= b[lo].lo ? &b[lo] : NULL;
}

/*
 * One live address of a thread.  In its own registered block, or in the
 * main thread's [stack], the part below it is unused; elsewhere (a stack
 * pacegc does not know the bounds of) the whole mapping is read.  The
 * lowest live address wins, so holes are cut once every address is seen:
 * blocks carry theirs in `lo_live` (0: another thread lives in it, no
 * hole), [stack] in p->main_lo_live.
 */
static void plan_live(stack_plan_t *p, const live_t *l, stack_block_t *blocks, size_t nblocks,
                      uintptr_t *lo_live) {
  if (l->at >= heap.start && l->at < atomic_load(&heap.unused)) return;  /* the slots root */
  size_t li = maps_find(p->maps, l->at);
  if (li == SIZE_MAX) return;
  const map_entry_t *line = &p->maps->e[li];
  stack_block_t *b = block_at(blocks, nblocks, l->at);
  if (b != NULL && b->tid == l->tid) {
    uintptr_t *from = &lo_live[b - blocks];
    if (*from != 0 && l->at < *from) *from = l->at;
    return;
  }
  if (b != NULL) lo_live[b - blocks] = 0;
  if (b == NULL && line->main_stack && l->at < p->main_lo_live) {
    p->main_lo_live = l->at;
    p->main_line = li;
  }
  p->stacks[p->nstacks++] = (span_t){l->at, line->hi};
}

/* A registered block no live address is in. */
static void plan_idle_block(stack_plan_t *p, stack_block_t *b, size_t i) {
  if (tid_alive(p, b->tid)) {
    /* Alive but elsewhere (a coroutine stack, say): all of it is live. */
    p->stacks[p->nstacks++] = (span_t){b->lo, b->hi};
    return;
  }
  size_t li = maps_find(p->maps, b->lo);
  const map_entry_t *line = li == SIZE_MAX ? NULL : &p->maps->e[li];
  if (line && line->lo == b->lo && line->hi == b->hi && line->private_ && line->writable &&
      stacks_is_dead_block(b)) {
    p->excluded[p->nexcluded++] = (span_t){b->lo, b->tcb};   /* the descriptor stays */
    return;
  }
  stacks_forget(i);   /* gone or reused: read as ordinary memory */
}

static void plan_stacks(stack_plan_t *p, const live_t *live, size_t nlive, uintptr_t *lo_live) {
  size_t nblocks;
  stack_block_t *blocks = stacks_table(&nblocks);
  SHELL_SORT(stack_block_t, blocks, nblocks, LESS_BY_LO);
  for (size_t i = 0; i < nblocks; i++) lo_live[i] = UINTPTR_MAX;
  p->main_lo_live = UINTPTR_MAX;
  for (size_t i = 0; i < nlive; i++) plan_live(p, &live[i], blocks, nblocks, lo_live);
  if (p->main_lo_live != UINTPTR_MAX)
    p->excluded[p->nexcluded++] = (span_t){p->maps->e[p->main_line].lo, p->main_lo_live};
  /* Backwards: stacks_forget moves the last entry into the hole. */
  for (size_t i = nblocks; i-- > 0;) {
    stack_block_t *b = &blocks[i];
    if (lo_live[i] == UINTPTR_MAX) {
      plan_idle_block(p, b, i);
    } else if (lo_live[i] != 0) {
      size_t li = maps_find(p->maps, lo_live[i]);
      uintptr_t from = li == SIZE_MAX || p->maps->e[li].lo < b->lo ? b->lo : p->maps->e[li].lo;
      p->excluded[p->nexcluded++] = (span_t){from, lo_live[i]};
      p->stacks[p->nstacks++] = (span_t){lo_live[i], b->hi};
    }
  }
}

/* The live addresses of the stopped threads and of the collecting one. */
static size_t gather_live(const world_t *w, uintptr_t self_sp, live_t *live, pid_t *tids) {
  size_t n = 0;
  for (size_t i = 0; i < w->nthreads; i++) {
    const stopped_thread_t *t = &w->threads[i];
    tids[i] = t->tid;
    live[n++] = (live_t){t->tid, t->sp};
    if (t->normal_sp) live[n++] = (live_t){t->tid, t->normal_sp};
  }
  pid_t self = os_gettid();
  tids[w->nthreads] = self;
  live[n++] = (live_t){self, self_sp};
  return n;
}

/* ---- residency ---- */

typedef struct emit_ctx { roots_t *r; uintptr_t lo, hi; root_kind_t kind; } emit_ctx_t;

static bool add_run(void *arg, uintptr_t lo, uintptr_t hi) {
  emit_ctx_t *c = arg;
  roots_add(c->r, lo < c->lo ? c->lo : lo, hi > c->hi ? c->hi : hi, c->kind);
  return !c->r->overflow;
}

/* A thread's live stack up to this size is read whole: its frames were
 * written, so its pages are there, and asking the kernel which are (a
 * system call each) cost more than reading them.  With 1000 idle threads
 * those calls were a third of each stop. */
#define STACK_READ_WHOLE ((uintptr_t)64 << 10)

static void emit_resident(void *arg, uintptr_t lo, uintptr_t hi, root_kind_t kind,
                          backing_t backing) {
  emit_ctx_t c = { arg, lo, hi, kind };
  if (kind == ROOT_STACK && hi - lo <= STACK_READ_WHOLE) add_run(&c, lo, hi);
  else resident_runs(lo, hi, backing, add_run, &c);
}

#ifdef PACEGC_CHECKS
/* Rule 2: no root range reaches into the heap or the bookkeeping. */
static void check_disjoint(const roots_t *r, size_t from, const span_t *excl, size_t n) {
  for (size_t i = from; i < r->n; i++)
    for (size_t j = 0; j < n; j++)
      CHECK_ASSERT(r->ranges[i].hi <= excl[j].lo || r->ranges[i].lo >= excl[j].hi);
}
#endif

bool roots_collect(roots_t *r, const world_t *w, uintptr_t self_sp) {
  roots_reset(r);
  resident_prepare();
  if (!maps_read(&rs.maps)) return false;

  size_t nblocks, nthreads = w->nthreads + 1;
  stacks_table(&nblocks);
  size_t nlive = 3 * nthreads;
  /* excluded: heap, meta, a hole per live address or block; stacks: one
   * per live address or block; then lo_live per block and the live list,
   * carved out of the stacks table's tail. */
  size_t live_words = (nlive * sizeof(live_t) + nblocks * sizeof(uintptr_t)) / sizeof(span_t) + 2;
  if (!meta_reserve((void **)&rs.excluded, &rs.excluded_cap,
                    1 + META_MAX_RANGES + nlive + nblocks, sizeof(span_t),
                    "pacegc-roots-excluded") ||
      !meta_reserve((void **)&rs.stacks, &rs.stacks_cap, nlive + nblocks + live_words,
                    sizeof(span_t), "pacegc-roots-stacks") ||
      !meta_reserve((void **)&rs.tids, &rs.tids_cap, nthreads, sizeof(pid_t),
                    "pacegc-roots-tids"))
    return false;
  live_t *live = (live_t *)(rs.stacks + nlive + nblocks);
  uintptr_t *lo_live = (uintptr_t *)(live + nlive);

  stack_plan_t p = { .maps = &rs.maps, .excluded = rs.excluded, .stacks = rs.stacks,
                     .tids = rs.tids, .ntids = nthreads };
  p.excluded[p.nexcluded++] = (span_t){heap.start, atomic_load(&heap.unused)};
  p.nexcluded += meta_snapshot(p.excluded + p.nexcluded, META_MAX_RANGES);
  nlive = gather_live(w, self_sp, live, rs.tids);
  SHELL_SORT(pid_t, rs.tids, nthreads, LESS_TID);
  plan_stacks(&p, live, nlive, lo_live);

  roots_env_t env = {
    .excluded = p.excluded, .nexcluded = spans_normalize(p.excluded, p.nexcluded),
    .stacks = p.stacks, .nstacks = spans_normalize(p.stacks, p.nstacks),
    .emit = emit_resident, .arg = r,
  };
  r->kernel_io = KERNEL_IO_NONE;
  for (size_t i = 0; i < rs.maps.n; i++) {
    roots_plan(&rs.maps.e[i], &env);
    if (rs.maps.e[i].kernel_io != KERNEL_IO_NONE) r->kernel_io = rs.maps.e[i].kernel_io;
  }
#ifdef PACEGC_CHECKS
  check_disjoint(r, 0, env.excluded, env.nexcluded);
#endif
  kernroots_add_roots(r);
  if (!transit_add_roots(r, w, &rs.maps)) r->partial = true;
  roots_add(r, (uintptr_t)w->threads, (uintptr_t)(w->threads + w->nthreads), ROOT_GLOBAL);
  size_t ntraced;
  const traced_t *traced = tracer_threads(&ntraced);
  if (ntraced) roots_add(r, (uintptr_t)traced, (uintptr_t)(traced + ntraced), ROOT_STACK);
  return !r->overflow;
}
