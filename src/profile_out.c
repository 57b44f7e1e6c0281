/* Writing the heap profile: see profile_out.h. */
#include "profile_out.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "elfsym.h"
#include "maps.h"
#include "memprof.h"
#include "meta.h"
#include "os.h"
#include "outfile.h"
#include "pprof.h"
#include "report.h"

/* A growable array in bookkeeping memory, kept from write to write. */
typedef struct vec {
  void *p;
  size_t cap;
} vec_t;

#define VEC_AT(v, T) ((T *)(v).p)

static bool vec_fit(vec_t *v, size_t n, size_t each) {
  return meta_reserve(&v->p, &v->cap, n ? n : 1, each, "pacegc-profile");
}

/* The work of one write; the arrays are sized per write and reused. */
static struct {
  bool on, told;
  outfile_t file;
  uint64_t interval_ns;
  _Atomic uint64_t next_ns;
  atomic_flag writing;
  memprof_bucket_t *buckets;
  size_t buckets_cap;
  vec_t pcs;          /* uintptr_t: the stacks' return addresses, sorted, unique */
  vec_t names;        /* const char *: per pc, its function's name or NULL */
  vec_t pc_mapping;   /* uint32_t: per pc, its mapping's id or 0 */
  vec_t maps_text;    /* char: /proc/self/maps, lines NUL-terminated */
  vec_t name_text;    /* char: the names, copied out of the files */
  vec_t mappings;     /* pprof_mapping_t: the executable file mappings */
  vec_t functions;    /* pprof_function_t */
  vec_t fn_slots;     /* uint32_t: function ids by name pointer, open-addressed */
  vec_t locations;    /* pprof_location_t: one per pc */
  vec_t sample_locs;  /* uint32_t: each bucket's location ids */
  vec_t values;       /* int64_t: each bucket's values */
  vec_t samples;      /* pprof_sample_t */
  vec_t encoded, zipped;
} P = { .writing = ATOMIC_FLAG_INIT, .next_ns = UINT64_MAX };

void profile_out_init(const pacegc_config_t *c) {
  if (!outfile_init(&P.file, c->profile_path)) {
    memprof_init(0);
    return;
  }
  P.on = true;
  P.interval_ns = (uint64_t)c->profile_interval_ms * 1000000u;
  atomic_store(&P.next_ns, P.interval_ns ? os_monotonic_ns() + P.interval_ns : UINT64_MAX);
  memprof_init(c->memprofile_rate);
}

bool profile_out_due(uint64_t now_ns) {
  return now_ns >= atomic_load_explicit(&P.next_ns, memory_order_relaxed);
}

/* ---- The program counters and where they are ---- */

static void sift_down(uintptr_t *a, size_t i, size_t n) {
  for (size_t c; (c = 2 * i + 1) < n; i = c) {
    if (c + 1 < n && a[c + 1] > a[c]) c++;
    if (a[i] >= a[c]) return;
    uintptr_t t = a[i];
    a[i] = a[c];
    a[c] = t;
  }
}

static void sort_addrs(uintptr_t *a, size_t n) {
  for (size_t i = n / 2; i-- > 0;) sift_down(a, i, n);
  for (size_t end = n; end-- > 1;) {
    uintptr_t t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift_down(a, 0, end);
  }
}

/* Every frame of every bucket, as the address of its call instruction's
 * last byte (return address - 1: the call, not the next line, is what a
 * frame is doing), sorted and unique. */
static size_t collect_pcs(size_t nbuckets) {
  size_t n = 0;
  for (size_t b = 0; b < nbuckets; b++) n += P.buckets[b].depth;
  if (!vec_fit(&P.pcs, n, sizeof(uintptr_t))) return 0;
  uintptr_t *pcs = VEC_AT(P.pcs, uintptr_t);
  n = 0;
  for (size_t b = 0; b < nbuckets; b++)
    for (uint32_t i = 0; i < P.buckets[b].depth; i++) pcs[n++] = P.buckets[b].stack[i] - 1;
  sort_addrs(pcs, n);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || pcs[i] != pcs[u - 1]) pcs[u++] = pcs[i];
  return u;
}

static size_t pc_index(size_t npcs, uintptr_t pc) {
  const uintptr_t *pcs = VEC_AT(P.pcs, uintptr_t);
  size_t lo = 0, hi = npcs;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (pcs[mid] <= pc) lo = mid;
    else hi = mid;
  }
  return lo;
}

/* /proc/self/maps whole, into maps_text (not through os_read_lines: its
 * 8 KiB buffer is on the stack). */
static size_t read_maps(void) {
  int fd = os_proc_fd(OS_PROC_MAPS);
  if (fd < 0) return 0;
  for (size_t want = 64 << 10;; want *= 2) {
    if (!vec_fit(&P.maps_text, want, 1)) return 0;
    size_t have = 0, cap = P.maps_text.cap - 1;
    ssize_t got;
    while (have < cap &&
           (got = os_pread(fd, (char *)P.maps_text.p + have, cap - have, (off_t)have)) > 0)
      have += (size_t)got;
    if (have < cap) return have;
  }
}

/* The executable mappings of files: pprof's mappings, paths NUL-ended in
 * place. */
static size_t collect_mappings(void) {
  size_t len = read_maps(), n = 0;
  char *text = P.maps_text.p;
  for (size_t start = 0, i = 0; i < len; i++) {
    if (text[i] != '\n') continue;
    map_file_t f;
    bool ok = maps_parse_file(text + start, i - start, &f);
    text[i] = 0;
    start = i + 1;
    if (!ok || f.perms[2] != 'x' || f.path_len == 0 || f.path[0] != '/') continue;
    if (!vec_fit(&P.mappings, n + 1, sizeof(pprof_mapping_t))) break;
    VEC_AT(P.mappings, pprof_mapping_t)[n++] = (pprof_mapping_t){
      .start = f.lo, .limit = f.hi, .offset = f.offset, .file = f.path, .build_id = NULL,
      .has_functions = true,
    };
  }
  return n;
}

/* Copies name to name_text; its offset there + 1, or 0 without memory. */
static uintptr_t keep_name(size_t *used, const char *name) {
  size_t len = strlen(name) + 1;
  if (!vec_fit(&P.name_text, *used + len, 1)) return 0;
  memcpy((char *)P.name_text.p + *used, name, len);
  *used += len;
  return *used - len + 1;
}

static const char *text_at(uintptr_t kept) { return (const char *)P.name_text.p + kept - 1; }

/* Each pc's mapping and name; a mapping with a pc left unnamed says it
 * has no functions, so that pprof may try the binary itself.  The names
 * are copied out of each file before it is unmapped (as offsets into
 * name_text while it may still move, then as pointers). */
static void name_pcs(size_t npcs, size_t nmappings) {
  const uintptr_t *pcs = VEC_AT(P.pcs, uintptr_t);
  const char **names = VEC_AT(P.names, const char *);
  uint32_t *pc_mapping = VEC_AT(P.pc_mapping, uint32_t);
  pprof_mapping_t *maps = VEC_AT(P.mappings, pprof_mapping_t);
  memset(names, 0, npcs * sizeof *names);
  memset(pc_mapping, 0, npcs * sizeof *pc_mapping);
  size_t i = 0, used = 0;
  for (size_t m = 0; m < nmappings && i < npcs; m++) {
    while (i < npcs && pcs[i] < maps[m].start) i++;
    size_t first = i;
    while (i < npcs && pcs[i] < maps[m].limit) pc_mapping[i++] = (uint32_t)m + 1;
    if (i == first) continue;
    elfsym_file_t f;
    elfsym_open(&f, maps[m].file);
    char id[ELFSYM_BUILD_ID_MAX];
    maps[m].build_id = elfsym_build_id(&f, id) ? (const char *)keep_name(&used, id) : NULL;
    elfsym_name(&f, maps[m].start, maps[m].offset, pcs + first, i - first, names + first);
    for (size_t k = first; k < i; k++) {
      uintptr_t at = names[k] ? keep_name(&used, names[k]) : 0;
      names[k] = (const char *)at;
      maps[m].has_functions &= at != 0;
    }
    elfsym_close(&f);
  }
  for (size_t k = 0; k < npcs; k++)
    if (names[k]) names[k] = text_at((uintptr_t)names[k]);
  for (size_t m = 0; m < nmappings; m++)
    if (maps[m].build_id) maps[m].build_id = text_at((uintptr_t)maps[m].build_id);
}

/* ---- Functions: one per distinct name ---- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

/* The function id of name, made if new. */
static uint32_t function_of(const char *name, size_t *nfunctions, size_t slots) {
  uint32_t *slot = VEC_AT(P.fn_slots, uint32_t);
  pprof_function_t *fns = VEC_AT(P.functions, pprof_function_t);
  size_t i = hash_name(name) & (slots - 1);
  for (; slot[i] != 0; i = (i + 1) & (slots - 1))
    if (strcmp(fns[slot[i] - 1].name, name) == 0) return slot[i];
  fns[*nfunctions].name = name;
  slot[i] = (uint32_t)++*nfunctions;
  return slot[i];
}

/* ---- Building and writing ---- */

/* Go's scaleHeapSample: an allocation of `size` bytes was sampled with
 * probability 1 - exp(-size/rate), so each sample stands for 1/that. */
static void scaled(uint64_t count, size_t size, int64_t rate, int64_t *objects, int64_t *bytes) {
  double scale = 1;
  if (rate > 1 && size > 0) scale = 1 / (1 - exp(-(double)size / (double)rate));
  *objects = (int64_t)((double)count * scale + 0.5);
  *bytes = (int64_t)((double)count * (double)size * scale + 0.5);
}

enum { V_ALLOC_OBJECTS, V_ALLOC_SPACE, V_INUSE_OBJECTS, V_INUSE_SPACE, V_RECLAIMED_OBJECTS,
       V_RECLAIMED_SPACE, NVALUES };

static const pprof_value_type_t sample_types[NVALUES] = {
  { "alloc_objects", "count" },     { "alloc_space", "bytes" },
  { "inuse_objects", "count" },     { "inuse_space", "bytes" },
  { "reclaimed_objects", "count" }, { "reclaimed_space", "bytes" },
};

static bool build_samples(size_t nbuckets, size_t npcs) {
  if (!vec_fit(&P.sample_locs, nbuckets * MEMPROF_DEPTH, sizeof(uint32_t)) ||
      !vec_fit(&P.values, nbuckets * NVALUES, sizeof(int64_t)) ||
      !vec_fit(&P.samples, nbuckets, sizeof(pprof_sample_t)))
    return false;
  int64_t rate = memprof_rate();
  for (size_t b = 0; b < nbuckets; b++) {
    const memprof_bucket_t *k = &P.buckets[b];
    uint32_t *locs = VEC_AT(P.sample_locs, uint32_t) + b * MEMPROF_DEPTH;
    int64_t *v = VEC_AT(P.values, int64_t) + b * NVALUES;
    for (uint32_t i = 0; i < k->depth; i++) locs[i] = (uint32_t)pc_index(npcs, k->stack[i] - 1) + 1;
    uint64_t ended = k->frees + k->reclaims;
    scaled(k->allocs, k->size, rate, &v[V_ALLOC_OBJECTS], &v[V_ALLOC_SPACE]);
    scaled(k->allocs > ended ? k->allocs - ended : 0, k->size, rate, &v[V_INUSE_OBJECTS],
           &v[V_INUSE_SPACE]);
    scaled(k->reclaims, k->size, rate, &v[V_RECLAIMED_OBJECTS], &v[V_RECLAIMED_SPACE]);
    VEC_AT(P.samples, pprof_sample_t)[b] = (pprof_sample_t){
      .locations = locs, .nlocations = k->depth, .values = v, .bytes = (int64_t)k->size,
    };
  }
  return true;
}

/* A location for each pc, and a function for each distinct name. */
static size_t build_locations(size_t npcs, size_t *nfunctions) {
  if (!vec_fit(&P.locations, npcs, sizeof(pprof_location_t)) ||
      !vec_fit(&P.functions, npcs, sizeof(pprof_function_t)))
    return 0;
  size_t slots = 16;
  while (slots < 2 * npcs) slots *= 2;
  if (!vec_fit(&P.fn_slots, slots, sizeof(uint32_t))) return 0;
  memset(P.fn_slots.p, 0, slots * sizeof(uint32_t));
  const uintptr_t *pcs = VEC_AT(P.pcs, uintptr_t);
  const char **names = VEC_AT(P.names, const char *);
  const uint32_t *pc_mapping = VEC_AT(P.pc_mapping, uint32_t);
  *nfunctions = 0;
  for (size_t i = 0; i < npcs; i++) {
    VEC_AT(P.locations, pprof_location_t)[i] = (pprof_location_t){
      .address = pcs[i], .mapping = pc_mapping[i],
      .function = names[i] ? function_of(names[i], nfunctions, slots) : 0,
    };
  }
  return npcs;
}

static void encode_and_write(const pprof_profile_t *prof) {
  size_t n = 0, z = 0;
  for (size_t want = 64 << 10;; want = n) {
    if (!vec_fit(&P.encoded, want, 1)) return;
    n = pprof_encode(prof, P.encoded.p, P.encoded.cap);
    if (n <= P.encoded.cap) break;
  }
  for (size_t want = pprof_gzip_bound(n);; want = z) {
    if (!vec_fit(&P.zipped, want, 1)) return;
    z = pprof_gzip(P.encoded.p, n, P.zipped.p, P.zipped.cap);
    if (z == 0 || z <= P.zipped.cap) break;
  }
  long err = z == 0 ? EFBIG : outfile_write(&P.file, P.zipped.p, z);
  if (err != 0 && !P.told) {
    P.told = true;
    report("PACEGC_PROFILE=\"%s\": cannot write %s (%s); trying again at each interval "
           "(said once)", P.file.pattern, P.file.tmp, strerror((int)err));
  }
}

static void write_profile(void) {
  size_t nbuckets = memprof_snapshot(&P.buckets, &P.buckets_cap);
  size_t npcs = collect_pcs(nbuckets);
  if (!vec_fit(&P.names, npcs, sizeof(const char *)) ||
      !vec_fit(&P.pc_mapping, npcs, sizeof(uint32_t)))
    return;
  size_t nmappings = collect_mappings();
  name_pcs(npcs, nmappings);
  size_t nfunctions = 0;
  if (build_locations(npcs, &nfunctions) != npcs || !build_samples(nbuckets, npcs)) return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  pprof_profile_t prof = {
    .sample_types = sample_types, .nsample_types = NVALUES,
    .default_sample_type = V_RECLAIMED_SPACE,
    .period_type = { "space", "bytes" }, .period = memprof_rate(),
    .time_nanos = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
    .mappings = P.mappings.p, .nmappings = nmappings,
    .functions = P.functions.p, .nfunctions = nfunctions,
    .locations = P.locations.p, .nlocations = npcs,
    .samples = P.samples.p, .nsamples = nbuckets,
  };
  encode_and_write(&prof);
}

void profile_out_write(void) {
  if (!P.on || atomic_flag_test_and_set(&P.writing)) return;
  if (P.interval_ns) atomic_store(&P.next_ns, os_monotonic_ns() + P.interval_ns);
  write_profile();
  atomic_flag_clear(&P.writing);
}

void profile_out_after_fork_child(void) {
  atomic_flag_clear(&P.writing);
  outfile_after_fork_child(&P.file);
  P.on = P.on && P.file.on;
}
