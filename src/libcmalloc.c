/* glibc's own allocations: see libcmalloc.h. */
#include "libcmalloc.h"

#include <stdatomic.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"

/* glibc's chunk header (malloc/malloc.c): the size word sits just below
 * the user pointer, with three flag bits. */
#define PREV_INUSE 1u
#define IS_MMAPPED 2u
#define NON_MAIN_ARENA 4u
#define SIZE_BITS 7u
#define HEAP_MAX ((uintptr_t)64 << 20)   /* a non-main arena's heap, 64-bit */
#define MIN_CHUNK 32u

static uintptr_t brk_start;

void libcmalloc_init(void) {
  long b = os_syscall1(SYS_brk, 0);
  if (b > 0) brk_start = (uintptr_t)b;
}

/* Reads n bytes at a without faulting: false if any is not readable. */
static bool peek(uintptr_t a, void *out, size_t n) {
  struct iovec local = { out, n }, remote = { (void *)a, n };
  return os_syscall6(SYS_process_vm_readv, os_getpid(), (long)&local, 1, (long)&remote, 1, 0) ==
         (long)n;
}

/* A chunk in use is followed by a chunk whose PREV_INUSE bit says so. */
static bool next_says_in_use(uintptr_t chunk, size_t size) {
  size_t next;
  return peek(chunk + size + sizeof(size_t), &next, sizeof next) && (next & PREV_INUSE);
}

bool libcmalloc_owns(const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (a == 0 || (a & 15) != 0 || a < 2 * sizeof(size_t)) return false;
  uintptr_t chunk = a - 2 * sizeof(size_t);
  size_t head[2];                                   /* prev_size, size */
  if (!peek(chunk, head, sizeof head)) return false;
  size_t size = head[1] & ~(size_t)SIZE_BITS;
  if (size < MIN_CHUNK || size + chunk < chunk) return false;
  long page = sysconf(_SC_PAGESIZE);
  if (head[1] & IS_MMAPPED) {
    /* mmap'd whole: page-aligned once its offset (prev_size) is taken off. */
    uintptr_t block = chunk - head[0];
    return ((block | (head[0] + size)) & (uintptr_t)(page - 1)) == 0;
  }
  if (!(head[1] & NON_MAIN_ARENA)) {
    uintptr_t top = (uintptr_t)os_syscall1(SYS_brk, 0);
    return brk_start != 0 && chunk >= brk_start && chunk + size <= top &&
           next_says_in_use(chunk, size);
  }
  /* A non-main arena's heap starts at its 64 MiB boundary with a
   * heap_info { arena, prev, size, ... } that covers the chunk. */
  uintptr_t heap = chunk & ~(HEAP_MAX - 1);
  uintptr_t info[3];
  return peek(heap, info, sizeof info) && info[0] != 0 && info[2] <= HEAP_MAX &&
         chunk + size <= heap + info[2] && next_says_in_use(chunk, size);
}

size_t libcmalloc_usable_size(void *p) {
  static size_t (*real)(void *);
  if (real == NULL) real = (size_t (*)(void *))os_libc("malloc_usable_size");
  return real ? real(p) : 0;
}
