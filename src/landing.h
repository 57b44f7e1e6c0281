/*
 * Bytes a thread has just received from a pipe or a socket (transit.h).
 *
 * While bytes wait in a queue, each cycle reads them at every offset.
 * Once a receive takes them they sit in the program's buffer, where the
 * scan reads only aligned words, until the program copies the address
 * out; and the stop signal is delivered exactly at a blocking receive's
 * return, before the program's next instruction, so a thread parked
 * there holds an address nowhere but at some offset of that buffer.
 * Each thread therefore keeps a record of what it received last: the
 * receive wrappers (restart_io.c) write it, the park copies it into the
 * thread's slot together with what a receive it was parked in had just
 * got (from the system call's return register), and each cycle reads
 * those bytes at every offset, as it reads a queue.
 *
 * A stream reader may take a record in pieces: a stop between two
 * receives finds an address's first bytes at the end of the buffer and
 * its last still queued.  So the record names the descriptor its latest
 * bytes came from, and the cycle reads them followed by the first bytes
 * of that descriptor's queue (transit.c), as one stream.
 *
 * The record is the latest LANDING_KEEP bytes of the thread's latest run
 * of receives: a receive into the bytes right after the previous one's
 * (a stream read in pieces, a batch read until EAGAIN) extends the run,
 * any other starts a new one, and a receive that got nothing changes
 * nothing.  Receives on descriptors that cannot carry this process's
 * addresses (files, TCP connections to other processes) are not
 * recorded.  An address kept unaligned longer than that, or past the
 * first LANDING_SPANS buffers of a scattered receive, is the program's
 * own (README: hazards).
 *
 * The record lives in thread_ctl (threads.h): written by its thread, read
 * by the same thread's park handler, so program order is all it needs.
 */
#ifndef PACEGC_LANDING_H
#define PACEGC_LANDING_H

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <ucontext.h>

#include "util.h"

#define LANDING_SPANS 4                /* buffers of one receive recorded */
#define LANDING_KEEP ((size_t)64 << 10)

typedef struct landing_spans {
  span_t s[LANDING_SPANS];
  unsigned n;
  int fd;                              /* received from (when n > 0) */
} landing_spans_t;

typedef enum { LANDING_IDLE, LANDING_CALL, LANDING_GOT } landing_state_t;

typedef struct landing {
  /* The latest run is run[cur]; an update writes the other and flips. */
  landing_spans_t run[2];
  volatile sig_atomic_t cur;
  /* The receive in progress: its buffers; in LANDING_GOT also how many
   * bytes it received (in LANDING_CALL the return register says). */
  landing_spans_t call;
  bool call_msgs;                      /* one buffer per message (recvmmsg):
                                          the return value counts messages */
  volatile size_t got;
  volatile sig_atomic_t state;
} landing_t;

/* What a park saw: the run, then what the receive in progress got, in
 * the order they came.  fd's queue goes on where s[n - 1] ends, or, when
 * open < n, the receive in progress may have ended anywhere in s[open]
 * to s[n - 1] (the park could not tell how much it got). */
typedef struct landed {
  span_t s[2 * LANDING_SPANS];
  unsigned n;
  unsigned open;
  int fd;                              /* -1: no queue goes on from here */
} landed_t;

/* Before a receive from fd into the given buffers, on a descriptor that
 * may carry the process's addresses (transit_may_carry); landing_end
 * (landing_end_mmsg) must follow. */
void landing_begin(int fd, void *buf, size_t len);
void landing_begin_iov(int fd, const struct iovec *iov, size_t n);
void landing_begin_mmsg(int fd, const struct mmsghdr *v, unsigned n);

/* After it, with its result. */
void landing_end(ssize_t r);
void landing_end_mmsg(const struct mmsghdr *v, int r);

/* Async-signal-safe: the calling thread's record, as its park handler
 * sees it with the interrupted context uc (NULL: the thread is not inside
 * a receive, as the collecting thread is not). */
void landing_capture(landed_t *out, const ucontext_t *uc);

/* Another thread's record, read while that thread is inside a blocking
 * call (blocking.h), which is never a receive. */
void landing_copy(landed_t *out, const landing_t *l);

#endif
