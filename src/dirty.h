/*
 * What a concurrent mark must read again: the pages the program wrote
 * after the mark read them (Boehm, Demers and Shenker's mostly-parallel
 * collection, with the kernel keeping the dirty bits: wtrack.h).
 *
 * A cycle arms tracking before its first stop: the heap's used part is
 * write-protected and every private writable mapping of the program
 * registered; the mappings are protected at the first stop, once the root
 * set is taken (dirty_protect_roots).  Protecting leaves pte markers on
 * the empty entries of a range, which pagemap shows as pages in swap and,
 * without privilege, cannot tell from them (resident.h): taken before,
 * the root set holds only pages with data.  A write after the protection
 * is recorded, and anything the mark reads later is read as it is then.  dirty_collect() hands the mark the runs written since
 * the last call and protects them again; at the final stop, what tracking
 * does not cover — stacks, pacegc's own copies (kernel queues, thread
 * slots), mappings that appeared, were replaced or could not be
 * registered, shared memory another process may write — is read whole
 * (dirty_untracked).  dirty_disarm() ends it: the program's mappings are
 * unregistered (a program using userfaultfd itself gets them back).
 *
 * The heap's whole reservation stays registered for the process's life,
 * so pages jemalloc takes during a mark are tracked from their first
 * write, and its used part stays protected from one concurrent cycle to
 * the next (each arm protects again only what was written: dirty.c says
 * why); dirty_release() lifts that when cycles stop the world again.  Collector calls only (gc.c's lock), no malloc: bookkeeping
 * memory.
 */
#ifndef PACEGC_DIRTY_H
#define PACEGC_DIRTY_H

#include "roots.h"
#include "wtrack.h"

/* Whether write tracking can be had here; the first call decides
 * (wtrack_open). */
wtrack_status_t dirty_available(void);

/* Starts tracking, the world running.  False if the heap could not be
 * protected: the cycle then marks with the world stopped.  A mapping
 * that cannot be registered is only left untracked. */
bool dirty_arm(void);

/* At the first stop, after the root set is taken: protects the mappings
 * dirty_arm registered (one the kernel refuses is read whole at the final
 * stop). */
void dirty_protect_roots(void);

/* Adds the runs written since dirty_arm() or the last call to *out
 * (ROOT_HEAP runs of the heap, ROOT_GLOBAL runs of mappings) and protects
 * them again — except the last call, at the final stop: nothing is read
 * after it, the next dirty_arm protects again what the heap has written,
 * and dirty_disarm lets the mappings go (measured at 100 MB live: the
 * final stop's scan 1.0-1.4 ms protecting, 0.13-0.37 ms not).  False if
 * the heap's runs could not be read: the mark can then trust none of the
 * heap it read while the program ran. */
bool dirty_collect(roots_t *out, bool last);

/* At the final stop: adds to *out the parts of the root set r that
 * tracking does not cover. */
void dirty_untracked(const roots_t *r, roots_t *out);

/* Ends tracking (after the final stop, the world running). */
void dirty_disarm(void);

/* Lifts the heap's protection, if any: for cycles that mark with the
 * world stopped, whose program should not take write faults. */
void dirty_release(void);

void dirty_after_fork_child(void);

#endif
