/*
 * Configuration: the PACEGC_* environment variables, read once.
 *
 * Parsing is pure (no globals, no I/O) so it is unit-tested directly:
 * config_parse() takes a lookup function for the environment, a
 * description of the machine (for percentages and CPU defaults), and a sink
 * for the one-line messages that bad values produce.  config_load() is the
 * process-level wrapper: real environment, real machine, stderr.
 */
#ifndef PACEGC_CONFIG_H
#define PACEGC_CONFIG_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define CONFIG_GOGC_OFF      (-1)
#define CONFIG_MEMLIMIT_OFF  INT64_MAX
#define CONFIG_MAXPROCS_MAX  1024   /* larger PACEGC_GOMAXPROCS is capped */
#define CONFIG_LINE_MAX      512    /* longest message line, without newline */

typedef enum { FREE_HONOR, FREE_DEFER, FREE_IGNORE } free_mode_t;

/* Where gctrace and scavtrace lines go (PACEGC_TRACE): stderr, a
 * descriptor the program inherited ("fd:N"), or a file, appended to. */
typedef enum { TRACE_STDERR, TRACE_FD, TRACE_FILE } trace_dest_t;
#define CONFIG_PATH_MAX 512

typedef struct config_trace {
  trace_dest_t dest;
  int fd;                       /* TRACE_FD */
  char path[CONFIG_PATH_MAX];   /* TRACE_FILE: NUL-terminated */
} config_trace_t;

typedef struct pacegc_config {
  int gogc;               /* percent the heap may grow over live; CONFIG_GOGC_OFF */
  int64_t memlimit;       /* soft limit in bytes; CONFIG_MEMLIMIT_OFF */
  int maxprocs;           /* collector threads, >= 1 */
  /* PACEGC_GODEBUG keys */
  int gctrace;            /* gctrace=N: print a line per cycle when > 0 */
  long gcstress;          /* gcstress=N: a cycle every N allocations; 0 = off */
  int scavtrace;          /* scavtrace=1 */
  int pacer_go117;        /* pacer=go117 selects the pre-1.18 pacer */
  int dangling;           /* dangling=1: with PACEGC_FREE=defer, report freed
                             objects still referenced, with call stacks */
  int reclaim_delay_ms;   /* reclaimdelay=MS: two cycles at least MS apart
                             (default 0) must both find a leak unreachable;
                             0 reclaims it at the first cycle that does */
  int stop_signal;        /* stopsignal=N: the real-time signal that stops
                             threads; 0 (auto) picks SIGRTMAX-2 */
  int ptrace;             /* ptrace=0: never stop a thread with ptrace */
  int stop_blocked;       /* stopblocked=1: signal threads inside blocking
                             calls too (blocking.h) */
  int concurrent;         /* concurrent=1: mark beside the program where
                             write tracking can be had and the heap is big
                             enough to pay for it; 0 (default): always with
                             the world stopped; 2: always beside it */
  free_mode_t free_mode;  /* PACEGC_FREE */
  bool reclaim;           /* PACEGC_RECLAIM=on|off */
  config_trace_t trace;   /* PACEGC_TRACE */
  char metrics_path[CONFIG_PATH_MAX];   /* PACEGC_METRICS: "" none */
  char profile_path[CONFIG_PATH_MAX];   /* PACEGC_PROFILE: "" none */
  long memprofile_rate;   /* PACEGC_MEMPROFILERATE: bytes between samples
                             on average (Go's 512 KiB); 0 samples nothing */
  int profile_interval_ms;   /* PACEGC_PROFILE_INTERVAL: the profile is
                                rewritten this often; 0 only at exit */
} pacegc_config_t;

/* What the process may use, for defaults and percentages. */
typedef struct config_machine {
  int cpus;               /* CPUs the process may use (affinity and quota) */
  uint64_t memory;        /* bytes the process may use (cgroup or physical); 0 = unknown */
} config_machine_t;

/* The defaults that do not depend on the machine; maxprocs is 1 here. */
extern const pacegc_config_t config_default;

typedef const char *(*config_getenv_fn)(const char *name);
typedef void (*config_message_fn)(void *arg, const char *line);

/* Defaults for a machine: config_default with maxprocs = m->cpus (1..1024). */
void config_defaults(pacegc_config_t *c, const config_machine_t *m);

/*
 * Fills *c: the defaults for `m`, then every PACEGC_* variable read through
 * `getenv_fn` (NULL or blank = unset).  Each bad value sends exactly one
 * line (at most CONFIG_LINE_MAX bytes, no newline) to `message` (may be
 * NULL), naming the variable, the value and what is used instead; the
 * default is kept.  PACEGC_GODEBUG sends one line per bad item (at most 8,
 * then one line counting the rest).  An accepted but suspicious
 * PACEGC_GOMEMLIMIT sends one warning line.  Returns the number of lines.
 */
int config_parse(pacegc_config_t *c, config_getenv_fn getenv_fn,
                 const config_machine_t *m, config_message_fn message, void *arg);

/* Individual parsers, exposed for tests.  Each takes the value as found in
 * the environment (surrounding blanks allowed) and returns true on success;
 * otherwise it writes a short reason into `why` and leaves *out alone,
 * unless it has a better substitute (GOMAXPROCS above the cap: the cap).
 * config_parse_memlimit accepts a tiny byte count as Go does, but sets
 * *suspicious and writes the warning into `why`. */
bool config_parse_gogc(const char *s, int *out, char *why, size_t whylen);
bool config_parse_trace(const char *s, config_trace_t *out, char *why, size_t whylen);
bool config_parse_memlimit(const char *s, uint64_t machine_memory, int64_t *out,
                           bool *suspicious, char *why, size_t whylen);
bool config_parse_maxprocs(const char *s, int *out, char *why, size_t whylen);

/* Process-level: the real environment and machine, messages on stderr.
 * Idempotent; the first call that can read the environment decides.  Safe
 * inside the first malloc call, in any thread, and reentrantly: too early
 * (environ not set up yet) or while another call is loading, it returns
 * the defaults without waiting, and a later call loads. */
const pacegc_config_t *config_load(void);

/* The loaded configuration (defaults if config_load has not run yet). */
const pacegc_config_t *config_get(void);

#endif
