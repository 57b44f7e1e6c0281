/*
 * What the machine lets this process use: CPUs and memory, cgroup limits
 * applied.  For configuration defaults.
 *
 * Safe at any point in the life of the process, including inside its
 * first malloc call while ld.so is still starting it: no malloc, no stdio,
 * no locks, no environment; only open/read/close into stack buffers
 * (about 7 KiB of stack).  They may change errno.
 *
 * The parsers below are pure and exposed for tests.
 */
#ifndef PACEGC_SYSTEM_H
#define PACEGC_SYSTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYSTEM_NO_LIMIT UINT64_MAX

/* CPUs this process may use: the affinity mask, limited as Go 1.25 does by
 * the tightest cgroup CPU quota on the path to the root, as
 * min(affinity, max(2, ceil(quota / period))).  At least 1. */
int system_cpus(void);

/* Bytes this process may use: the tightest cgroup memory limit on the path
 * to the root if below physical memory, else physical memory; 0 if
 * neither is known. */
uint64_t system_memory(void);

/* A limit file: memory.max, memory.limit_in_bytes, cpu.cfs_quota_us,
 * cpu.cfs_period_us.  A decimal number, or "max" or "-1" for none
 * (SYSTEM_NO_LIMIT); surrounding blanks allowed. */
bool system_parse_limit(const char *text, uint64_t *limit);

/* cgroup v2 cpu.max: "max 100000", "50000 100000", or a quota alone (the
 * kernel's default period, 100000, then applies).  *quota is
 * SYSTEM_NO_LIMIT for "max".  The period must be positive. */
bool system_parse_cpu_max(const char *text, uint64_t *quota, uint64_t *period);

/* Threads a quota of quota/period CPUs allows: max(2, ceil(quota/period)),
 * as Go 1.25; SYSTEM_NO_LIMIT when there is no quota. */
uint64_t system_quota_cpus(uint64_t quota, uint64_t period);

/* One line of /proc/self/cgroup ("4:cpu,cpuacct:/a/b" or "0::/a/b"): the
 * path, if the line is the v1 hierarchy holding `controller`, or, with
 * controller NULL, the v2 unified line.  NULL otherwise. */
const char *system_cgroup_line(const char *line, const char *controller);

/* One line of /proc/self/mountinfo, split and unescaped in place: true if
 * it mounts the v2 hierarchy (controller NULL) or a v1 hierarchy holding
 * `controller`; *root and *mount then point into `line`. */
bool system_mountinfo_line(char *line, const char *controller, const char **root,
                           const char **mount);

/* The directory of cgroup `path` in a hierarchy whose `root` is mounted at
 * `mount`, into out[len], and the length of its mount part (where a walk
 * up the tree stops) into *base.  False if the cgroup is not visible under
 * that mount (another namespace's, or above its root) or does not fit. */
bool system_cgroup_dir(const char *mount, const char *root, const char *path, char *out,
                       size_t len, size_t *base);

#endif
