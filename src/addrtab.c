/* Records keyed by address: see addrtab.h. */
#include "addrtab.h"

#include <string.h>

#include "meta.h"

#define ADDRTAB_MIN_CAP ((size_t)4096)

size_t addrtab_home(const addrtab_t *t, uintptr_t addr) {
  return (size_t)((addr >> t->shift) * 0x9e3779b97f4a7c15ull >> 17) & (t->cap - 1);
}

void *addrtab_find(const addrtab_t *t, uintptr_t addr, bool insert) {
  if (t->cap == 0) return NULL;
  void *tomb = NULL;
  for (size_t i = addrtab_home(t, addr);; i = addrtab_next(t, i)) {
    uintptr_t *r = (uintptr_t *)((char *)t->slots + i * t->elem);
    if (*r == addr) return r;
    if (*r == ADDRTAB_TOMB && tomb == NULL) tomb = r;
    if (*r == 0) return insert ? (tomb ? tomb : r) : NULL;
  }
}

void addrtab_filled(addrtab_t *t, uintptr_t old_addr) {
  if (old_addr == 0) t->used++;
}

bool addrtab_reserve(addrtab_t *t) {
  if ((t->used + 1) * 4 < t->cap * 3) return true;
  size_t live = 0;
  for (size_t i = 0; i < t->cap; i++) live += addrtab_addr_at(t, i) > ADDRTAB_TOMB;
  size_t cap = ADDRTAB_MIN_CAP;
  while (cap < 4 * (live + 1)) cap *= 2;
  void *slots = meta_map(cap * t->elem, t->name);
  if (slots == NULL) return false;
  addrtab_t old = *t;
  t->slots = slots;
  t->cap = cap;
  t->used = 0;
  for (size_t i = 0; i < old.cap; i++) {
    const char *r = (const char *)old.slots + i * old.elem;
    uintptr_t addr = addrtab_addr_at(&old, i);
    if (addr <= ADDRTAB_TOMB) continue;
    memcpy(addrtab_find(t, addr, true), r, t->elem);
    t->used++;
  }
  if (old.slots) meta_unmap(old.slots, old.cap * old.elem);
  return true;
}
