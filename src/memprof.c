/* Allocation-site sampling: see memprof.h. */
#include "memprof.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "addrtab.h"
#include "checks.h"
#include "heap.h"
#include "meta.h"
#include "os.h"
#include "report.h"

__thread int64_t memprof_left;
static __thread bool memprof_armed;
static __thread uint64_t memprof_rng;
/* Set while this thread is inside memprof: a signal handler's malloc or
 * free must not come back in (the lock is not recursive, nor libunwind). */
static __thread bool memprof_busy;

/* A sampled allocation, in a table keyed by page (addrtab.h) so that the
 * ones sharing a page sit in one run: the last one to go clears its
 * page's SAMPLED bit. */
typedef struct sampled {
  uintptr_t addr;
  uint32_t bucket;
} sampled_t;

/* Everything below is guarded by `lock`.  Buckets are found through
 * `index`, open-addressed, holding bucket number + 1 (0: empty). */
static struct {
  pthread_mutex_t lock;
  _Atomic bool ready;                 /* memprof_init has run */
  int64_t rate;
  memprof_bucket_t *buckets;
  size_t nbuckets, buckets_cap;
  uint32_t *index;
  size_t index_cap;
  addrtab_t objects;
} mp = { .lock = PTHREAD_MUTEX_INITIALIZER,
         .objects = ADDRTAB_INIT(sampled_t, PAGE_SHIFT, "pacegc-memprof") };

void memprof_init(int64_t rate) {
  mp.rate = rate > 0 ? rate : 0;
  atomic_store(&mp.ready, true);
}

int64_t memprof_rate(void) { return mp.rate; }

/* ---- The next interval ---- */

static uint64_t rng_next(void) {
  if (memprof_rng == 0) memprof_rng = ((uintptr_t)&memprof_rng ^ os_monotonic_ns()) | 1;
  uint64_t x = memprof_rng;   /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  memprof_rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* An exponential draw with mean `rate` (Go's nextSample): the sampling
 * is memoryless, so an allocation's chance depends only on its size. */
static int64_t next_interval(void) {
  if (mp.rate <= 1) return 0;
  double u = (double)((rng_next() >> 11) + 1) * 0x1p-53;   /* (0, 1] */
  double v = -log(u) * (double)mp.rate;
  return v < 0x1p62 ? (int64_t)v : INT64_MAX / 2;
}

/* ---- Buckets ---- */

static uint64_t hash_bucket(const uintptr_t *stack, uint32_t depth, size_t size) {
  uint64_t h = size * 0x9e3779b97f4a7c15ull;
  for (uint32_t i = 0; i < depth; i++) h = (h ^ stack[i]) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 29);
}

static bool same_bucket(const memprof_bucket_t *b, const uintptr_t *stack, uint32_t depth,
                        size_t size) {
  return b->size == size && b->depth == depth &&
         memcmp(b->stack, stack, depth * sizeof *stack) == 0;
}

static bool grow_index(void) {
  size_t cap = mp.index_cap ? 2 * mp.index_cap : 1024;
  uint32_t *index = meta_map(cap * sizeof *index, "pacegc-memprof");
  if (index == NULL) return false;
  for (size_t b = 0; b < mp.nbuckets; b++) {
    const memprof_bucket_t *k = &mp.buckets[b];
    size_t i = hash_bucket(k->stack, k->depth, k->size) & (cap - 1);
    while (index[i] != 0) i = (i + 1) & (cap - 1);
    index[i] = (uint32_t)b + 1;
  }
  if (mp.index) meta_unmap(mp.index, mp.index_cap * sizeof *mp.index);
  mp.index = index;
  mp.index_cap = cap;
  return true;
}

/* The bucket of (stack, size), made if new; UINT32_MAX without memory. */
static uint32_t find_bucket(const uintptr_t *stack, uint32_t depth, size_t size) {
  if ((mp.nbuckets + 1) * 2 > mp.index_cap && !grow_index()) return UINT32_MAX;
  size_t i = hash_bucket(stack, depth, size) & (mp.index_cap - 1);
  for (; mp.index[i] != 0; i = (i + 1) & (mp.index_cap - 1))
    if (same_bucket(&mp.buckets[mp.index[i] - 1], stack, depth, size)) return mp.index[i] - 1;
  if (!meta_reserve((void **)&mp.buckets, &mp.buckets_cap, mp.nbuckets + 1,
                    sizeof *mp.buckets, "pacegc-memprof"))
    return UINT32_MAX;
  memprof_bucket_t *b = &mp.buckets[mp.nbuckets];
  memset(b, 0, sizeof *b);
  memcpy(b->stack, stack, depth * sizeof *stack);
  b->depth = depth;
  b->size = size;
  mp.index[i] = (uint32_t)mp.nbuckets + 1;
  return (uint32_t)mp.nbuckets++;
}

/* ---- Sampled allocations ---- */

/* Whether a sampled allocation other than a tombstone shares addr's page:
 * they all sit in the run that starts at the page's slot. */
static bool page_has_sample(uintptr_t addr) {
  const addrtab_t *t = &mp.objects;
  uintptr_t page = addr >> PAGE_SHIFT, a;
  if (t->cap == 0) return false;
  for (size_t i = addrtab_home(t, addr); (a = addrtab_addr_at(t, i)) != 0; i = addrtab_next(t, i))
    if (a > ADDRTAB_TOMB && a >> PAGE_SHIFT == page) return true;
  return false;
}

static void record(uintptr_t p, size_t usable, const uintptr_t *stack, uint32_t depth) {
  if (!addrtab_reserve(&mp.objects)) return;
  uint32_t b = find_bucket(stack, depth, usable);
  if (b == UINT32_MAX) return;
  mp.buckets[b].allocs++;
  sampled_t *s = addrtab_find(&mp.objects, p, true);
  addrtab_filled(&mp.objects, s->addr);
  s->addr = p;
  s->bucket = b;
  objindex_mark_page_sampled(&heap.index, p, true);
}

void memprof_sample(uintptr_t p, size_t usable) {
  if (memprof_busy) return;
  /* Allocations made before memprof_init (other libraries' constructors,
   * a few) look again each time, so that none is missed after it. */
  if (!atomic_load_explicit(&mp.ready, memory_order_acquire)) {
    memprof_left = 0;
    return;
  }
  bool armed = memprof_armed;
  memprof_armed = true;
  memprof_left = mp.rate > 0 ? next_interval() : INT64_MAX;
  if (!armed || mp.rate == 0) return;
  memprof_busy = true;
  void *ips[MEMPROF_DEPTH];
  int depth = report_backtrace(ips, MEMPROF_DEPTH);
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&mp.lock);
  record(p, usable, (const uintptr_t *)ips, (uint32_t)depth);
  pthread_mutex_unlock(&mp.lock);
  memprof_busy = false;
}

void memprof_end(uintptr_t p, memprof_end_t how) {
  /* Inside memprof already (a signal handler's free): the record stays,
   * and may be counted against a later allocation at p. */
  if (memprof_busy) return;
  memprof_busy = true;
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&mp.lock);
  sampled_t *s = addrtab_find(&mp.objects, p, false);
  if (s != NULL) {
    memprof_bucket_t *b = &mp.buckets[s->bucket];
    if (how == MEMPROF_FREED) b->frees++;
    else b->reclaims++;
    s->addr = ADDRTAB_TOMB;
  }
  if (!page_has_sample(p))
    objindex_mark_page_sampled(&heap.index, p, false);
  pthread_mutex_unlock(&mp.lock);
  memprof_busy = false;
}

size_t memprof_snapshot(memprof_bucket_t **out, size_t *cap) {
  memprof_busy = true;
  pthread_mutex_lock(&mp.lock);
  size_t n = mp.nbuckets;
  /* No bucket yet: *out may still be NULL, and memcpy must not see it. */
  if (n > 0 && meta_reserve((void **)out, cap, n, sizeof **out, "pacegc-profile"))
    memcpy(*out, mp.buckets, n * sizeof **out);
  else
    n = 0;
  pthread_mutex_unlock(&mp.lock);
  memprof_busy = false;
  return n;
}

void memprof_before_fork(void) { pthread_mutex_lock(&mp.lock); }

void memprof_after_fork_parent(void) { pthread_mutex_unlock(&mp.lock); }

/* The child's profile is its own: what it inherited in use counts as
 * allocated, and what it frees or reclaims from now on as its own. */
void memprof_after_fork_child(void) {
  pthread_mutex_init(&mp.lock, NULL);
  for (size_t b = 0; b < mp.nbuckets; b++) {
    memprof_bucket_t *k = &mp.buckets[b];
    k->allocs -= k->frees + k->reclaims;
    k->frees = k->reclaims = 0;
  }
}
