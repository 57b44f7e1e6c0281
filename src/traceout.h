/*
 * Where the trace goes (PACEGC_TRACE): gctrace and scavtrace lines, and
 * pacegc's own lines about a cycle, to stderr (the default, as in Go), to
 * a descriptor the program was started with ("fd:N": pacegc writes to its
 * own copy, so the program may close N), or appended to a file opened at
 * start-up.  Messages about the program's mistakes (bad frees, bad
 * values) stay on stderr.
 */
#ifndef PACEGC_TRACEOUT_H
#define PACEGC_TRACEOUT_H

#include "config.h"

/* At start-up: opens the destination; one pacegc: line on stderr if it
 * cannot be had, and the trace stays there. */
void traceout_init(const config_trace_t *t);

#endif
