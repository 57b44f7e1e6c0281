/* Writing to stderr: see stderr.h. */
#include "stderr.h"

#include <errno.h>
#include <unistd.h>

void stderr_write(const char *buf, size_t len) { fd_write(STDERR_FILENO, buf, len); }

void fd_write(int fd, const char *buf, size_t len) {
  int saved = errno;
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf += n;
    len -= (size_t)n;
  }
  errno = saved;
}
