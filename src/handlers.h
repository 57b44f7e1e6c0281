/*
 * The program's signal handlers, counted.  A call the kernel cut short
 * with EINTR is resumed by restart.c only if pacegc's suspend signal
 * interrupted it and no handler of the program ran: both can arrive in
 * the same window, and a program waiting in ppoll or pselect for its own
 * signal must see its EINTR.  So sigaction and signal install a
 * trampoline that counts (thread_ctl.handled) and calls the program's
 * handler; asking for the current action gives back the program's.
 * Handlers installed by other means (a raw system call, sigset) are not
 * counted: an EINTR they share with a cycle is taken for the cycle's.
 */
#ifndef PACEGC_HANDLERS_H
#define PACEGC_HANDLERS_H

#include <signal.h>

int handlers_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t handlers_signal(int sig, sighandler_t handler);

#endif
