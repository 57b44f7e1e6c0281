/*
 * Where objects came from, for PACEGC_GODEBUG=dangling=1 with
 * PACEGC_FREE=defer: the call stacks that allocated and freed each object,
 * so a freed object that is still pointed to can be reported with both.
 * Costs a backtrace per allocation and per free: a debugging mode.
 */
#ifndef PACEGC_PROVENANCE_H
#define PACEGC_PROVENANCE_H

#include "util.h"

#define PROVENANCE_FRAMES 8

/* Set once, at start-up, when the debug key asks for it. */
extern bool provenance_enabled;

void provenance_alloc(uintptr_t p);
void provenance_free(uintptr_t p);
/* The object is gone (released): forget it. */
void provenance_forget(uintptr_t p);
/* The sweep found the freed object at p still referenced: report it once. */
void provenance_report_dangling(uintptr_t p, size_t size);

#endif
