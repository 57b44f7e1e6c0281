/*
 * Messages to the user: one line starting "pacegc: " on stderr, written
 * with write(2), optionally followed by the caller's stack.  Used for bad
 * input and odd program behaviour (invalid frees); never for normal runs,
 * since pacegc must not change what a program prints.
 */
#ifndef PACEGC_REPORT_H
#define PACEGC_REPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include "util.h"

/* One line.  Safe anywhere malloc is safe; never allocates. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line plus the call stack below pacegc's own frames.  After
 * REPORT_STACK_LIMIT such reports, further ones are counted, not printed. */
void report_with_stack(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether one more report with call stacks may be printed: true for the
 * first REPORT_STACK_LIMIT of the process (report_with_stack's and
 * dangling=1's together); the first refusal prints one line saying so. */
bool report_stack_allowed(void);

/* The caller's stack below pacegc's own frames, at most `max` frames;
 * unused entries are NULL.  Returns the number captured.  Walked on a
 * stack of pacegc's (a small thread stack has no room for libunwind),
 * one thread at a time. */
int report_backtrace(void **ips, int max);

/* fork: a thread that was walking its stack is not in the child. */
void report_after_fork_child(void);

/* A heading line (indented) and the given frames, for stacks recorded
 * earlier; NULL frames end the list. */
void report_frames(const char *heading, void *const *ips, int n);

#define REPORT_STACK_LIMIT 100

#endif
