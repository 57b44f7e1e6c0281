/* Pages that may hold pointers: see resident.h. */
#include "resident.h"

#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>

#include "os.h"
#include "pagemap_scan.h"


/* /proc/self/pagemap's per-page word. */
#define PM_PRESENT ((uint64_t)1 << 63)
#define PM_SWAPPED ((uint64_t)1 << 62)
#define PM_FILE ((uint64_t)1 << 61)
/* With PM_SWAPPED, the swap type; 31 is the kernel's pte markers
 * (SWP_PTE_MARKER: 32 types less one), which hold no data: userfaultfd's
 * write protection leaves them on empty entries of a protected range. */
#define PM_SWAP_TYPE ((uint64_t)0x1f)
#define PM_MARKER_TYPE ((uint64_t)0x1f)

#define SCAN_REGIONS 64
#define BATCH_PAGES 512

/* -1 unknown, 0 refused by this kernel, 1 works. */
static _Atomic int scan_works = -1;

/* Gathers consecutive pages that pass `keep` into runs for fn. */
typedef struct run { uintptr_t lo, hi; } run_t;

static bool run_add(run_t *r, uintptr_t page, resident_fn fn, void *arg) {
  if (r->hi == page) {
    r->hi += PAGE_SIZE;
    return true;
  }
  bool go = r->hi == r->lo || fn(arg, r->lo, r->hi);
  r->lo = page;
  r->hi = page + PAGE_SIZE;
  return go;
}

static bool run_end(run_t *r, resident_fn fn, void *arg) {
  return r->hi == r->lo || fn(arg, r->lo, r->hi);
}

static bool runs_by_pagemap(int fd, uintptr_t lo, uintptr_t hi, resident_fn fn, void *arg) {
  run_t r = {lo, lo};
  uint64_t words[BATCH_PAGES];
  for (uintptr_t page = lo; page < hi;) {
    size_t n = (hi - page) >> PAGE_SHIFT;
    if (n > BATCH_PAGES) n = BATCH_PAGES;
    ssize_t got = os_pread(fd, words, n * 8, (off_t)((page >> PAGE_SHIFT) * 8));
    for (size_t i = 0; i < n; i++, page += PAGE_SIZE) {
      /* A page pagemap did not describe is read: when in doubt, scan. */
      bool unknown = got < (ssize_t)((i + 1) * 8);
      uint64_t w = unknown ? PM_PRESENT : words[i];
      bool marker = (w & (PM_PRESENT | PM_SWAPPED)) == PM_SWAPPED &&
                    (w & PM_SWAP_TYPE) == PM_MARKER_TYPE;
      if ((w & (PM_PRESENT | PM_SWAPPED)) && !(w & PM_FILE) && !marker &&
          !run_add(&r, page, fn, arg))
        return false;
    }
  }
  return run_end(&r, fn, arg);
}

/* Runs of pages that are neither file pages nor the zero page, and are
 * present or swapped; the kernel merges neighbours.  A run of swapped
 * pages is asked of pagemap's words, which tell pte markers (no data)
 * from pages in swap.  Returns 1 done, 0 stopped by fn, -1 refused (with
 * *lo where the rest starts). */
static int runs_by_scan(int fd, uintptr_t *lo, uintptr_t hi, resident_fn fn, void *arg) {
  struct page_region vec[SCAN_REGIONS];
  while (*lo < hi) {
    struct pm_scan_arg a = {
      .size = sizeof a, .start = *lo, .end = hi,
      .vec = (uint64_t)(uintptr_t)vec, .vec_len = SCAN_REGIONS,
      .category_inverted = PAGE_IS_FILE | PAGE_IS_PFNZERO,
      .category_mask = PAGE_IS_FILE | PAGE_IS_PFNZERO,
      .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
      .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
    };
    long n = os_syscall3(SYS_ioctl, fd, PAGEMAP_SCAN, &a);
    if (n < 0) return -1;
    for (long i = 0; i < n; i++) {
      uintptr_t r_lo = (uintptr_t)vec[i].start, r_hi = (uintptr_t)vec[i].end;
      bool go = vec[i].categories & PAGE_IS_PRESENT ? fn(arg, r_lo, r_hi)
                                                    : runs_by_pagemap(fd, r_lo, r_hi, fn, arg);
      if (!go) return 0;
    }
    if (a.walk_end <= *lo) return -1;   /* no progress: do not trust it */
    *lo = (uintptr_t)a.walk_end;
  }
  return 1;
}

static bool system_has_swap(void) {
  static _Atomic int swap = -1;
  int s = atomic_load_explicit(&swap, memory_order_relaxed);
  if (s < 0) {
    struct sysinfo si;
    s = os_syscall1(SYS_sysinfo, &si) != 0 || si.totalswap != 0;
    atomic_store_explicit(&swap, s, memory_order_relaxed);
  }
  return s;
}

/* Without pagemap: pages in memory, whatever backs them; anonymous memory
 * in full when some of it may be in swap, where mincore cannot see it. */
static bool runs_by_mincore(uintptr_t lo, uintptr_t hi, bool anon, resident_fn fn, void *arg) {
  if (anon && system_has_swap()) return fn(arg, lo, hi);
  run_t r = {lo, lo};
  unsigned char in_core[BATCH_PAGES];
  for (uintptr_t page = lo; page < hi;) {
    size_t n = (hi - page) >> PAGE_SHIFT;
    if (n > BATCH_PAGES) n = BATCH_PAGES;
    bool known = os_syscall3(SYS_mincore, page, n << PAGE_SHIFT, in_core) == 0;
    for (size_t i = 0; i < n; i++, page += PAGE_SIZE)
      if ((!known || (in_core[i] & 1)) && !run_add(&r, page, fn, arg)) return false;
  }
  return run_end(&r, fn, arg);
}

/* The cycle's pagemap descriptor, checked once by resident_prepare. */
static int pagemap_fd = -1;

void resident_prepare(void) { pagemap_fd = os_proc_fd(OS_PROC_PAGEMAP); }

bool resident_runs(uintptr_t lo, uintptr_t hi, backing_t backing, resident_fn fn, void *arg) {
  lo = align_down(lo, PAGE_SIZE);
  hi = align_up(hi, PAGE_SIZE);
  if (backing == BACKING_SHARED) return runs_by_mincore(lo, hi, false, fn, arg);
  int fd = pagemap_fd;
  if (fd >= 0 && atomic_load_explicit(&scan_works, memory_order_relaxed) != 0) {
    int r = runs_by_scan(fd, &lo, hi, fn, arg);
    if (r >= 0) return r == 1;
    /* Refused: this kernel lacks it (or the walk went wrong); pagemap's
     * words answer for the rest. */
    atomic_store_explicit(&scan_works, 0, memory_order_relaxed);
  }
  if (fd >= 0) return runs_by_pagemap(fd, lo, hi, fn, arg);
  return runs_by_mincore(lo, hi, backing == BACKING_ANON, fn, arg);
}

const char *resident_method(void) {
  if (pagemap_fd < 0) return "mincore";
  return atomic_load(&scan_works) == 0 ? "pagemap" : "pagemap_scan";
}
