/*
 * Pointers in transit (DESIGN.md rule 1): bytes a thread has written into
 * a pipe or a socket and another thread of this process has not read yet.
 * While they wait in the kernel's queue no scan of memory sees them, so
 * each cycle reads them, without consuming anything, and scans them as
 * roots:
 *   - pipes this process can read: copied with tee(2) into a private pipe
 *     and read from there;
 *   - AF_UNIX sockets (stream, datagram, seqpacket, socketpair included):
 *     peeked (MSG_PEEK), datagram after datagram with SO_PEEK_OFF, which is
 *     restored afterwards;
 *   - TCP sockets whose peer is a socket of this process (a loopback
 *     connection to itself): peeked the same way.
 * The bytes are a stream, so a pointer may sit at any offset: every byte
 * offset is read as a word, and the words that fall in the heap's window
 * become a root range of their own.
 *
 * The descriptors are learnt from the calls that make them (pipe, pipe2,
 * socketpair, socket, accept, accept4, dup, dup2, dup3) and, at start-up,
 * from /proc/self/fd (descriptors inherited across exec).  A descriptor
 * pacegc missed (a FIFO opened by name, one received over a socket) is
 * not read; one it thinks open after a close it did not see is harmless:
 * reading a queue is only ever conservative.
 *
 * A queue that cannot be read whole (more than the budget per cycle, a
 * private pipe that cannot be made big enough, a socket whose datagrams
 * cannot be walked) makes the cycle reclaim nothing rather than guess.
 */
#ifndef PACEGC_TRANSIT_H
#define PACEGC_TRANSIT_H

#include "roots.h"
#include "threads.h"

/* Bytes read from queues per cycle; past it the cycle reclaims nothing. */
#define TRANSIT_BUDGET ((size_t)64 << 20)

typedef enum {
  TRANSIT_NONE,
  TRANSIT_PIPE,      /* a pipe or FIFO open for reading */
  TRANSIT_UNIX,      /* an AF_UNIX socket */
  TRANSIT_TCP,       /* an AF_INET or AF_INET6 stream socket */
} transit_kind_t;

/* Descriptors inherited at start-up; before the program runs. */
void transit_init(void);

/* After a call made fd (r >= 0): what it is.  transit_note_socket takes
 * socket(2)'s domain and type; transit_note_like gives fd what `from`
 * is (dup, accept), or classifies it if pacegc does not know `from`. */
void transit_note(int fd, transit_kind_t kind);
void transit_note_socket(int fd, int domain, int type);
void transit_note_like(int fd, int from);

/* After fd was closed, or every descriptor in [lo, hi]. */
void transit_close(int fd);
void transit_close_range(unsigned lo, unsigned hi);

/* Whether what is received on fd may hold this process's addresses: a
 * pipe or socket known here, but no TCP connection to another process.
 * For the receive wrappers (landing.h): cheap, lock-free. */
bool transit_may_carry(int fd);

/* With the world stopped: adds to the roots the words that may hold a
 * heap address of every queue, and of the bytes the stopped threads (w)
 * and the calling one received last (landing.h) where m says they are
 * readable.  False if some queue could not be read whole: then this
 * cycle must not reclaim. */
bool transit_add_roots(roots_t *r, const world_t *w, const maps_t *m);

#endif
