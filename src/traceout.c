/* Where the trace goes: see traceout.h. */
#include "traceout.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

#include "os.h"
#include "report.h"
#include "trace.h"

/* The path as a message may show it: at most 128 bytes, each byte that
 * is not printable ASCII as '?', so it stays one line. */
static const char *shown(const char *path, char *buf, size_t cap) {
  size_t n = 0;
  for (; path[n] && n + 4 < cap && n < 128; n++)
    buf[n] = path[n] >= 0x20 && path[n] < 0x7f ? path[n] : '?';
  if (path[n]) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
  buf[n] = 0;
  return buf;
}

void traceout_init(const config_trace_t *t) {
  bool ok;
  long err = 0;
  if (t->dest == TRACE_STDERR) return;
  if (t->dest == TRACE_FD) {
    ok = os_keep_trace_dup(t->fd);
    if (!ok) err = EBADF;
  } else {
    long fd = os_syscall4(SYS_openat, AT_FDCWD, t->path,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    err = fd < 0 ? -fd : 0;
    ok = fd >= 0 && os_keep_trace_fd((int)fd);
  }
  if (ok) {
    trace_set_output(os_trace_fd);
    return;
  }
  char buf[136];
  if (t->dest == TRACE_FD)
    report("PACEGC_TRACE=\"fd:%d\": descriptor %d is not open (%s); using stderr", t->fd, t->fd,
           strerror((int)err));
  else
    report("PACEGC_TRACE=\"%s\": cannot open it (%s); using stderr",
           shown(t->path, buf, sizeof buf), strerror((int)err));
}
