/*
 * profile.proto, the format `go tool pprof` reads, encoded by hand (as the
 * Go runtime's own runtime/pprof does, to stay free of dependencies: a
 * library preloaded into every program cannot bring a protobuf runtime),
 * and the gzip container it is read from.
 *
 * Pure: no I/O, no globals, no malloc.  The caller describes the profile
 * with arrays whose ids are their index + 1 (0: none) and provides the
 * output buffer; a too small buffer is not overrun, and the size needed
 * comes back so the caller can grow it and encode again.
 */
#ifndef PACEGC_PPROF_H
#define PACEGC_PPROF_H

#include "util.h"

typedef struct pprof_value_type { const char *type, *unit; } pprof_value_type_t;

typedef struct pprof_mapping {
  uint64_t start, limit, offset;   /* where it is loaded, and the file offset there */
  const char *file;
  const char *build_id;            /* hex, or NULL */
  bool has_functions;              /* every location in it has a function */
} pprof_mapping_t;

typedef struct pprof_function { const char *name; } pprof_function_t;

typedef struct pprof_location {
  uint64_t address;
  uint32_t mapping, function;      /* ids; 0: none */
} pprof_location_t;

typedef struct pprof_sample {
  const uint32_t *locations;       /* location ids, leaf first */
  uint32_t nlocations;
  const int64_t *values;           /* one per sample type */
  int64_t bytes;                   /* the "bytes" label (object size); 0: none */
} pprof_sample_t;

typedef struct pprof_profile {
  const pprof_value_type_t *sample_types;
  size_t nsample_types, default_sample_type;   /* an index into sample_types */
  pprof_value_type_t period_type;
  int64_t period, time_nanos;
  const pprof_mapping_t *mappings;
  size_t nmappings;
  const pprof_function_t *functions;
  size_t nfunctions;
  const pprof_location_t *locations;
  size_t nlocations;
  const pprof_sample_t *samples;
  size_t nsamples;
} pprof_profile_t;

/* Encodes p into out[0..cap); returns the bytes the encoding takes (it is
 * in out only if that is at most cap). */
size_t pprof_encode(const pprof_profile_t *p, uint8_t *out, size_t cap);

/* The CRC-32 of gzip (and zlib's crc32()), continued from crc (0 first). */
uint32_t pprof_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Wraps in[0..n) in a gzip member whose deflate stream compresses with
 * fixed Huffman codes and LZ77 matches (zlib's fastest levels' way; a
 * profile shrinks 3-5x).  Returns the bytes written, or, if cap is too
 * small, the cap it needs (more than the output: the match table is
 * kept past it); 0 for input of 4 GiB or more.  The output is at most
 * pprof_gzip_bound(n) bytes. */
size_t pprof_gzip(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
size_t pprof_gzip_bound(size_t n);

#endif
