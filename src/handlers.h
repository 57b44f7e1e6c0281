/*
 * The program's signal handlers.
 *
 * Counted: a call the kernel cut short with EINTR is resumed by
 * restart.c only if pacegc's suspend signal interrupted it and no handler
 * of the program ran; both can arrive in the same window, and a program
 * waiting in ppoll or pselect for its own signal must see its EINTR.  So
 * sigaction and signal install a trampoline that counts
 * (thread_ctl.handled) and calls the program's handler; asking for the
 * current action gives back the program's.  Handlers installed by other
 * means (a raw system call) are not counted: an EINTR they share with a
 * cycle is taken for the cycle's.  The kernel never blocks the stop
 * signal while one of them runs: it is taken out of their sa_mask.
 *
 * The stop signal is the program's too (DESIGN.md rule 7).  Its action as
 * the program sets it is kept here, never given to the kernel; each
 * instance pacegc did not send is handed to it by handlers_foreign() with
 * the program's flags and mask, or ignored, or ends the process as the
 * default action would.  Where the program blocks the signal, or is
 * inside its own handler for it without SA_NODEFER, its instances wait
 * (thread_ctl.held, or for the process) and are sent again when it
 * unblocks.
 */
#ifndef PACEGC_HANDLERS_H
#define PACEGC_HANDLERS_H

#include <signal.h>
#include <stdbool.h>

int handlers_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t handlers_signal(int sig, sighandler_t handler);

/* At start-up: the action the process started with on the stop signal
 * (SIG_DFL, or SIG_IGN inherited through exec) becomes the program's. */
void handlers_adopt(int sig, const struct sigaction *initial);

/* From the suspend handler: an instance of the stop signal that pacegc
 * did not send.  Async-signal-safe. */
void handlers_foreign(int sig, siginfo_t *info, void *uc);

/*
 * The program changes its view of the stop signal's mask on this thread:
 * `blocked` says whether the program now has it blocked.  When it becomes
 * unblocked, the instances that waited are sent again.
 */
void handlers_set_blocked(bool blocked);

/* Around a wait for signals whose set holds the stop signal: instances
 * sent to the process are passed on to this thread. */
void handlers_wait_begin(void);
void handlers_wait_end(void);
/* For such a wait: takes the oldest instance waiting for this thread, or
 * else for the process, if there is one. */
bool handlers_take_held(siginfo_t *info);
/* Whether an instance waits for this thread or for the process. */
bool handlers_have_held(void);
/* fork: in the child, which has one thread and no pending signal. */
void handlers_after_fork_child(void);

#endif
