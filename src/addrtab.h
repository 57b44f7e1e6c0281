/*
 * A table of records keyed by address, in bookkeeping memory (meta.h):
 * open addressing with linear probing, for the few records pacegc keeps
 * about particular allocations (provenance.c's call stacks, memprof.c's
 * sampled allocations).  Every record starts with its address: 0 marks
 * an empty slot, ADDRTAB_TOMB one whose record was removed.
 *
 * Records whose addresses agree above `shift` bits start probing at the
 * same slot and so sit in one run (memprof.c keys by page, and finds a
 * page's records in its run).  Not thread-safe: the owner locks.
 */
#ifndef PACEGC_ADDRTAB_H
#define PACEGC_ADDRTAB_H

#include "util.h"

#define ADDRTAB_TOMB ((uintptr_t)1)

typedef struct addrtab {
  void *slots;
  size_t cap, used;      /* used: records and tombstones */
  size_t elem;           /* bytes per record; the first field is its uintptr_t address */
  unsigned shift;        /* address bits below the key */
  const char *name;      /* of the mapping */
} addrtab_t;

#define ADDRTAB_INIT(type, key_shift, label) \
  { .elem = sizeof(type), .shift = (key_shift), .name = (label) }

/* The record of addr; with insert, where it goes if it has none (a slot
 * holding 0 or ADDRTAB_TOMB, the caller fills it and counts it with
 * addrtab_filled).  NULL if absent (or the table is empty). */
void *addrtab_find(const addrtab_t *t, uintptr_t addr, bool insert);

/* Makes room for one more record: rehashes, tombstones dropped, into a
 * table at least four times the live records.  False without memory. */
bool addrtab_reserve(addrtab_t *t);

/* After filling a slot addrtab_find returned for insertion. */
void addrtab_filled(addrtab_t *t, uintptr_t old_addr);

/* The slot index probing for addr starts at, and the slot after i. */
size_t addrtab_home(const addrtab_t *t, uintptr_t addr);
ALWAYS_INLINE size_t addrtab_next(const addrtab_t *t, size_t i) { return (i + 1) & (t->cap - 1); }

ALWAYS_INLINE uintptr_t addrtab_addr_at(const addrtab_t *t, size_t i) {
  return *(const uintptr_t *)((const char *)t->slots + i * t->elem);
}

#endif
