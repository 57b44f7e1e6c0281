/* profile.proto and gzip, by hand: see pprof.h. */
#include "pprof.h"

#include <string.h>

/* ---- Protocol buffers: varints and length-delimited fields ----
 * Bytes past cap are counted, not stored, so one pass tells the size. */

typedef struct pb {
  uint8_t *p;
  size_t n, cap;
} pb_t;

enum { PB_VARINT = 0, PB_BYTES = 2 };

static void pb_byte(pb_t *b, uint8_t v) {
  if (b->n < b->cap) b->p[b->n] = v;
  b->n++;
}

static void pb_varint(pb_t *b, uint64_t v) {
  for (; v >= 0x80; v >>= 7) pb_byte(b, (uint8_t)(v | 0x80));
  pb_byte(b, (uint8_t)v);
}

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) n++;
  return n;
}

static void pb_tag(pb_t *b, unsigned field, unsigned wire) { pb_varint(b, field << 3 | wire); }

/* A varint field; zero is the default and is left out, as protobuf does. */
static void pb_uint(pb_t *b, unsigned field, uint64_t v) {
  if (v == 0) return;
  pb_tag(b, field, PB_VARINT);
  pb_varint(b, v);
}

static void pb_bytes(pb_t *b, unsigned field, const void *s, size_t n) {
  pb_tag(b, field, PB_BYTES);
  pb_varint(b, n);
  for (size_t i = 0; i < n; i++) pb_byte(b, ((const uint8_t *)s)[i]);
}

/* A nested message: pb_open leaves one byte for its length, pb_close
 * writes it and moves the body up when the length needs more. */
static size_t pb_open(pb_t *b, unsigned field) {
  pb_tag(b, field, PB_BYTES);
  pb_byte(b, 0);
  return b->n;
}

static void pb_close(pb_t *b, size_t body) {
  size_t len = b->n - body, extra = varint_size(len) - 1;
  if (extra > 0 && b->n + extra <= b->cap) memmove(b->p + body + extra, b->p + body, len);
  b->n = body - 1;
  pb_varint(b, len);
  b->n += len;
}

/* ---- profile.proto ----
 * Field numbers from github.com/google/pprof's proto/profile.proto. */

enum {
  PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
  PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
  PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12, PROFILE_DEFAULT_SAMPLE_TYPE = 14,
};
enum { VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2 };
enum { SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3 };
enum { LABEL_KEY = 1, LABEL_NUM = 3, LABEL_NUM_UNIT = 4 };
enum {
  MAPPING_ID = 1, MAPPING_START = 2, MAPPING_LIMIT = 3, MAPPING_OFFSET = 4,
  MAPPING_FILENAME = 5, MAPPING_BUILD_ID = 6, MAPPING_HAS_FUNCTIONS = 7,
};
enum { LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_ADDRESS = 3, LOCATION_LINE = 4 };
enum { LINE_FUNCTION_ID = 1 };
enum { FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_SYSTEM_NAME = 3 };

/* The string table, in the order the indexes below assign: "" first,
 * then the sample types, the period type, the label's key and unit, the
 * mappings' files and build IDs, and the functions' names. */
enum { STR_BYTES_KEY = 0, STR_BYTES_UNIT = 1, STR_FIXED = 2 };

static uint64_t str_sample_type(size_t i) { return 1 + 2 * i; }
static uint64_t str_period_type(const pprof_profile_t *p) { return 1 + 2 * p->nsample_types; }
static uint64_t str_fixed(const pprof_profile_t *p, unsigned k) {
  return str_period_type(p) + 2 + k;
}
static uint64_t str_mapping(const pprof_profile_t *p, size_t i) {
  return str_fixed(p, STR_FIXED) + i;
}
static uint64_t str_build_id(const pprof_profile_t *p, size_t i) {
  return str_mapping(p, p->nmappings) + i;
}
static uint64_t str_function(const pprof_profile_t *p, size_t i) {
  return str_build_id(p, p->nmappings) + i;
}

static void pb_string(pb_t *b, const char *s) {
  pb_bytes(b, PROFILE_STRING_TABLE, s, s ? strlen(s) : 0);
}

static void put_strings(pb_t *b, const pprof_profile_t *p) {
  pb_string(b, "");
  for (size_t i = 0; i < p->nsample_types; i++) {
    pb_string(b, p->sample_types[i].type);
    pb_string(b, p->sample_types[i].unit);
  }
  pb_string(b, p->period_type.type);
  pb_string(b, p->period_type.unit);
  pb_string(b, "bytes");   /* STR_BYTES_KEY */
  pb_string(b, "bytes");   /* STR_BYTES_UNIT */
  for (size_t i = 0; i < p->nmappings; i++) pb_string(b, p->mappings[i].file);
  for (size_t i = 0; i < p->nmappings; i++) pb_string(b, p->mappings[i].build_id);
  for (size_t i = 0; i < p->nfunctions; i++) pb_string(b, p->functions[i].name);
}

static void put_value_type(pb_t *b, unsigned field, uint64_t type_str) {
  size_t m = pb_open(b, field);
  pb_uint(b, VALUE_TYPE_TYPE, type_str);
  pb_uint(b, VALUE_TYPE_UNIT, type_str + 1);
  pb_close(b, m);
}

static void put_sample(pb_t *b, const pprof_profile_t *p, const pprof_sample_t *s) {
  size_t m = pb_open(b, PROFILE_SAMPLE);
  size_t packed = pb_open(b, SAMPLE_LOCATION_ID);
  for (uint32_t i = 0; i < s->nlocations; i++) pb_varint(b, s->locations[i]);
  pb_close(b, packed);
  packed = pb_open(b, SAMPLE_VALUE);
  for (size_t i = 0; i < p->nsample_types; i++) pb_varint(b, (uint64_t)s->values[i]);
  pb_close(b, packed);
  if (s->bytes != 0) {
    size_t label = pb_open(b, SAMPLE_LABEL);
    pb_uint(b, LABEL_KEY, str_fixed(p, STR_BYTES_KEY));
    pb_uint(b, LABEL_NUM, (uint64_t)s->bytes);
    pb_uint(b, LABEL_NUM_UNIT, str_fixed(p, STR_BYTES_UNIT));
    pb_close(b, label);
  }
  pb_close(b, m);
}

static void put_mapping(pb_t *b, const pprof_profile_t *p, size_t i) {
  const pprof_mapping_t *mp = &p->mappings[i];
  size_t m = pb_open(b, PROFILE_MAPPING);
  pb_uint(b, MAPPING_ID, i + 1);
  pb_uint(b, MAPPING_START, mp->start);
  pb_uint(b, MAPPING_LIMIT, mp->limit);
  pb_uint(b, MAPPING_OFFSET, mp->offset);
  pb_uint(b, MAPPING_FILENAME, str_mapping(p, i));
  if (mp->build_id) pb_uint(b, MAPPING_BUILD_ID, str_build_id(p, i));
  pb_uint(b, MAPPING_HAS_FUNCTIONS, mp->has_functions);
  pb_close(b, m);
}

static void put_location(pb_t *b, const pprof_location_t *l, size_t i) {
  size_t m = pb_open(b, PROFILE_LOCATION);
  pb_uint(b, LOCATION_ID, i + 1);
  pb_uint(b, LOCATION_MAPPING_ID, l->mapping);
  pb_uint(b, LOCATION_ADDRESS, l->address);
  if (l->function != 0) {
    size_t line = pb_open(b, LOCATION_LINE);
    pb_uint(b, LINE_FUNCTION_ID, l->function);
    pb_close(b, line);
  }
  pb_close(b, m);
}

static void put_function(pb_t *b, const pprof_profile_t *p, size_t i) {
  size_t m = pb_open(b, PROFILE_FUNCTION);
  pb_uint(b, FUNCTION_ID, i + 1);
  pb_uint(b, FUNCTION_NAME, str_function(p, i));
  pb_uint(b, FUNCTION_SYSTEM_NAME, str_function(p, i));
  pb_close(b, m);
}

size_t pprof_encode(const pprof_profile_t *p, uint8_t *out, size_t cap) {
  pb_t b = { out, 0, cap };
  for (size_t i = 0; i < p->nsample_types; i++)
    put_value_type(&b, PROFILE_SAMPLE_TYPE, str_sample_type(i));
  for (size_t i = 0; i < p->nsamples; i++) put_sample(&b, p, &p->samples[i]);
  for (size_t i = 0; i < p->nmappings; i++) put_mapping(&b, p, i);
  for (size_t i = 0; i < p->nlocations; i++) put_location(&b, &p->locations[i], i);
  for (size_t i = 0; i < p->nfunctions; i++) put_function(&b, p, i);
  put_strings(&b, p);
  pb_uint(&b, PROFILE_TIME_NANOS, (uint64_t)p->time_nanos);
  put_value_type(&b, PROFILE_PERIOD_TYPE, str_period_type(p));
  pb_uint(&b, PROFILE_PERIOD, (uint64_t)p->period);
  pb_uint(&b, PROFILE_DEFAULT_SAMPLE_TYPE, str_sample_type(p->default_sample_type));
  return b.n;
}

/* ---- gzip (RFC 1952) around one deflate block (RFC 1951) ---- */

uint32_t pprof_crc32(uint32_t crc, const uint8_t *p, size_t n) {
  /* The reflected polynomial 0xedb88320 a nibble at a time. */
  static const uint32_t nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
    0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
    0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
  };
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ nibble[crc & 15];
    crc = (crc >> 4) ^ nibble[crc & 15];
  }
  return ~crc;
}

/* Bits go out least significant first; Huffman codes most significant
 * first, so they are reversed on the way in. */
typedef struct bits {
  pb_t out;
  uint64_t acc;
  unsigned n;
} bits_t;

static void put_bits(bits_t *w, uint32_t v, unsigned n) {
  w->acc |= (uint64_t)v << w->n;
  w->n += n;
  while (w->n >= 8) {
    pb_byte(&w->out, (uint8_t)w->acc);
    w->acc >>= 8;
    w->n -= 8;
  }
}

static void put_code(bits_t *w, uint32_t code, unsigned n) {
  uint32_t r = 0;
  for (unsigned i = 0; i < n; i++) r |= ((code >> i) & 1) << (n - 1 - i);
  put_bits(w, r, n);
}

/* The fixed literal/length code of RFC 1951 3.2.6. */
static void put_symbol(bits_t *w, unsigned sym) {
  if (sym < 144) put_code(w, 0x30 + sym, 8);
  else if (sym < 256) put_code(w, 0x190 + sym - 144, 9);
  else if (sym < 280) put_code(w, sym - 256, 7);
  else put_code(w, 0xc0 + sym - 280, 8);
}

static const uint16_t length_base[29] = {
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
  35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t length_extra[29] = {
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[30] = {
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
  1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
};
static const uint8_t dist_extra[30] = {
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};

static void put_match(bits_t *w, unsigned len, unsigned dist) {
  unsigned i = 28;
  while (length_base[i] > len) i--;
  put_symbol(w, 257 + i);
  put_bits(w, len - length_base[i], length_extra[i]);
  unsigned d = 29;
  while (dist_base[d] > dist) d--;
  put_code(w, d, 5);
  put_bits(w, dist - dist_base[d], dist_extra[d]);
}

#define WINDOW 32768u
#define MIN_MATCH 3u
#define MAX_MATCH 258u
#define HASH_BITS 13

static uint32_t hash3(const uint8_t *p) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
  return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* One final fixed-Huffman block; each position's latest earlier
 * occurrence of its first three bytes (held in `last` as position + 1)
 * is the one match tried, as the fastest levels of zlib do. */
static void deflate_fixed(bits_t *w, const uint8_t *in, size_t n, uint32_t *last) {
  memset(last, 0, sizeof(uint32_t) << HASH_BITS);
  put_bits(w, 1, 1);   /* BFINAL */
  put_bits(w, 1, 2);   /* BTYPE 01: fixed codes */
  size_t i = 0;
  while (i < n) {
    size_t len = 0, cand = 0;
    if (i + MIN_MATCH <= n) {
      uint32_t h = hash3(in + i);
      cand = last[h];
      last[h] = (uint32_t)i + 1;
      if (cand != 0 && i - (cand - 1) <= WINDOW) {
        cand--;
        size_t max = n - i < MAX_MATCH ? n - i : MAX_MATCH;
        while (len < max && in[cand + len] == in[i + len]) len++;
      }
    }
    if (len < MIN_MATCH) {
      put_symbol(w, in[i++]);
      continue;
    }
    put_match(w, (unsigned)len, (unsigned)(i - cand));
    for (size_t j = i + 1; j < i + len && j + MIN_MATCH <= n; j++)
      last[hash3(in + j)] = (uint32_t)j + 1;
    i += len;
  }
  put_symbol(w, 256);  /* end of block */
  if (w->n > 0) put_bits(w, 0, 8 - w->n);
}

size_t pprof_gzip_bound(size_t n) { return 10 + n + n / 8 + 16 + 8; }

/* The match table lives at the end of out, past what the stream can take
 * (pprof_gzip_bound), so the caller gives one buffer and nothing else. */
size_t pprof_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  size_t table = (sizeof(uint32_t) << HASH_BITS) + sizeof(uint32_t);
  size_t need = pprof_gzip_bound(n) + table;
  if (n > UINT32_MAX - 1) return 0;
  if (cap < need) return need;
  uint32_t *last = (uint32_t *)align_up((uintptr_t)(out + pprof_gzip_bound(n)), sizeof(uint32_t));
  bits_t w = { { out, 0, pprof_gzip_bound(n) }, 0, 0 };
  static const uint8_t header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };  /* deflate, Unix */
  for (size_t i = 0; i < sizeof header; i++) pb_byte(&w.out, header[i]);
  deflate_fixed(&w, in, n, last);
  uint32_t crc = pprof_crc32(0, in, n), size = (uint32_t)n;
  for (int i = 0; i < 4; i++) pb_byte(&w.out, (uint8_t)(crc >> (8 * i)));
  for (int i = 0; i < 4; i++) pb_byte(&w.out, (uint8_t)(size >> (8 * i)));
  return w.out.n;
}
