/* Write tracking for a concurrent mark: see dirty.h. */
#include "dirty.h"

#include "heap.h"
#include "maps.h"
#include "meta.h"
#include "os.h"

/* A mapping registered at dirty_arm().  Untrusted once a scan of it fails
 * (unmapped, or replaced by a mapping that is not registered): its pages
 * are then read whole at the final stop, if roots still lie there. */
typedef struct tracked {
  uintptr_t lo, hi;
  bool trusted;
} tracked_t;

/* Protecting or unprotecting a range holds the process's mmap lock for as
 * long as it walks the page tables: in pieces, so that the program's mmap,
 * munmap and faults get in between. */
#define DIRTY_PIECE ((uintptr_t)2 << 20)

static struct {
  bool checked;
  wtrack_status_t status;
  bool heap_attached;            /* [heap.start, heap.end) registered */
  bool heap_protected;           /* its used part protected (heap_reprotect) */
  tracked_t *spans;              /* sorted, disjoint */
  size_t n, cap;
  maps_t maps;
  span_t *excluded;
  size_t excluded_cap;
} dt;

wtrack_status_t dirty_available(void) {
  if (!dt.checked) {
    dt.checked = true;
    dt.status = wtrack_open();
  }
  return dt.status;
}

/* A mapping the program may write pointers into, that only this process
 * writes: shared memory is read whole at the final stop instead. */
static bool trackable(const map_entry_t *e) {
  return e->readable && e->writable && e->private_ && !e->special && !e->main_stack &&
         !e->shared_mem;
}

/* Registered now, protected at the first stop (dirty_protect_roots). */
static void track(uintptr_t lo, uintptr_t hi) {
  lo = align_up(lo, PAGE_SIZE);
  hi = align_down(hi, PAGE_SIZE);
  if (hi <= lo) return;
  if (!meta_reserve((void **)&dt.spans, &dt.cap, dt.n + 1, sizeof *dt.spans, "pacegc-dirty"))
    return;
  if (wtrack_attach(lo, hi)) dt.spans[dt.n++] = (tracked_t){lo, hi, true};
}

/* Registers the program's mappings, less the heap's reservation and
 * pacegc's bookkeeping (which the kernel may have merged into them). */
static void track_mappings(void) {
  if (!maps_read(&dt.maps) ||
      !meta_reserve((void **)&dt.excluded, &dt.excluded_cap, 1 + META_MAX_RANGES,
                    sizeof *dt.excluded, "pacegc-dirty-excluded"))
    return;
  size_t nx = 0;
  dt.excluded[nx++] = (span_t){heap.start, heap.end};
  nx += meta_snapshot(dt.excluded + nx, META_MAX_RANGES);
  nx = spans_normalize(dt.excluded, nx);
  size_t x = 0;
  for (size_t i = 0; i < dt.maps.n; i++) {
    const map_entry_t *e = &dt.maps.e[i];
    if (!trackable(e)) continue;
    uintptr_t lo = e->lo;
    while (x < nx && dt.excluded[x].hi <= lo) x++;
    for (size_t j = x; lo < e->hi; j++) {
      uintptr_t x_lo = j < nx && dt.excluded[j].lo < e->hi ? dt.excluded[j].lo : e->hi;
      if (x_lo > lo) track(lo, x_lo);
      lo = j < nx && dt.excluded[j].lo < e->hi ? dt.excluded[j].hi : e->hi;
    }
  }
}

static bool discard_run(void *arg, uintptr_t lo, uintptr_t hi) {
  (void)arg; (void)lo; (void)hi;
  return true;
}

/*
 * The heap's used part, protected again where it was written since (all
 * of it the first time), piece by piece.  It stays protected between
 * concurrent cycles: lifting the protection costs the kernel 2 us a page
 * here (0.55 s a GiB), and protecting only the pages written since costs
 * 0.5 ms a GiB of page tables, while a write to a protected page costs
 * one fault, once a cycle.  dirty_release() lifts it when cycles go back
 * to stopping the world.
 */
static bool heap_reprotect(void) {
  uintptr_t hi = align_up(atomic_load(&heap.unused), PAGE_SIZE);
  for (uintptr_t lo = heap.start; lo < hi; lo += DIRTY_PIECE)
    if (!wtrack_written(lo, hi - lo > DIRTY_PIECE ? lo + DIRTY_PIECE : hi, discard_run, NULL))
      return false;
  dt.heap_protected = true;
  return true;
}

void dirty_release(void) {
  if (!dt.heap_protected || os_seccomp_filtered()) return;   /* the ioctl may be forbidden */
  dt.heap_protected = false;
  uintptr_t hi = align_up(atomic_load(&heap.unused), PAGE_SIZE);
  for (uintptr_t lo = heap.start; lo < hi; lo += DIRTY_PIECE)
    wtrack_unprotect(lo, hi - lo > DIRTY_PIECE ? lo + DIRTY_PIECE : hi);
}

bool dirty_arm(void) {
  dt.n = 0;
  if (!dt.heap_attached) {
    if (!wtrack_attach(heap.start, heap.end)) return false;
    dt.heap_attached = true;
  }
  if (!heap_reprotect()) return false;
  track_mappings();
  return true;
}

typedef struct collect { roots_t *out; root_kind_t kind; } collect_t;

static bool add_run(void *arg, uintptr_t lo, uintptr_t hi) {
  collect_t *c = arg;
  roots_add(c->out, lo, hi, c->kind);
  return !c->out->overflow;
}

void dirty_protect_roots(void) {
  for (size_t i = 0; i < dt.n; i++)
    if (!wtrack_protect(dt.spans[i].lo, dt.spans[i].hi)) dt.spans[i].trusted = false;
}

bool dirty_collect(roots_t *out, bool last) {
  collect_t heap_runs = { out, ROOT_HEAP }, map_runs = { out, ROOT_GLOBAL };
  bool (*scan)(uintptr_t, uintptr_t, wtrack_run_fn, void *) =
      last ? wtrack_written_since : wtrack_written;
  bool ok = scan(heap.start, align_up(atomic_load(&heap.unused), PAGE_SIZE), add_run, &heap_runs);
  for (size_t i = 0; i < dt.n; i++)
    if (dt.spans[i].trusted && !scan(dt.spans[i].lo, dt.spans[i].hi, add_run, &map_runs))
      dt.spans[i].trusted = false;
  return ok && !out->overflow;
}

/* The first tracked span that ends after a. */
static size_t span_after(uintptr_t a) {
  size_t lo = 0, hi = dt.n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (dt.spans[mid].hi <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Stacks are read whole whatever tracks them: the final stop reads them
 * for allocations being published (mark.c), which a written page would
 * not show. */
void dirty_untracked(const roots_t *r, roots_t *out) {
  for (size_t i = 0; i < r->n; i++) {
    const root_range_t *g = &r->ranges[i];
    if (g->kind != ROOT_GLOBAL) {
      roots_add(out, g->lo, g->hi, g->kind);
      continue;
    }
    uintptr_t lo = g->lo;
    for (size_t j = span_after(lo); lo < g->hi; j++) {
      bool in = j < dt.n && dt.spans[j].lo < g->hi;
      uintptr_t s_lo = in ? dt.spans[j].lo : g->hi;
      if (in && !dt.spans[j].trusted) continue;
      if (s_lo > lo) roots_add(out, lo, s_lo, ROOT_GLOBAL);
      lo = in ? dt.spans[j].hi : g->hi;
    }
  }
}

void dirty_disarm(void) {
  for (size_t i = 0; i < dt.n; i++) wtrack_unregister(dt.spans[i].lo, dt.spans[i].hi);
  dt.n = 0;
}

/* The child's mappings are registered nowhere (no UFFD_FEATURE_EVENT_FORK)
 * and the parent's descriptor is gone. */
void dirty_after_fork_child(void) {
  dt.checked = false;
  dt.heap_attached = dt.heap_protected = false;
  dt.n = 0;
  wtrack_after_fork_child();
}
