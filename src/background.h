/*
 * The background collector: one thread of pacegc's own that runs the
 * cycles the heap asks for, so that the thread that crossed the trigger
 * goes on with its allocation while the cycle marks beside it (Go's
 * gcStart hands marking to background workers the same way).
 *
 * It is a collector thread (threads.h): every signal blocked, never
 * stopped with the world, its stack bookkeeping memory.  It is started on
 * the first request, from the allocation slow path, and again after fork.
 * Where it cannot be started (a seccomp filter, no threads left) requests
 * fail and the requesting thread runs the cycle itself, as before.
 */
#ifndef PACEGC_BACKGROUND_H
#define PACEGC_BACKGROUND_H

#include "util.h"

/* Starts the thread if it is not running, with `run` as the work of a
 * request; false if it cannot run.  Caller holds gc.c's lock. */
bool background_start(void (*run)(void));

/* Asks the thread to call `run` once more, if it runs; lock-free.  False
 * if there is no thread.  A request made while one is pending or running
 * is merged with it. */
bool background_request(void);

/* Whether the calling thread is the background collector. */
bool background_is_me(void);

void background_after_fork_child(void);

#endif
