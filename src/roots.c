/* The root set: see roots.h. */
#include "roots.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "heap.h"
#include "kernroots.h"
#include "meta.h"

static size_t parse_hex(const char *s, size_t len, size_t i, uintptr_t *out) {
  uintptr_t v = 0;
  size_t start = i;
  for (; i < len; i++) {
    char c = s[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
               : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
    if (d == 16) break;
    v = v * 16 + d;
  }
  *out = v;
  return i > start ? i : 0;
}

/* "lo-hi perms offset dev inode   path" */
bool roots_parse_maps_line(const char *s, size_t len, map_entry_t *e) {
  size_t i = parse_hex(s, len, 0, &e->lo);
  if (i == 0 || i >= len || s[i] != '-') return false;
  i = parse_hex(s, len, i + 1, &e->hi);
  if (i == 0 || i + 5 > len || s[i] != ' ' || e->hi <= e->lo) return false;
  e->readable = s[i + 1] == 'r';
  e->writable = s[i + 2] == 'w';
  e->private_ = s[i + 4] == 'p';
  /* Skip offset, device and inode: three more fields. */
  i += 5;
  for (int field = 0; field < 3; field++) {
    while (i < len && s[i] == ' ') i++;
    while (i < len && s[i] != ' ') i++;
  }
  while (i < len && s[i] == ' ') i++;
  e->path0 = i < len ? s[i] : 0;
  e->special = e->path0 == '[' && !(len - i >= 6 && memcmp(s + i, "[heap]", 6) == 0) &&
               !(len - i >= 7 && memcmp(s + i, "[stack]", 7) == 0) &&
               !(len - i >= 6 && memcmp(s + i, "[anon:", 6) == 0);
  return true;
}

static bool roots_grow(roots_t *r) {
  size_t cap = r->cap ? 2 * r->cap : 4096;
  root_range_t *n = meta_grow(r->ranges, r->cap * sizeof *n, r->n * sizeof *n,
                              cap * sizeof *n, "pacegc-roots");
  if (n == NULL) return false;
  r->ranges = n;
  r->cap = cap;
  return true;
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
  else r->global_bytes += hi - lo;
}

/* Adds [lo, hi) minus the heap range. */
static void add_outside_heap(roots_t *r, uintptr_t lo, uintptr_t hi,
                             root_kind_t kind, const roots_env_t *env) {
  if (hi <= env->heap_lo || lo >= env->heap_hi) {
    roots_add(r, lo, hi, kind);
    return;
  }
  if (lo < env->heap_lo) roots_add(r, lo, env->heap_lo, kind);
  if (hi > env->heap_hi) roots_add(r, env->heap_hi, hi, kind);
}

void roots_plan(roots_t *r, const map_entry_t *e, const roots_env_t *env) {
  if (!e->readable || !e->writable || !e->private_ || e->special) return;
  if (env->is_meta && env->is_meta(e->lo, e->hi)) return;
  /* A mapping holding a stopped thread's stack pointer is that thread's
   * stack: only the part above the lowest such pointer is live. */
  uintptr_t lowest = e->hi;
  for (size_t i = 0; i < env->nsps; i++)
    if (env->sps[i] >= e->lo && env->sps[i] < lowest) lowest = env->sps[i];
  if (lowest < e->hi) {
    add_outside_heap(r, lowest, e->hi, ROOT_STACK, env);
    return;
  }
  add_outside_heap(r, e->lo, e->hi, ROOT_GLOBAL, env);
}

static bool is_meta_range(uintptr_t lo, uintptr_t hi) {
  (void)hi;
  return meta_contains(lo);
}

/* Reads /proc/self/maps in chunks and plans each complete line. */
static bool read_maps(roots_t *r, const roots_env_t *env) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[8192];
  size_t have = 0;
  bool ok = true;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0) { ok = false; break; }
    have += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      map_entry_t e;
      if (roots_parse_maps_line(buf + start, i - start, &e)) roots_plan(r, &e, env);
      start = i + 1;
    }
    if (n == 0) break;
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == sizeof buf) { ok = false; break; }   /* a line longer than the buffer */
  }
  close(fd);
  return ok;
}

bool roots_collect(roots_t *r, const world_t *w, uintptr_t self_sp) {
  uintptr_t sps[2 * w->nthreads + 1], alt_lo[w->nthreads + 1], alt_hi[w->nthreads + 1];
  size_t nsps = 0, nextra = 0;
  sps[nsps++] = self_sp;
  for (size_t i = 0; i < w->nthreads; i++) {
    const stopped_thread_t *t = &w->threads[i];
    sps[nsps++] = t->sp;
    /* Stopped on its alternate stack: its normal stack is live from the
     * interrupted stack pointer up. */
    if (t->normal_sp) sps[nsps++] = t->normal_sp;
    /* An alternate stack malloc'd by the program lies in the heap, which
     * is not a root: its live part is added by hand. */
    if (t->alt_lo && t->sp >= heap.start && t->sp < heap.end) {
      alt_lo[nextra] = t->sp;
      alt_hi[nextra++] = t->alt_hi;
    }
  }
  roots_env_t env = {
    .heap_lo = heap.start, .heap_hi = heap.end, .is_meta = is_meta_range,
    .sps = sps, .nsps = nsps,
  };
  r->n = 0;
  r->stack_bytes = r->global_bytes = 0;
  r->overflow = false;
  if (!read_maps(r, &env)) return false;
  for (size_t i = 0; i < nextra; i++) roots_add(r, alt_lo[i], alt_hi[i], ROOT_STACK);
  kernroots_add_roots(r);
  return !r->overflow;
}
