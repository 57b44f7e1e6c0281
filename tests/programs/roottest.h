/* Helpers for the programs that test the root set (merged.c, carvedstack.c,
 * forkpagemap.c, closefds.c, readonly.c, untouched.c): tables of pointers
 * to pattern-filled objects, /proc/self/maps and /proc/self/status read
 * without malloc.  Header-only, on top of testutil.h.
 *
 * rt_watchdog_start() guards the machine from the programs whose cost
 * today's collector makes unbounded.
 *
 * An object's size and pattern follow from its table and index alone
 * (rt_size, rt_seed), never from the object itself, so an object the
 * collector reclaimed (and zeroed) cannot pass its check by accident. */
#ifndef PACEGC_ROOTTEST_H
#define PACEGC_ROOTTEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static inline size_t rt_size(size_t i) { return 24 + (i * 37) % 500; }
static inline uint64_t rt_seed(uint64_t table, size_t i) { return table * 1000003u + i; }

/* Allocates n objects and stores the pointer to object i at slots[i *
 * stride] (stride in words): the table is the objects' only reference. */
static __attribute__((noinline, unused)) void rt_fill_table(void **slots, size_t stride,
						    size_t n, uint64_t table)
{
	for (size_t i = 0; i < n; i++) {
		size_t size = rt_size(i);
		void *p = malloc(size);
		CHECK(p != NULL, "malloc(%zu)", size);
		tu_fill(p, size, rt_seed(table, i));
		slots[i * stride] = p;
	}
}

/* Number of objects in the table whose bytes are not what was written;
 * *first is the index of the first such one (unchanged if none). */
static __attribute__((noinline, unused)) size_t rt_count_lost(void *const *slots, size_t stride,
						     size_t n, uint64_t table, size_t *first)
{
	size_t lost = 0;
	for (size_t i = 0; i < n; i++) {
		const void *p = slots[i * stride];
		size_t size = rt_size(i);
		if (tu_check(p, size, rt_seed(table, i)) != size) {
			if (lost == 0 && first)
				*first = i;
			lost++;
		}
	}
	return lost;
}

/* Checks every object of the table; if some are not intact, says so on
 * stderr (a FAIL line naming WHERE the only pointers were) and returns
 * how many. */
static inline size_t rt_check(void *const *slots, size_t stride, size_t n,
			      uint64_t table, const char *where)
{
	size_t first = 0;
	size_t lost = rt_count_lost(slots, stride, n, table, &first);
	if (lost) {
		const unsigned char *p = slots[first * stride];
		size_t size = rt_size(first);
		fprintf(stderr, "FAIL: %zu of %zu objects whose only pointers were "
			"in %s were reclaimed while reachable (first: object %zu "
			"at %p, %zu bytes, %s)\n", lost, n, where, first,
			(const void *)p, size,
			tu_all_zero(p, size) ? "zeroed" : "overwritten");
		fflush(stderr);
	}
	return lost;
}

/* rt_check, then exit 1 if an object was lost. */
static inline void rt_verify(void *const *slots, size_t stride, size_t n,
			     uint64_t table, const char *where)
{
	if (rt_check(slots, stride, n, table, where))
		_exit(1);
}

/* ---- /proc/self/maps, read without malloc ---- */

struct rt_map {
	uintptr_t lo, hi;
	char perms[5];
	unsigned long inode;
	char path[64]; /* "" for an unnamed anonymous mapping */
};

#define RT_MAPS_MAX 8192
static struct rt_map rt_maps[RT_MAPS_MAX];
static char rt_maps_buf[1 << 20];

static inline int rt_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static inline const char *rt_parse_hex(const char *s, uintptr_t *out)
{
	uintptr_t v = 0;
	int d;
	while ((d = rt_hexval(*s)) >= 0) {
		v = v * 16 + (uintptr_t)d;
		s++;
	}
	*out = v;
	return s;
}

/* Reads /proc/self/maps into rt_maps; returns the number of lines. */
static __attribute__((noinline, unused)) size_t rt_maps_read(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open /proc/self/maps: %s", strerror(errno));
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, rt_maps_buf + have, sizeof rt_maps_buf - 1 - have);
		CHECK(n >= 0, "read /proc/self/maps: %s", strerror(errno));
		if (n == 0)
			break;
		have += (size_t)n;
		CHECK(have < sizeof rt_maps_buf - 1, "/proc/self/maps is too long");
	}
	close(fd);
	rt_maps_buf[have] = 0;
	size_t count = 0;
	for (char *s = rt_maps_buf; *s && count < RT_MAPS_MAX;) {
		char *eol = strchr(s, '\n');
		if (eol)
			*eol = 0;
		struct rt_map *m = &rt_maps[count];
		const char *p = rt_parse_hex(s, &m->lo);
		p = rt_parse_hex(p + 1, &m->hi);
		memcpy(m->perms, p + 1, 4);
		m->perms[4] = 0;
		/* perms offset dev inode path */
		p += 6;
		for (int field = 0; field < 2; field++) {
			while (*p == ' ')
				p++;
			while (*p && *p != ' ')
				p++;
		}
		m->inode = strtoul(p, (char **)&p, 10);
		while (*p == ' ')
			p++;
		snprintf(m->path, sizeof m->path, "%s", p);
		count++;
		if (!eol)
			break;
		s = eol + 1;
	}
	return count;
}

/* The line of rt_maps (after rt_maps_read) that contains a, or NULL. */
static inline const struct rt_map *rt_maps_find(size_t count, uintptr_t a)
{
	for (size_t i = 0; i < count; i++)
		if (a >= rt_maps[i].lo && a < rt_maps[i].hi)
			return &rt_maps[i];
	return NULL;
}

static inline int rt_is_plain_anon_rw(const struct rt_map *m)
{
	return strcmp(m->perms, "rw-p") == 0 && m->inode == 0 && m->path[0] == 0;
}

/* A field of a /proc/PID/status file in kB ("VmPTE", "VmRSS"), or -1
 * (also when the file cannot be read). */
static inline long rt_status_file_kb(const char *path, const char *field)
{
	char buf[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	size_t len = strlen(field);
	for (char *s = buf; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : s)
		if (strncmp(s, field, len) == 0 && s[len] == ':')
			return strtol(s + len + 1, NULL, 10);
	return -1;
}

/* The same for this process; a field that cannot be read fails. */
static inline long rt_status_kb(const char *field)
{
	long kb = rt_status_file_kb("/proc/self/status", field);
	CHECK(kb >= 0, "no %s in /proc/self/status", field);
	return kb;
}

/* Monotonic milliseconds. */
static inline double rt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A watchdog for the programs that make today's collector fault in
 * untouched memory: on a kernel without the shared zero page for reads
 * (this project's VM: every page read allocates a page, about 13 s per
 * GiB) scanning an untouched reservation of many GiB would take minutes
 * and could exhaust the machine's memory.  A forked child (a separate
 * process: a stop-the-world does not stop it) reads the program's VmRSS
 * every 20 ms and SIGKILLs the program, with one line on stderr, when it
 * passes max_rss_mb or when max_s seconds have passed.  It dies with the
 * program (PR_SET_PDEATHSIG) and never allocates. */
static pid_t rt_watchdog_pid;

static inline void rt_watchdog_start(long max_rss_mb, int max_s)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid > 0) {
		rt_watchdog_pid = pid;
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	char path[64], msg[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)parent);
	double start = rt_now_ms();
	for (;;) {
		long rss = rt_status_file_kb(path, "VmRSS");
		if (rss < 0)
			_exit(0);
		double elapsed = rt_now_ms() - start;
		if (rss > max_rss_mb * 1024 || elapsed > max_s * 1e3) {
			int n = snprintf(msg, sizeof msg,
					 "FAIL watchdog: killed the program after %.1f s "
					 "with VmRSS %ld MB (bounds %ld MB, %d s): a cycle "
					 "faults in memory nobody touched\n", elapsed / 1e3,
					 rss / 1024, max_rss_mb, max_s);
			if (write(2, msg, (size_t)n) < 0)
				_exit(1);
			kill(parent, SIGKILL);
			_exit(0);
		}
		tu_sleep_ms(20);
	}
}

static inline void rt_watchdog_stop(void)
{
	if (rt_watchdog_pid > 0) {
		kill(rt_watchdog_pid, SIGKILL);
		waitpid(rt_watchdog_pid, NULL, 0);
		rt_watchdog_pid = 0;
	}
}

/* True when pacegc is preloaded (tu_gc_init has run). */
static inline int rt_preloaded(void) { return tu_collect_ptr != NULL; }

/* Verbose notes on stderr only when ROOTTEST_VERBOSE is set: they differ
 * between plain and preloaded runs, which tests/compare.sh compares. */
#define RT_NOTE(...)                                                   \
	do {                                                           \
		if (getenv("ROOTTEST_VERBOSE")) {                      \
			fprintf(stderr, "note: " __VA_ARGS__);         \
			fputc('\n', stderr);                           \
		}                                                      \
	} while (0)

#endif
