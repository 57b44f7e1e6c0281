/*
 * The process's mappings, from /proc/self/maps: what the root set is cut
 * from (roots.c).
 *
 * maps_parse_line() is pure.  maps_read() reads the whole file through
 * the descriptor os.c keeps (pread from offset 0, into a stack buffer)
 * and is safe with the world stopped: no malloc, no stdio, no lock a
 * program thread can hold.
 */
#ifndef PACEGC_MAPS_H
#define PACEGC_MAPS_H

#include "util.h"

/* What backs a range of memory, as far as reading it is concerned
 * (resident.h): a file's private pages, anonymous private memory, or
 * shared memory, whose pages any process may have written. */
typedef enum { BACKING_FILE, BACKING_ANON, BACKING_SHARED } backing_t;

/* Kernel interfaces whose requests in flight hold pointers no scan can
 * read, known by the rings they map. */
typedef enum { KERNEL_IO_NONE, KERNEL_IO_URING, KERNEL_IO_AIO } kernel_io_t;

/* One line of /proc/self/maps. */
typedef struct map_entry {
  uintptr_t lo, hi;
  bool readable, writable, private_;
  bool anon;         /* no file behind it: unnamed, [heap], [stack], [anon:...] */
  bool special;      /* [vvar], [vdso], [vsyscall] and the like: never read */
  bool main_stack;   /* [stack]: the main thread's, which never merges */
  bool shared_mem;   /* writable shared memory that is no ordinary file's:
                        MAP_SHARED|MAP_ANONYMOUS, memfd, System V or POSIX
                        shared memory */
  kernel_io_t kernel_io;
} map_entry_t;

bool maps_parse_line(const char *line, size_t len, map_entry_t *out);

/* One line of /proc/self/maps as written: its range, permissions (four
 * characters, "rwxp"), the file offset it maps and the path (not
 * NUL-terminated; empty for anonymous memory).  maps_parse_line reads its
 * fields from this; the heap profile names code with it.  False for a
 * line that does not parse.  Pure. */
typedef struct map_file {
  uintptr_t lo, hi, offset;
  const char *perms;
  const char *path;
  size_t path_len;
} map_file_t;
bool maps_parse_file(const char *line, size_t len, map_file_t *out);

/* Lines in address order, in bookkeeping memory reused from cycle to
 * cycle. */
typedef struct maps {
  map_entry_t *e;
  size_t n, cap;
} maps_t;

/* Replaces m's contents with the current mappings.  False if the file
 * could not be read whole (or memory for the table ran out). */
bool maps_read(maps_t *m);

/* The index of the line containing a, or SIZE_MAX. */
size_t maps_find(const maps_t *m, uintptr_t a);

/* Where a window of `bytes` fits that mappings growing toward it cannot
 * reach: in the largest hole between the sorted spans, at least `reach`
 * past the mappings below it (brk grows up) and `reach` short of those
 * above (mmap grows down).  Under RLIMIT_AS no more than the limit can
 * ever be mapped, so a reach of the limit keeps the window apart.
 * Returns the window's start (aligned), or 0 if no hole is big enough.
 * Pure. */
uintptr_t maps_pick_window(const span_t *maps, size_t n, size_t bytes, uint64_t reach,
                           size_t align);

#endif
