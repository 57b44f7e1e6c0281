/*
 * Thread stacks whose bounds pacegc knows.  pthread_create is wrapped: a
 * new thread records its stack block (pthread_getattr_np) and its thread
 * pointer before it runs the program's start routine.  The root set uses
 * the blocks to leave out exactly the unused part of a live stack (below
 * its stopped stack pointer, never past the block, whatever the kernel
 * merged the block's mapping with) and all but the thread descriptor of a
 * stack whose thread has exited (glibc keeps the block mapped until the
 * thread is joined, and caches it after).
 *
 * Invariant: the blocks in the table are pairwise disjoint.  A thread
 * that registers removes every block overlapping its own (a cached block
 * reused, or an old one unmapped and its addresses mapped again).
 * Writers hold a lock with every signal blocked, so the collector, which
 * reads the table with the world stopped, never sees it half-written.
 */
#ifndef PACEGC_STACKS_H
#define PACEGC_STACKS_H

#include <sys/types.h>
#include "util.h"

typedef struct stack_block {
  pid_t tid;             /* the thread it was recorded for */
  uintptr_t lo, hi;      /* the block: stack, static TLS and descriptor */
  uintptr_t tcb;         /* the thread pointer (pthread_self()) */
} stack_block_t;

/* With the world stopped: the table, n entries, in no order. */
stack_block_t *stacks_table(size_t *n);

/* With the world stopped: removes entry i (the table is compacted). */
void stacks_forget(size_t i);

/*
 * Whether the block of a thread that has exited still holds that thread's
 * descriptor at tcb (its mapping [lo, hi) unchanged: the caller checked),
 * so that everything below tcb is the dead thread's stack.  Where the
 * descriptor's layout is not known this returns false (the block is then
 * scanned whole, which costs retention, never correctness).
 */
bool stacks_is_dead_block(const stack_block_t *b);

/* pacegc's own threads: created without registering, so that pacegc's
 * pthread_create wrapper stays out of their way. */
int stacks_create_internal(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                           void *arg);

/* fork: the lock may have been held by a thread the child does not have. */
void stacks_after_fork_child(void);

#endif
