/* Allocation and free call stacks: see provenance.h. */
#include "provenance.h"

#include <pthread.h>
#include <string.h>

#include "addrtab.h"
#include "checks.h"
#include "report.h"

bool provenance_enabled;

/* The records, keyed by address (addrtab.h), guarded by `lock`; they
 * live in bookkeeping memory, so the stacks they hold are never roots. */
typedef struct record {
  uintptr_t addr;
  void *alloc[PROVENANCE_FRAMES], *freed[PROVENANCE_FRAMES];
  bool has_free, reported;
} record_t;

static struct {
  pthread_mutex_t lock;
  addrtab_t records;
} pv = { .lock = PTHREAD_MUTEX_INITIALIZER,
         .records = ADDRTAB_INIT(record_t, GRANULE_SHIFT, "pacegc-provenance") };

static record_t *find(uintptr_t a, bool insert) { return addrtab_find(&pv.records, a, insert); }

void provenance_alloc(uintptr_t p) {
  void *ips[PROVENANCE_FRAMES];
  report_backtrace(ips, PROVENANCE_FRAMES);
  CHECK_NOT_STOPPED();
  pthread_mutex_lock(&pv.lock);
  if (addrtab_reserve(&pv.records)) {
    record_t *r = find(p, true);
    addrtab_filled(&pv.records, r->addr);
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
  if (r) r->addr = ADDRTAB_TOMB;
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
  if (!report_it || !report_stack_allowed()) return;
  report("freed %zu-byte object at %p is still referenced; kept", size, (void *)p);
  report_frames("allocated at", copy.alloc, PROVENANCE_FRAMES);
  report_frames("freed at", copy.freed, PROVENANCE_FRAMES);
}
