/*
 * Process start: the configuration is read and the heap set up before the
 * program's own constructors run.  Both also happen lazily on first use,
 * because ld.so and libc allocate before any constructor.
 */
#include "config.h"
#include "heap.h"

__attribute__((constructor(101))) static void pacegc_start(void) {
  config_load();
  heap_ensure_init();
}
