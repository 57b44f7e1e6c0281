/* The root set's pure parts, the range list and the planning: see
 * roots.h.  roots_collect.c gathers the inputs. */
#include "roots.h"

#include "meta.h"

/* ---- the list of root ranges ---- */

static bool roots_grow(roots_t *r) {
  size_t cap = r->cap ? 2 * r->cap : 4096;
  root_range_t *n = meta_grow(r->ranges, r->cap * sizeof *n, r->n * sizeof *n,
                              cap * sizeof *n, "pacegc-roots");
  if (n == NULL) return false;
  r->ranges = n;
  r->cap = cap;
  return true;
}

void roots_reset(roots_t *r) {
  r->n = 0;
  r->stack_bytes = r->global_bytes = r->heap_bytes = 0;
  r->overflow = r->partial = false;
}

void roots_add(roots_t *r, uintptr_t lo, uintptr_t hi, root_kind_t kind) {
  lo = align_up(lo, sizeof(uintptr_t));
  if (hi <= lo) return;
  if (r->n == r->cap && !roots_grow(r)) {
    r->overflow = true;
    return;
  }
  r->ranges[r->n++] = (root_range_t){lo, hi, kind};
  if (kind == ROOT_STACK) r->stack_bytes += hi - lo;
  else if (kind == ROOT_HEAP) r->heap_bytes += hi - lo;
  else r->global_bytes += hi - lo;
}

/* ---- planning (pure) ---- */

size_t spans_normalize(span_t *s, size_t n) {
  SHELL_SORT(span_t, s, n, LESS_BY_LO);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i].hi <= s[i].lo) continue;
    if (out > 0 && s[i].lo <= s[out - 1].hi) {
      if (s[i].hi > s[out - 1].hi) s[out - 1].hi = s[i].hi;
    } else {
      s[out++] = s[i];
    }
  }
  return out;
}

/* The first of n sorted, disjoint spans that ends after a. */
static size_t first_after(const span_t *s, size_t n, uintptr_t a) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s[mid].hi <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Emits [lo, hi), split at the live stack spans. */
static void emit_split(const roots_env_t *env, uintptr_t lo, uintptr_t hi, backing_t backing) {
  for (size_t i = first_after(env->stacks, env->nstacks, lo); lo < hi; i++) {
    uintptr_t s_lo = i < env->nstacks ? env->stacks[i].lo : hi;
    uintptr_t s_hi = i < env->nstacks ? env->stacks[i].hi : hi;
    if (s_lo > lo) {
      uintptr_t end = s_lo < hi ? s_lo : hi;
      env->emit(env->arg, lo, end, ROOT_GLOBAL, backing);
      lo = end;
    }
    if (lo < hi && i < env->nstacks) {
      uintptr_t end = s_hi < hi ? s_hi : hi;
      env->emit(env->arg, lo, end, ROOT_STACK, backing);
      lo = end;
    }
  }
}

void roots_plan(const map_entry_t *e, const roots_env_t *env) {
  if (!e->readable || e->special || (!e->private_ && !e->shared_mem)) return;
  backing_t backing = e->shared_mem ? BACKING_SHARED : e->anon ? BACKING_ANON : BACKING_FILE;
  uintptr_t lo = e->lo;
  for (size_t i = first_after(env->excluded, env->nexcluded, lo); lo < e->hi; i++) {
    uintptr_t x_lo = i < env->nexcluded ? env->excluded[i].lo : e->hi;
    uintptr_t x_hi = i < env->nexcluded ? env->excluded[i].hi : e->hi;
    if (x_lo > lo) emit_split(env, lo, x_lo < e->hi ? x_lo : e->hi, backing);
    lo = x_hi;
  }
}
