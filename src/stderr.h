/* Writing pacegc's own lines: whole, with write(2), errno kept. */
#ifndef PACEGC_STDERR_H
#define PACEGC_STDERR_H

#include <stddef.h>

/* Writes all of buf to fd, retrying short writes and EINTR; gives up
 * quietly if fd is closed or full, because the program must run on.
 * Never allocates, never changes errno. */
void fd_write(int fd, const char *buf, size_t len);

/* fd_write to stderr. */
void stderr_write(const char *buf, size_t len);

#endif
