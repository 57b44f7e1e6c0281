/*
 * The process's configuration: PACEGC_* read once from the real
 * environment, with this machine's CPUs and memory for the defaults, and
 * messages written to stderr.
 *
 * config_load() may be called from anywhere: inside the first malloc call
 * of the process (while ld.so is still starting it), from several threads
 * at once, or from a signal handler that interrupted a load.  So it takes
 * no lock, never waits for another thread, and uses no malloc or stdio.
 *
 * Invariant: only the thread that moves `state` from UNLOADED to LOADING
 * writes `loaded`, and it publishes it by storing LOADED with release
 * order; readers look at `loaded` only after seeing LOADED with acquire
 * order.  `state` never goes back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "stderr.h"
#include "system.h"

extern char **environ;

enum { UNLOADED, LOADING, LOADED };

static pacegc_config_t loaded;
static _Atomic int state = UNLOADED;
static _Atomic bool libc_started;

/* getenv without libc's: no lock, and usable before libc's initializers. */
static const char *env_lookup(const char *name) {
  size_t n = strlen(name);
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

/* One write per line, so lines from concurrent processes sharing stderr
 * do not interleave. */
static void stderr_line(void *arg, const char *line) {
  (void)arg;
  char buf[CONFIG_LINE_MAX + 1];
  size_t n = strnlen(line, CONFIG_LINE_MAX);
  memcpy(buf, line, n);
  buf[n++] = '\n';
  stderr_write(buf, n);
}

/* Inside ld.so's first malloc calls libc has not yet set environ, though
 * the process has an environment: it cannot be read yet.  Once libc has
 * started (our constructor runs after libc's), NULL means empty
 * (clearenv). */
static bool environment_readable(void) {
  return environ != NULL || atomic_load_explicit(&libc_started, memory_order_relaxed);
}

static void load(void) {
  int saved_errno = errno, cancel;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);  /* the reads are cancellation points */
  config_machine_t m = { .cpus = system_cpus(), .memory = system_memory() };
  config_parse(&loaded, env_lookup, &m, stderr_line, NULL);
  pthread_setcancelstate(cancel, NULL);
  errno = saved_errno;  /* malloc must not change errno when it succeeds */
}

const pacegc_config_t *config_load(void) {
  if (atomic_load_explicit(&state, memory_order_acquire) == LOADED) return &loaded;
  int expected = UNLOADED;
  if (!environment_readable() ||
      !atomic_compare_exchange_strong_explicit(&state, &expected, LOADING,
                                               memory_order_acquire, memory_order_acquire))
    return config_get();  /* too early, or being loaded: defaults for now */
  load();
  atomic_store_explicit(&state, LOADED, memory_order_release);
  return &loaded;
}

const pacegc_config_t *config_get(void) {
  return atomic_load_explicit(&state, memory_order_acquire) == LOADED ? &loaded : &config_default;
}

/* libc's initializers have run by now (it is initialized before the
 * libraries that need it).  Loading at startup is init.c's business. */
__attribute__((constructor(101))) static void env_mark_libc_started(void) {
  atomic_store_explicit(&libc_started, true, memory_order_relaxed);
}
