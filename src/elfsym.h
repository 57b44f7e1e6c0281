/*
 * Names for code addresses, read from the symbol tables of the ELF file a
 * mapping comes from: .symtab where the file still has one (static
 * functions too), .dynsym besides.  For the heap profile's functions.
 *
 * Not dladdr: it knows only .dynsym, and it takes the loader's lock,
 * which dlopen holds while constructors run — a constructor waiting for a
 * lock the writing thread holds would deadlock.  Here the file is mapped
 * read-only with raw system calls: no malloc, no lock.
 */
#ifndef PACEGC_ELFSYM_H
#define PACEGC_ELFSYM_H

#include "util.h"

typedef struct elfsym_file {
  const uint8_t *base;
  size_t size;
} elfsym_file_t;

/* Maps the file at path (NUL-terminated); false if it cannot be read or
 * is no 64-bit ELF file. */
bool elfsym_open(elfsym_file_t *f, const char *path);
void elfsym_close(elfsym_file_t *f);

/* The file's GNU build ID as lowercase hex into out (NUL-terminated, at
 * most ELFSYM_BUILD_ID_MAX bytes with the NUL); false if it has none.
 * pprof finds debug symbols by it (/usr/lib/debug/.build-id/). */
#define ELFSYM_BUILD_ID_MAX 129
bool elfsym_build_id(const elfsym_file_t *f, char *out);

/*
 * Names the code addresses pcs[0..n) (ascending, all inside one mapping
 * of the file that starts at address lo and maps it from file offset
 * `offset`): names[i] is set to the name of the function containing
 * pcs[i] (pointing into the file's mapping: valid until elfsym_close),
 * or left as it is where no symbol covers it.  Pure given the mapping.
 */
void elfsym_name(const elfsym_file_t *f, uintptr_t lo, uintptr_t offset,
                 const uintptr_t *pcs, size_t n, const char **names);

#endif
