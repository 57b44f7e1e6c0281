/*
 * Files pacegc writes for the user (the metrics file, the heap profile):
 * each time whole, to "path.tmp", then renamed over path, so a reader
 * never sees half a file.  "%p" in the path stands for the process id:
 * a forked child writes its own file then, and none at all otherwise (it
 * would overwrite its parent's).  Raw system calls only: no malloc, no
 * stdio, and no descriptor left open.
 */
#ifndef PACEGC_OUTFILE_H
#define PACEGC_OUTFILE_H

#include "config.h"
#include "util.h"

typedef struct outfile {
  bool on;
  char pattern[CONFIG_PATH_MAX];      /* as given, "%p" and all */
  char path[CONFIG_PATH_MAX + 16], tmp[CONFIG_PATH_MAX + 24];
} outfile_t;

/* False (and f off) for an empty pattern or one that expands to nothing. */
bool outfile_init(outfile_t *f, const char *pattern);

/* Writes buf[0..n) as the file's new contents; 0 or an errno value. */
long outfile_write(outfile_t *f, const void *buf, size_t n);

/* In a fork child: on only if the path names the process. */
void outfile_after_fork_child(outfile_t *f);

#endif
