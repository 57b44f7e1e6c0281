/*
 * Internal assertions (checks.h), built in with `meson setup -Dchecks=true` (tools/
 * test.sh runs the unit tests and the collector's adversarial programs
 * with them).  They state the rules of DESIGN.md where code could break
 * them, and cost nothing in a normal build.
 *
 *   CHECK_ASSERT(cond)    an invariant;
 *   CHECK_NOT_STOPPED()   rule 3: the thread that stopped the world is not
 *                         to call malloc, stdio, dlsym or take a lock a
 *                         parked thread may hold until it restarts it.
 *
 * A failed check writes one "pacegc: internal check failed" line with the
 * place and aborts: a broken invariant is a bug in pacegc, and going on
 * could lose the program's data.
 */
#ifndef PACEGC_CHECKS_H
#define PACEGC_CHECKS_H

#include <stdbool.h>

#ifdef PACEGC_CHECKS
__attribute__((noreturn, cold)) void check_fail(const char *file, int line, const char *what);
/* threads.c's; weak, for the unit tests that link parts without it. */
bool threads_world_stopped_by_me(void) __attribute__((weak));
#define CHECK_ASSERT(cond) \
  ((cond) ? (void)0 : check_fail(__FILE__, __LINE__, #cond))
#define CHECK_NOT_STOPPED() \
  (threads_world_stopped_by_me && threads_world_stopped_by_me() \
       ? check_fail(__FILE__, __LINE__, "called with the world stopped") : (void)0)
#else
#define CHECK_ASSERT(cond) ((void)0)
#define CHECK_NOT_STOPPED() ((void)0)
#endif

#endif
