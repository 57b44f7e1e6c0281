/*
 * Process start: the configuration is read, the heap set up and the
 * collector armed before the program's own constructors run.  The heap
 * also sets itself up lazily on first use, because ld.so and libc
 * allocate before any constructor; until gc_init() no cycle can start.
 */
#include <pthread.h>

#include "blocking.h"
#include "config.h"
#include "gc.h"
#include "heap.h"
#include "os.h"
#include "restart.h"
#include "traceout.h"
#include "transit.h"

__attribute__((constructor(101))) static void pacegc_start(void) {
  const pacegc_config_t *c = config_load();
  os_init();
  traceout_init(&c->trace);
  transit_init();
  restart_init();
  restart_io_init();
  restart_ipc_init();
  condwrap_init();
  heap_ensure_init();
  heap_configure(c);
  /* Registered after jemalloc's own handlers, so ours run first in the
   * parent: a cycle in progress (which frees into jemalloc) finishes
   * before jemalloc's locks are taken for the fork. */
  pthread_atfork(gc_before_fork, gc_after_fork_parent, gc_after_fork_child);
  gc_init();
}
