/* Files written whole: see outfile.h. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

#include "os.h"

/* path from the pattern: each "%p" the process id, "%%" a '%'. */
static bool expand(outfile_t *f) {
  size_t n = 0, cap = sizeof f->path;
  char pid[16];
  int np = 0;
  for (unsigned v = (unsigned)os_getpid(); np == 0 || v != 0; v /= 10) pid[np++] = (char)('0' + v % 10);
  for (const char *s = f->pattern; *s; s++) {
    if (s[0] == '%' && (s[1] == 'p' || s[1] == '%')) {
      if (*++s == 'p')
        for (int i = np; i-- > 0 && n < cap - 1;) f->path[n++] = pid[i];
      else if (n < cap - 1)
        f->path[n++] = '%';
    } else if (n < cap - 1) {
      f->path[n++] = *s;
    }
  }
  f->path[n] = 0;
  memcpy(f->tmp, f->path, n);
  memcpy(f->tmp + n, ".tmp", 5);
  return n > 0 && n < cap - 1;
}

bool outfile_init(outfile_t *f, const char *pattern) {
  f->on = false;
  if (pattern == NULL || pattern[0] == 0) return false;
  strncpy(f->pattern, pattern, sizeof f->pattern - 1);
  f->on = expand(f);
  return f->on;
}

long outfile_write(outfile_t *f, const void *buf, size_t n) {
  if (!os_may_open()) return EPERM;
  long fd = os_syscall4(SYS_openat, AT_FDCWD, (long)f->tmp,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -fd;
  long err = 0;
  for (size_t done = 0; done < n && err == 0;) {
    ssize_t w = os_write((int)fd, (const char *)buf + done, n - done);
    if (w > 0) done += (size_t)w;
    else if (w != -EINTR) err = w < 0 ? -w : EIO;
  }
  os_close((int)fd);
  if (err == 0) {
    long r = os_syscall4(SYS_renameat, AT_FDCWD, (long)f->tmp, AT_FDCWD, (long)f->path);
    err = r < 0 ? -r : 0;
  }
  return err;
}

void outfile_after_fork_child(outfile_t *f) {
  f->on = f->on && strstr(f->pattern, "%p") != NULL && expand(f);
}
