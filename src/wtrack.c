/* Write tracking: see wtrack.h. */
#include "wtrack.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>

#include "os.h"
#include "pagemap_scan.h"

/* Linux 6.7's uapi linux/userfaultfd.h, which Debian 12's headers (6.1)
 * predate; the kernel decides at run time. */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define REGIONS 64   /* runs reported per scan call */

static struct {
  bool opened;
  wtrack_status_t status;
  int err;
  struct page_region vec[REGIONS];   /* the scan's output, reused */
} wt;

static long ioctl_raw(int fd, unsigned long req, void *arg) {
  return os_syscall3(SYS_ioctl, fd, req, arg);
}

static wtrack_status_t fail(wtrack_status_t s, long err, int uffd) {
  wt.status = s;
  wt.err = (int)(err < 0 ? -err : err);
  if (uffd >= 0) os_close(uffd);
  return s;
}

/* A scan of nothing tells whether the kernel knows PAGEMAP_SCAN. */
static long scan_nothing(int pagemap) {
  struct pm_scan_arg a = { .size = sizeof a, .start = 0, .end = 0, .vec = (uintptr_t)wt.vec,
                           .vec_len = REGIONS };
  return ioctl_raw(pagemap, PAGEMAP_SCAN, &a);
}

/* The userfaultfd is os.c's (kept from a program closing descriptors,
 * closed in a fork child); pagemap is os.c's too. */
wtrack_status_t wtrack_open(void) {
  if (wt.opened) return wt.status;
  wt.opened = true;
  long fd = os_syscall1(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (fd < 0) return fail(WTRACK_NO_UFFD, fd, -1);
  struct uffdio_api api = { .api = UFFD_API,
                            .features = UFFD_FEATURE_WP_ASYNC };
  long r = ioctl_raw((int)fd, UFFDIO_API, &api);
  if (r != 0 || !(api.features & UFFD_FEATURE_WP_ASYNC)) return fail(WTRACK_NO_ASYNC, r, (int)fd);
  int pm = os_proc_fd(OS_PROC_PAGEMAP);
  if (pm < 0) return fail(WTRACK_NO_PAGEMAP, EBADF, (int)fd);
  r = scan_nothing(pm);
  if (r < 0) return fail(WTRACK_NO_SCAN, r, (int)fd);
  os_keep_uffd((int)fd);
  wt.status = WTRACK_OK;
  return WTRACK_OK;
}

void wtrack_after_fork_child(void) { wt.opened = false; }

const char *wtrack_status_text(wtrack_status_t s) {
  switch (s) {
  case WTRACK_OK: return "write tracking available";
  case WTRACK_NO_UFFD: return "userfaultfd is refused";
  case WTRACK_NO_ASYNC: return "the kernel has no asynchronous write protection (Linux 6.7+)";
  case WTRACK_NO_PAGEMAP: return "/proc/self/pagemap cannot be opened";
  default: return "the kernel has no PAGEMAP_SCAN (Linux 6.7+)";
  }
}

int wtrack_error(void) { return wt.err; }

static long set_errno(long r) {
  if (r < 0) errno = (int)-r;
  return r;
}

static bool write_protect(uintptr_t lo, uintptr_t hi, unsigned long long mode) {
  struct uffdio_writeprotect wp = { .range = { lo, hi - lo }, .mode = mode };
  return set_errno(ioctl_raw(os_uffd_fd(), UFFDIO_WRITEPROTECT, &wp)) == 0;
}

bool wtrack_protect(uintptr_t lo, uintptr_t hi) {
  return write_protect(lo, hi, UFFDIO_WRITEPROTECT_MODE_WP);
}

bool wtrack_unprotect(uintptr_t lo, uintptr_t hi) { return write_protect(lo, hi, 0); }

bool wtrack_attach(uintptr_t lo, uintptr_t hi) {
  struct uffdio_register reg = { .range = { lo, hi - lo }, .mode = UFFDIO_REGISTER_MODE_WP };
  return set_errno(ioctl_raw(os_uffd_fd(), UFFDIO_REGISTER, &reg)) == 0;
}

bool wtrack_register(uintptr_t lo, uintptr_t hi) {
  if (!wtrack_attach(lo, hi)) return false;
  if (wtrack_protect(lo, hi)) return true;
  int err = errno;
  wtrack_unregister(lo, hi);
  errno = err;
  return false;
}

void wtrack_unregister(uintptr_t lo, uintptr_t hi) {
  struct uffdio_range range = { lo, hi - lo };
  ioctl_raw(os_uffd_fd(), UFFDIO_UNREGISTER, &range);
}

/* reprotect: protect the written pages again as they are reported (the
 * kernel then flushes their TLB entries on every CPU: most of the scan's
 * cost where much was written). */
static bool scan_written(uintptr_t lo, uintptr_t hi, bool reprotect, wtrack_run_fn fn,
                         void *arg) {
  int pagemap = os_proc_fd(OS_PROC_PAGEMAP);
  if (pagemap < 0) return errno = EBADF, false;
  while (lo < hi) {
    struct pm_scan_arg a = {
      .size = sizeof a,
      .flags = (reprotect ? PM_SCAN_WP_MATCHING : 0) | PM_SCAN_CHECK_WPASYNC,
      .start = lo, .end = hi, .vec = (uintptr_t)wt.vec, .vec_len = REGIONS,
      .category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
    };
    long n = set_errno(ioctl_raw(pagemap, PAGEMAP_SCAN, &a));
    if (n < 0) return false;
    for (long i = 0; i < n; i++)
      if (!fn(arg, (uintptr_t)wt.vec[i].start, (uintptr_t)wt.vec[i].end)) return true;
    /* The walk ends where the vector filled up, or at hi. */
    if (a.walk_end <= lo) return errno = EIO, false;
    lo = (uintptr_t)a.walk_end;
  }
  return true;
}

bool wtrack_written(uintptr_t lo, uintptr_t hi, wtrack_run_fn fn, void *arg) {
  return scan_written(lo, hi, true, fn, arg);
}

bool wtrack_written_since(uintptr_t lo, uintptr_t hi, wtrack_run_fn fn, void *arg) {
  return scan_written(lo, hi, false, fn, arg);
}
