/* Writing the metrics file: see metrics_out.h. */
#include "metrics_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>

#include "config.h"
#include "heap.h"
#include "meta.h"
#include "metrics.h"
#include "os.h"
#include "report.h"

#define BUF_BYTES ((size_t)16 << 10)
#define WRITE_EVERY_NS 1000000000ull

static struct {
  bool on, told;
  char pattern[CONFIG_PATH_MAX];      /* as given, "%p" and all */
  char path[CONFIG_PATH_MAX + 16], tmp[CONFIG_PATH_MAX + 24];
  uint64_t last_ns;
  metrics_t m;                        /* the counts; stats filled per write */
  char *buf;                          /* bookkeeping memory, BUF_BYTES */
  atomic_flag lock;                   /* one writer at a time: a cycle, or exit */
} M = { .lock = ATOMIC_FLAG_INIT };

/* path from the pattern: each "%p" the process id, "%%" a '%'. */
static bool expand(void) {
  size_t n = 0, cap = sizeof M.path;
  char pid[16];
  int np = 0;
  for (unsigned v = (unsigned)os_getpid(); np == 0 || v != 0; v /= 10) pid[np++] = (char)('0' + v % 10);
  for (const char *s = M.pattern; *s; s++) {
    if (s[0] == '%' && (s[1] == 'p' || s[1] == '%')) {
      if (*++s == 'p')
        for (int i = np; i-- > 0 && n < cap - 1;) M.path[n++] = pid[i];
      else if (n < cap - 1)
        M.path[n++] = '%';
    } else if (n < cap - 1) {
      M.path[n++] = *s;
    }
  }
  M.path[n] = 0;
  memcpy(M.tmp, M.path, n);
  memcpy(M.tmp + n, ".tmp", 5);
  return n > 0 && n < cap - 1;
}

void metrics_out_init(const char *path) {
  if (path == NULL || path[0] == 0) return;
  strncpy(M.pattern, path, sizeof M.pattern - 1);
  M.buf = meta_map(BUF_BYTES, "pacegc-metrics");
  M.on = M.buf != NULL && expand();
}

bool metrics_out_on(void) { return M.on; }

void metrics_out_note_cycle(uint64_t pause_ns, bool limiter_engaged) {
  if (!M.on) return;
  metrics_hist_add(&M.m.pauses, pause_ns);
  M.m.limiter_engagements += limiter_engaged;
}

void metrics_out_note_sweep(uint64_t reclaimed_bytes, uint64_t reclaimed_objects) {
  if (!M.on) return;
  M.m.reclaimed_bytes += reclaimed_bytes;
  M.m.reclaimed_objects += reclaimed_objects;
}

bool metrics_out_due(uint64_t now_ns) { return M.on && now_ns - M.last_ns >= WRITE_EVERY_NS; }

static long write_file(size_t n) {
  if (!os_may_open()) return EPERM;
  long fd = os_syscall4(SYS_openat, AT_FDCWD, M.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        0644);
  if (fd < 0) return -fd;
  long err = 0;
  for (size_t done = 0; done < n && err == 0;) {
    ssize_t w = os_write((int)fd, M.buf + done, n - done);
    if (w > 0) done += (size_t)w;
    else if (w != -EINTR) err = w < 0 ? -w : EIO;
  }
  os_close((int)fd);
  if (err == 0) {
    long r = os_syscall4(SYS_renameat, AT_FDCWD, M.tmp, AT_FDCWD, M.path);
    err = r < 0 ? -r : 0;
  }
  return err;
}

void metrics_out_write(const pacegc_stats_t *s, uint64_t now_ns) {
  if (!M.on) return;
  sigset_t old;
  os_spin_lock(&M.lock, &old);
  M.last_ns = now_ns;
  M.m.stats = *s;
  M.m.bad_frees = heap_bad_frees();
  size_t n = metrics_format(M.buf, BUF_BYTES, &M.m);
  long err = n == 0 ? ENOSPC : write_file(n);
  bool tell = err != 0 && !M.told;
  M.told |= tell;
  os_spin_unlock(&M.lock, &old);
  if (tell)
    report("PACEGC_METRICS=\"%s\": cannot write %s (%s); trying again at most once a "
           "second (said once)", M.pattern, M.tmp, strerror((int)err));
}

void metrics_out_after_fork_child(void) {
  atomic_flag_clear(&M.lock);
  M.on = M.on && strstr(M.pattern, "%p") != NULL && expand();
}
