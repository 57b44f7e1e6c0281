/*
 * gctrace lines in the Go runtime's format (GODEBUG=gctrace=1):
 *
 *   gc N @S.sss s P%: a+b+c ms clock, A+As/Ab/Ai+C ms cpu,
 *      h0->h1->h2 MB, G MB goal, K MB stacks, R MB globals, X P[ (forced)]
 *
 * With a stop-the-world mark: a is stopping the world and collecting the
 * roots, b the marking, c restarting the world; A and C are a and c times
 * the threads the pause held, As (assists) and Ai (idle marking) are 0,
 * Ab is the markers' CPU time.  h0 is the heap when the cycle started, h1
 * the heap at the end of marking, h2 the live (marked) heap.
 *
 * Formatting is pure and never allocates; trace_write() writes the line
 * with one write(2).
 */
#ifndef PACEGC_TRACE_H
#define PACEGC_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct trace_cycle {
  uint64_t n;                  /* cycles completed, this one included */
  uint64_t since_start_ns;     /* cycle start, from process start */
  unsigned cpu_percent;        /* GC CPU share since process start */
  uint64_t stw_ns, mark_ns, term_ns;                 /* a, b, c */
  uint64_t stw_cpu_ns, assist_cpu_ns, bg_cpu_ns, idle_cpu_ns, term_cpu_ns;
  uint64_t heap_start, heap_end, heap_live;          /* bytes */
  uint64_t goal, stacks, globals;                    /* bytes */
  int procs;
  bool forced;
} trace_cycle_t;

#define TRACE_LINE_MAX 256

/* Writes the line (with its newline) into buf; returns its length. */
size_t trace_format(char *buf, size_t cap, const trace_cycle_t *c);

/* Go's fmtNSAsMS: milliseconds with at most two significant digits below
 * 10 ms, truncated.  Returns the length written. */
size_t trace_format_ms(char *buf, size_t cap, uint64_t ns);

/* The trace_write* functions write one line with one write(2) to stderr,
 * or to the descriptor `fd` returns once trace_set_output() gave one
 * (PACEGC_TRACE: traceout.c). */
void trace_set_output(int (*fd)(void));

void trace_write(const trace_cycle_t *c);

/* What the sweep did with unreached allocations, for the modes where the
 * gc line alone does not tell:
 *   pacegc gc N reclaim off: X objects, Y MB unreachable; none freed
 *   pacegc gc N deferred frees: X objects, Y MB released; Z objects, W MB still referenced
 * Never "gc N ...": parsers of Go's trace take every such line for a
 * cycle's. */
typedef struct trace_reclaim {
  uint64_t n;
  bool dry_run;
  uint64_t objects, bytes;               /* unreachable (dry run) or released */
  uint64_t kept_objects, kept_bytes;     /* deferred: freed but still referenced */
} trace_reclaim_t;

size_t trace_format_reclaim(char *buf, size_t cap, const trace_reclaim_t *r);
void trace_write_reclaim(const trace_reclaim_t *r);

/* The scavenger's line (PACEGC_GODEBUG=scavtrace=1), Go's newer format:
 *   scav B KiB work (bg), E KiB work (eager), R KiB now, U% util[ (forced)]
 * B, E: bytes released since the last line by the background and the
 * allocation-time scavenger; R: bytes released and not reused; U: in-use
 * pages over in-use plus free ones, truncated. */
typedef struct trace_scav {
  uint64_t bg_bytes, eager_bytes, released_bytes;
  uint64_t inuse_bytes, free_bytes;
  bool forced;
} trace_scav_t;

size_t trace_format_scav(char *buf, size_t cap, const trace_scav_t *s);
void trace_write_scav(const trace_scav_t *s);

/* One line of pacegc's own about the collector, to the trace:
 *   pacegc: TEXT[ (DETAIL)]
 * cut at TRACE_LINE_MAX. */
void trace_write_note(const char *text, const char *detail);

#endif
