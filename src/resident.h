/*
 * Which pages of a range can hold a pointer the program wrote: the pages
 * of private memory that are anonymous (never backed by a file, or copied
 * on write) and present or swapped out.  A page never touched reads as
 * zeros, and a file page unchanged since it was read holds the file's
 * bytes, never an address this run made: neither is read, so scanning
 * never faults a page in (DESIGN.md rule 2).
 *
 * Answers come from the kernel's page tables: the PAGEMAP_SCAN ioctl on
 * /proc/self/pagemap (Linux 6.7+: the kernel returns whole runs of
 * matching pages and skips empty page tables), or reading pagemap's
 * per-page words, or, when pagemap cannot be opened, mincore(2), which
 * cannot tell a copied page from a file page, nor see swapped pages: then
 * anonymous mappings are read in full when the system has swap.
 *
 * Shared memory is asked of mincore(2) always: its pages are the shared
 * object's (memfd, shmem), present in its page cache whether or not this
 * process's page tables map them yet (after a fork they do not), and
 * pagemap cannot tell them from a file's.  A shared page the kernel
 * swapped out is not seen; reading the whole mapping instead would
 * allocate every page of it never touched.
 */
#ifndef PACEGC_RESIDENT_H
#define PACEGC_RESIDENT_H

#include "maps.h"
#include "util.h"

/* Called for each run [lo, hi) of pages that may hold pointers; returns
 * false to stop. */
typedef bool (*resident_fn)(void *arg, uintptr_t lo, uintptr_t hi);

/* Checks the pagemap descriptor for this cycle (os_proc_fd); call with
 * the world stopped, before any resident_runs of the cycle. */
void resident_prepare(void);

/*
 * Calls fn for the runs of [lo, hi) (page aligned) that may hold
 * pointers, in address order; any number of threads at once.  `backing`
 * is what the whole range is (private anonymous memory matters only
 * without pagemap).  Returns false if fn stopped it.  Safe with the world
 * stopped.
 */
bool resident_runs(uintptr_t lo, uintptr_t hi, backing_t backing, resident_fn fn, void *arg);

/* Which method resident_runs uses now, for the trace and tests:
 * "pagemap_scan", "pagemap" or "mincore". */
const char *resident_method(void);

#endif
