/* Writing the metrics file: see metrics_out.h. */
#include "metrics_out.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "config.h"
#include "heap.h"
#include "meta.h"
#include "metrics.h"
#include "os.h"
#include "outfile.h"
#include "report.h"

#define BUF_BYTES ((size_t)16 << 10)
#define WRITE_EVERY_NS 1000000000ull

static struct {
  bool on, told;
  outfile_t file;
  uint64_t last_ns;
  metrics_t m;                        /* the counts; stats filled per write */
  char *buf;                          /* bookkeeping memory, BUF_BYTES */
  atomic_flag lock;                   /* one writer at a time: a cycle, or exit */
} M = { .lock = ATOMIC_FLAG_INIT };

void metrics_out_init(const char *path) {
  if (path == NULL || path[0] == 0) return;
  M.buf = meta_map(BUF_BYTES, "pacegc-metrics");
  M.on = M.buf != NULL && outfile_init(&M.file, path);
}

bool metrics_out_on(void) { return M.on; }

void metrics_out_note_cycle(const uint64_t *pauses_ns, int npauses, bool limiter_engaged) {
  if (!M.on) return;
  for (int i = 0; i < npauses; i++) metrics_hist_add(&M.m.pauses, pauses_ns[i]);
  M.m.limiter_engagements += limiter_engaged;
}

void metrics_out_note_sweep(uint64_t reclaimed_bytes, uint64_t reclaimed_objects) {
  if (!M.on) return;
  M.m.reclaimed_bytes += reclaimed_bytes;
  M.m.reclaimed_objects += reclaimed_objects;
}

bool metrics_out_due(uint64_t now_ns) { return M.on && now_ns - M.last_ns >= WRITE_EVERY_NS; }

void metrics_out_write(const pacegc_stats_t *s, uint64_t now_ns) {
  if (!M.on) return;
  sigset_t old;
  os_spin_lock(&M.lock, &old);
  M.last_ns = now_ns;
  M.m.stats = *s;
  M.m.bad_frees = heap_bad_frees();
  size_t n = metrics_format(M.buf, BUF_BYTES, &M.m);
  long err = n == 0 ? ENOSPC : outfile_write(&M.file, M.buf, n);
  bool tell = err != 0 && !M.told;
  M.told |= tell;
  os_spin_unlock(&M.lock, &old);
  if (tell)
    report("PACEGC_METRICS=\"%s\": cannot write %s (%s); trying again at most once a "
           "second (said once)", M.file.pattern, M.file.tmp, strerror((int)err));
}

void metrics_out_after_fork_child(void) {
  atomic_flag_clear(&M.lock);
  outfile_after_fork_child(&M.file);
  M.on = M.on && M.file.on;
}
