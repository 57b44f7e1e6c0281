/* Writing pacegc's own lines to stderr: whole, with write(2), errno kept. */
#ifndef PACEGC_STDERR_H
#define PACEGC_STDERR_H

#include <stddef.h>

/* Writes all of buf, retrying short writes and EINTR; gives up quietly if
 * stderr is closed or full, because the program must run on.  Never
 * allocates, never changes errno. */
void stderr_write(const char *buf, size_t len);

#endif
