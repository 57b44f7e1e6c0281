/*
 * Writing the metrics file (PACEGC_METRICS=path, metrics.h): after a
 * cycle at most once a second, and at exit; each time whole (outfile.h:
 * "%p" in the path stands for the process id).
 */
#ifndef PACEGC_METRICS_OUT_H
#define PACEGC_METRICS_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "pacegc.h"

/* At start-up; an empty path: no file. */
void metrics_out_init(const char *path);

bool metrics_out_on(void);

/* Under the collector's lock, after each cycle (its stops: one, or a
 * concurrent cycle's two, each a pause in the histogram as in Go's
 * /gc/pauses:seconds), and after its sweep. */
void metrics_out_note_cycle(const uint64_t *pauses_ns, int npauses, bool limiter_engaged);
void metrics_out_note_sweep(uint64_t reclaimed_bytes, uint64_t reclaimed_objects);

/* Whether a write is due at now (once a second). */
bool metrics_out_due(uint64_t now_ns);

/* Writes the file from *s and pacegc's own counts.  One pacegc: line the
 * first time it cannot be written; it is tried again next time. */
void metrics_out_write(const pacegc_stats_t *s, uint64_t now_ns);

void metrics_out_after_fork_child(void);

#endif
