/*
 * Write tracking: which pages of the registered ranges the program wrote
 * since they were last protected — what concurrent marking (issue 10)
 * re-scans before it may finish.
 *
 * userfaultfd in asynchronous write-protect mode (UFFD_FEATURE_WP_ASYNC,
 * Linux 6.7): a write to a protected page is resolved by the kernel
 * itself, which lifts the protection and so marks the page written; no
 * fault reaches user space, no thread waits for pacegc.  PAGEMAP_SCAN on
 * /proc/self/pagemap then reports the written pages and protects them
 * again in the same call, so a page written after the report is reported
 * next time.  A page populated after the protection (first touched, or
 * touched again after MADV_DONTNEED dropped it) has no protection bit, so
 * it counts as written too; UFFD_FEATURE_WP_UNPOPULATED is not used: its
 * markers on empty page-table entries read as swapped-out pages in
 * pagemap, and the root scan (resident.h) would read every such page.
 * Writes the kernel makes on the program's behalf (read(2) into the page)
 * count like the program's own.
 *
 * UFFD_USER_MODE_ONLY makes it work for an unprivileged process without
 * vm.unprivileged_userfaultfd.  Where it cannot be had — an older kernel,
 * a seccomp filter, no /proc — wtrack_open() says why and the collector
 * marks with the world stopped.
 *
 * Every call is a system call on descriptors opened once; no malloc, so
 * each may run with the world stopped.
 *
 * The userfaultfd and pagemap descriptors are os.c's: kept from a
 * program that closes every descriptor, and not the parent's in a fork
 * child (wtrack_after_fork_child: the next wtrack_open opens anew).
 */
#ifndef PACEGC_WTRACK_H
#define PACEGC_WTRACK_H

#include "util.h"

typedef enum {
  WTRACK_OK,
  WTRACK_NO_UFFD,       /* userfaultfd refused (errno in wtrack_error()) */
  WTRACK_NO_ASYNC,      /* the kernel has no asynchronous write protection */
  WTRACK_NO_PAGEMAP,    /* /proc/self/pagemap cannot be opened */
  WTRACK_NO_SCAN,       /* the kernel has no PAGEMAP_SCAN */
} wtrack_status_t;

/* Opens the descriptors and checks the kernel once; later calls return
 * the first answer.  Not thread-safe: called from the collector. */
wtrack_status_t wtrack_open(void);

/* Why it is not available, as a phrase for a trace or report line. */
const char *wtrack_status_text(wtrack_status_t s);

/* The errno of the failed step, 0 if none. */
int wtrack_error(void);

/* Starts tracking [lo, hi) (page-aligned, within mappings of private or
 * shared anonymous memory, or private file mappings), protected from now
 * on; false (errno set) if the kernel refuses it. */
bool wtrack_register(uintptr_t lo, uintptr_t hi);

/* Registers [lo, hi) without protecting it: only pages written after a
 * wtrack_protect() of them, or populated after it, are reported.  For a large reservation, most of which is never touched:
 * protecting it would give the kernel page tables to fill for all of it. */
bool wtrack_attach(uintptr_t lo, uintptr_t hi);

/* Stops tracking [lo, hi); its pages become writable without a record. */
void wtrack_unregister(uintptr_t lo, uintptr_t hi);

/* Protects every page of [lo, hi) again: what was written before is
 * forgotten. */
bool wtrack_protect(uintptr_t lo, uintptr_t hi);

/* Lifts the protection of [lo, hi), which stays registered: writes cost
 * no fault until the next wtrack_protect. */
bool wtrack_unprotect(uintptr_t lo, uintptr_t hi);

/* fork: in the child, the parent's descriptor is gone (os.c). */
void wtrack_after_fork_child(void);

/* Calls fn for each run of pages in [lo, hi) written since they were last
 * protected, protecting them again as it reports them; stops when fn
 * returns false.  False (errno set) if the scan failed, e.g. on a page
 * not registered; the runs reported before the failure stand. */
typedef bool (*wtrack_run_fn)(void *arg, uintptr_t lo, uintptr_t hi);
bool wtrack_written(uintptr_t lo, uintptr_t hi, wtrack_run_fn fn, void *arg);

/* The same runs, left as they are: a last look, after which the pages
 * stay written until something protects them again. */
bool wtrack_written_since(uintptr_t lo, uintptr_t hi, wtrack_run_fn fn, void *arg);

#endif
