/* Allocation and free call stacks: see provenance.h. */
#include "provenance.h"

#include <pthread.h>
#include <string.h>

#include "checks.h"
#include "meta.h"
#include "report.h"

bool provenance_enabled;

/* Open addressing keyed by address; `addr` 0 is empty, 1 is a tombstone.
 * Guarded by `lock`; the table lives in bookkeeping memory, so the stacks
 * it holds are never roots. */
typedef struct record {
  uintptr_t addr;
  void *alloc[PROVENANCE_FRAMES], *freed[PROVENANCE_FRAMES];
  bool has_free, reported;
} record_t;

#define TOMB ((uintptr_t)1)

static struct {
  pthread_mutex_t lock;
  record_t *slots;
  size_t cap, used;
} pv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t slot_of(uintptr_t a) { return (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull >> 20); }

static record_t *find(uintptr_t a, bool insert) {
  if (pv.cap == 0) return NULL;
  record_t *tomb = NULL;
  for (size_t i = slot_of(a) & (pv.cap - 1);; i = (i + 1) & (pv.cap - 1)) {
    record_t *r = &pv.slots[i];
    if (r->addr == a) return r;
    if (r->addr == TOMB && !tomb) tomb = r;
    if (r->addr == 0) return insert ? (tomb ? tomb : r) : NULL;
  }
}

static bool grow(void) {
  record_t *old = pv.slots;
  size_t old_cap = pv.cap, cap = old_cap ? 2 * old_cap : 4096;
  record_t *slots = meta_map(cap * sizeof *slots, "pacegc-provenance");
  if (slots == NULL) return false;
  pv.slots = slots;
  pv.cap = cap;
  pv.used = 0;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].addr > TOMB) {
      *find(old[i].addr, true) = old[i];
      pv.used++;
    }
  if (old) meta_unmap(old, old_cap * sizeof *old);
  return true;
}

void provenance_alloc(uintptr_t p) {
  void *ips[PROVENANCE_FRAMES];
  report_backtrace(ips, PROVENANCE_FRAMES);
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&pv.lock);
  if ((pv.used + 1) * 4 < pv.cap * 3 || grow()) {
    record_t *r = find(p, true);
    if (r->addr <= TOMB) pv.used++;
    memset(r, 0, sizeof *r);
    r->addr = p;
    memcpy(r->alloc, ips, sizeof ips);
  }
  pthread_mutex_unlock(&pv.lock);
}

void provenance_free(uintptr_t p) {
  void *ips[PROVENANCE_FRAMES];
  report_backtrace(ips, PROVENANCE_FRAMES);
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&pv.lock);
  record_t *r = find(p, false);
  if (r) {
    memcpy(r->freed, ips, sizeof ips);
    r->has_free = true;
  }
  pthread_mutex_unlock(&pv.lock);
}

void provenance_forget(uintptr_t p) {
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&pv.lock);
  record_t *r = find(p, false);
  if (r) r->addr = TOMB;
  pthread_mutex_unlock(&pv.lock);
}

void provenance_report_dangling(uintptr_t p, size_t size) {
  record_t copy;
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&pv.lock);
  record_t *r = find(p, false);
  bool report_it = r && r->has_free && !r->reported;
  if (report_it) {
    r->reported = true;
    copy = *r;
  }
  pthread_mutex_unlock(&pv.lock);
  if (!report_it) return;
  report("freed %zu-byte object at %p is still referenced; kept", size, (void *)p);
  report_frames("allocated at", copy.alloc, PROVENANCE_FRAMES);
  report_frames("freed at", copy.freed, PROVENANCE_FRAMES);
}
