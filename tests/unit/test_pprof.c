/* Unit tests for profile.proto encoding and gzip (src/pprof.c): the
 * encoding is read back field by field with a small protobuf reader, and
 * the gzip stream is inflated with zlib. */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pprof.h"

/* ---- A protobuf reader: just enough to walk what pprof_encode wrote ---- */

typedef struct rd { const uint8_t *p, *end; } rd_t;

static uint64_t rd_varint(rd_t *r) {
  uint64_t v = 0;
  for (int shift = 0; r->p < r->end; shift += 7) {
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  ck_abort_msg("varint runs past the end");
  return 0;
}

/* The next field: its number, and either its varint or its bytes. */
typedef struct field { unsigned num; uint64_t v; rd_t sub; } field_t;

static bool rd_field(rd_t *r, field_t *f) {
  if (r->p >= r->end) return false;
  uint64_t key = rd_varint(r);
  f->num = (unsigned)(key >> 3);
  if ((key & 7) == 0) {
    f->v = rd_varint(r);
  } else {
    ck_assert_uint_eq(key & 7, 2);
    uint64_t n = rd_varint(r);
    ck_assert_uint_le(n, (uint64_t)(r->end - r->p));
    f->sub = (rd_t){ r->p, r->p + n };
    r->p += n;
  }
  return true;
}

/* The varint of field num inside message m (0 if absent). */
static uint64_t sub_uint(rd_t m, unsigned num) {
  field_t f;
  uint64_t v = 0;
  while (rd_field(&m, &f))
    if (f.num == num) v = f.v;
  return v;
}

static rd_t sub_bytes(rd_t m, unsigned num) {
  field_t f;
  rd_t out = { NULL, NULL };
  while (rd_field(&m, &f))
    if (f.num == num) out = f.sub;
  return out;
}

/* ---- A profile to encode ---- */

static const pprof_value_type_t types[2] = { { "alloc_objects", "count" },
                                             { "reclaimed_space", "bytes" } };
static const pprof_mapping_t maps[1] = {
  { .start = 0x400000, .limit = 0x500000, .offset = 0x1000, .file = "/usr/bin/prog",
    .build_id = "c0ffee", .has_functions = true },
};
static const pprof_function_t fns[2] = { { "leak_here" }, { "main" } };
static const pprof_location_t locs[2] = {
  { .address = 0x401234, .mapping = 1, .function = 1 },
  { .address = 0x402000, .mapping = 1, .function = 2 },
};

static pprof_profile_t profile(pprof_sample_t *samples, size_t n) {
  return (pprof_profile_t){
    .sample_types = types, .nsample_types = 2, .default_sample_type = 1,
    .period_type = { "space", "bytes" }, .period = 524288, .time_nanos = 1234567890123,
    .mappings = maps, .nmappings = 1, .functions = fns, .nfunctions = 2,
    .locations = locs, .nlocations = 2, .samples = samples, .nsamples = n,
  };
}

START_TEST(profile_reads_back) {
  static const uint32_t stack[2] = { 1, 2 };
  static const int64_t v0[2] = { 3, 300000 }, v1[2] = { 1, 0 };
  pprof_sample_t samples[2] = {
    { .locations = stack, .nlocations = 2, .values = v0, .bytes = 256 },
    { .locations = stack + 1, .nlocations = 1, .values = v1 },
  };
  pprof_profile_t p = profile(samples, 2);
  uint8_t buf[4096];
  size_t n = pprof_encode(&p, buf, sizeof buf);
  ck_assert_uint_lt(n, sizeof buf);

  const char *strings[64];
  size_t nstr = 0;
  rd_t r = { buf, buf + n };
  field_t f;
  int ntypes = 0, nsamples = 0;
  uint64_t default_type = 0, period = 0, time_nanos = 0;
  rd_t type_fields[2] = { 0 }, sample_fields[2] = { 0 }, mapping = { 0 }, loc[2] = { 0 },
       fn[2] = { 0 }, period_type = { 0 };
  int nloc = 0, nfn = 0;
  static char text[64][64];
  while (rd_field(&r, &f)) {
    switch (f.num) {
    case 1: type_fields[ntypes++] = f.sub; break;
    case 2: sample_fields[nsamples++] = f.sub; break;
    case 3: mapping = f.sub; break;
    case 4: loc[nloc++] = f.sub; break;
    case 5: fn[nfn++] = f.sub; break;
    case 6:
      ck_assert_uint_lt((size_t)(f.sub.end - f.sub.p), sizeof text[0]);
      memcpy(text[nstr], f.sub.p, (size_t)(f.sub.end - f.sub.p));
      text[nstr][f.sub.end - f.sub.p] = 0;
      strings[nstr] = text[nstr];
      nstr++;
      break;
    case 9: time_nanos = f.v; break;
    case 11: period_type = f.sub; break;
    case 12: period = f.v; break;
    case 14: default_type = f.v; break;
    default: ck_abort_msg("unexpected field %u", f.num);
    }
  }
  ck_assert_int_eq(ntypes, 2);
  ck_assert_int_eq(nsamples, 2);
  ck_assert_int_eq(nloc, 2);
  ck_assert_int_eq(nfn, 2);
  ck_assert_str_eq(strings[0], "");
  ck_assert_str_eq(strings[sub_uint(type_fields[0], 1)], "alloc_objects");
  ck_assert_str_eq(strings[sub_uint(type_fields[1], 2)], "bytes");
  ck_assert_str_eq(strings[default_type], "reclaimed_space");
  ck_assert_str_eq(strings[sub_uint(period_type, 1)], "space");
  ck_assert_uint_eq(period, 524288);
  ck_assert_uint_eq(time_nanos, 1234567890123);
  ck_assert_str_eq(strings[sub_uint(mapping, 5)], "/usr/bin/prog");
  ck_assert_str_eq(strings[sub_uint(mapping, 6)], "c0ffee");
  ck_assert_uint_eq(sub_uint(mapping, 1), 1);
  ck_assert_uint_eq(sub_uint(mapping, 2), 0x400000);
  ck_assert_uint_eq(sub_uint(mapping, 3), 0x500000);
  ck_assert_uint_eq(sub_uint(mapping, 4), 0x1000);
  ck_assert_uint_eq(sub_uint(mapping, 7), 1);
  ck_assert_uint_eq(sub_uint(loc[0], 1), 1);
  ck_assert_uint_eq(sub_uint(loc[0], 2), 1);
  ck_assert_uint_eq(sub_uint(loc[0], 3), 0x401234);
  ck_assert_uint_eq(sub_uint(sub_bytes(loc[1], 4), 1), 2);   /* Line.function_id */
  ck_assert_str_eq(strings[sub_uint(fn[0], 2)], "leak_here");
  ck_assert_str_eq(strings[sub_uint(fn[1], 3)], "main");

  /* Sample 0: packed location ids 1, 2; values 3, 300000; label bytes=256. */
  rd_t ids = sub_bytes(sample_fields[0], 1), vals = sub_bytes(sample_fields[0], 2);
  ck_assert_uint_eq(rd_varint(&ids), 1);
  ck_assert_uint_eq(rd_varint(&ids), 2);
  ck_assert(ids.p == ids.end);
  ck_assert_uint_eq(rd_varint(&vals), 3);
  ck_assert_uint_eq(rd_varint(&vals), 300000);
  rd_t label = sub_bytes(sample_fields[0], 3);
  ck_assert_str_eq(strings[sub_uint(label, 1)], "bytes");
  ck_assert_uint_eq(sub_uint(label, 3), 256);
  ck_assert_ptr_null(sub_bytes(sample_fields[1], 3).p);       /* no label */
}
END_TEST

/* A message longer than 127 bytes needs a two-byte length: the body is
 * moved up, and a buffer too small is never written past. */
START_TEST(long_messages_and_small_buffers) {
  enum { DEPTH = 200 };
  static uint32_t stack[DEPTH];
  for (int i = 0; i < DEPTH; i++) stack[i] = 1 + (i & 1);
  static const int64_t v[2] = { 1, 1 << 20 };
  pprof_sample_t s = { .locations = stack, .nlocations = DEPTH, .values = v, .bytes = 64 };
  pprof_profile_t p = profile(&s, 1);
  size_t need = pprof_encode(&p, NULL, 0);
  uint8_t *buf = malloc(need + 64);
  for (size_t cap = 0; cap < need; cap += 7) {
    memset(buf, 0xa5, need + 64);
    ck_assert_uint_eq(pprof_encode(&p, buf, cap), need);
    for (size_t i = cap; i < need + 64; i++) ck_assert_uint_eq(buf[i], 0xa5);
  }
  ck_assert_uint_eq(pprof_encode(&p, buf, need), need);
  rd_t r = { buf, buf + need };
  field_t f;
  int samples = 0;
  while (rd_field(&r, &f)) {
    if (f.num != 2) continue;
    samples++;
    rd_t ids = sub_bytes(f.sub, 1);
    for (int i = 0; i < DEPTH; i++) ck_assert_uint_eq(rd_varint(&ids), stack[i]);
    ck_assert(ids.p == ids.end);
  }
  ck_assert_int_eq(samples, 1);
  free(buf);
}
END_TEST

/* ---- gzip ---- */

static void roundtrip(const uint8_t *in, size_t n) {
  size_t cap = pprof_gzip(in, n, NULL, 0);
  uint8_t *z = malloc(cap);
  size_t zn = pprof_gzip(in, n, z, cap);
  ck_assert_uint_le(zn, pprof_gzip_bound(n));
  ck_assert_uint_gt(zn, 0);
  uint8_t *out = malloc(n + 1);
  z_stream zs = { 0 };
  ck_assert_int_eq(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);   /* gzip only */
  zs.next_in = z;
  zs.avail_in = (uInt)zn;
  zs.next_out = out;
  zs.avail_out = (uInt)n + 1;
  ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);      /* CRC and size checked */
  ck_assert_uint_eq(zs.total_out, n);
  ck_assert_uint_eq(zs.avail_in, 0);
  ck_assert(memcmp(out, in, n) == 0);
  inflateEnd(&zs);
  ck_assert_uint_eq(pprof_crc32(0, in, n), crc32(0, in, (uInt)n));
  free(out);
  free(z);
}

START_TEST(gzip_roundtrips) {
  enum { N = 1 << 20 };
  uint8_t *buf = malloc(N);
  buf[0] = 'x';
  roundtrip(buf, 0);
  roundtrip(buf, 1);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < N; i++) {           /* random: literals only */
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (uint8_t)x;
  }
  roundtrip(buf, N);
  for (size_t i = 0; i < N; i++) buf[i] = (uint8_t)"pacegc profile "[i % 15];
  roundtrip(buf, N);                         /* long matches, far and near */
  for (size_t i = 0; i < N; i++) buf[i] = (uint8_t)(i % 7 == 0 ? x >> (i & 31) : i / 4096);
  roundtrip(buf, N);
  memset(buf, 0, N);
  roundtrip(buf, 70000);                     /* runs of 258 at distance 1 */
  free(buf);
}
END_TEST

/* Repetitive input compresses: a profile is mostly its repeated strings. */
START_TEST(gzip_compresses) {
  enum { N = 100000 };
  uint8_t *buf = malloc(N);
  for (size_t i = 0; i < N; i++) buf[i] = (uint8_t)"/usr/lib/x86_64-linux-gnu/libc.so.6\n"[i % 36];
  size_t cap = pprof_gzip(buf, N, NULL, 0);
  uint8_t *z = malloc(cap);
  ck_assert_uint_lt(pprof_gzip(buf, N, z, cap), N / 20);
  free(z);
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("pprof");
  TCase *t = tcase_create("pprof");
  tcase_add_test(t, profile_reads_back);
  tcase_add_test(t, long_messages_and_small_buffers);
  tcase_add_test(t, gzip_roundtrips);
  tcase_add_test(t, gzip_compresses);
  suite_add_tcase(s, t);
  return check_main(s);
}
