/*
 * Machine probing: CPUs and memory the process may use.
 *
 * May run inside the process's first malloc call, so it uses only
 * open/read/close into stack buffers.  cgroup files are found the way the
 * Go runtime finds them: this process's cgroup path from /proc/self/cgroup,
 * the hierarchy's mount from /proc/self/mountinfo (in a container the
 * mount's root is often the container's own cgroup).  Unlike Go 1.25, which
 * reads only the leaf, every level up to the mount is read and the
 * tightest limit wins: a parent's limit binds its children too (Go issue
 * #81180).  Hybrid systems put a controller on v1 while the v2 hierarchy
 * exists without it, so v1 is looked at first.
 */
#include "system.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048  /* longer lines are skipped: never a cgroup line */
#define PATH_MAX_BYTES 2048
#define DEFAULT_PERIOD 100000
#define AFFINITY_CPUS 4096

/* ---- Pure parsers ---- */

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n'; }
static const char *skip_blanks(const char *s) { while (is_blank(*s)) s++; return s; }

/* Decimal digits at s, saturating; NULL if there are none. */
static const char *scan_u64(const char *s, uint64_t *v) {
  const char *start = s;
  for (*v = 0; *s >= '0' && *s <= '9'; s++) {
    unsigned d = (unsigned)(*s - '0');
    *v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
  }
  return s == start ? NULL : s;
}

/* A word at s followed by a blank or the end; returns what follows it. */
static const char *scan_word(const char *s, const char *word) {
  size_t n = strlen(word);
  return strncmp(s, word, n) == 0 && (s[n] == 0 || is_blank(s[n])) ? s + n : NULL;
}

/* A limit at s: a number, or "max"/"-1" for none.  NULL if neither. */
static const char *scan_limit(const char *s, uint64_t *v) {
  const char *end = scan_word(s, "max");
  if (!end) end = scan_word(s, "-1");
  if (end) {
    *v = SYSTEM_NO_LIMIT;
    return end;
  }
  end = scan_u64(s, v);
  return end && (*end == 0 || is_blank(*end)) ? end : NULL;
}

bool system_parse_limit(const char *text, uint64_t *limit) {
  const char *end = scan_limit(skip_blanks(text), limit);
  return end && *skip_blanks(end) == 0;
}

bool system_parse_cpu_max(const char *text, uint64_t *quota, uint64_t *period) {
  const char *s = scan_limit(skip_blanks(text), quota);
  if (!s) return false;
  s = skip_blanks(s);
  *period = DEFAULT_PERIOD;
  if (*s != 0 && !(s = scan_u64(s, period))) return false;
  return *skip_blanks(s) == 0 && *period > 0;
}

uint64_t system_quota_cpus(uint64_t quota, uint64_t period) {
  if (quota == SYSTEM_NO_LIMIT || period == 0) return SYSTEM_NO_LIMIT;
  uint64_t cpus = quota / period + (quota % period != 0);
  return cpus < 2 ? 2 : cpus;
}

/* Whether the `sep`-separated list s[0..n) has the item `item`. */
static bool list_has(const char *s, size_t n, const char *item, char sep) {
  size_t len = strlen(item);
  for (const char *end = s + n; s < end;) {
    const char *next = memchr(s, sep, (size_t)(end - s));
    size_t k = next ? (size_t)(next - s) : (size_t)(end - s);
    if (k == len && memcmp(s, item, len) == 0) return true;
    s += k + 1;
  }
  return false;
}

const char *system_cgroup_line(const char *line, const char *controller) {
  const char *c1 = strchr(line, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2) return NULL;
  bool match = controller ? list_has(c1 + 1, (size_t)(c2 - c1 - 1), controller, ',')
                          : c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
  return match ? c2 + 1 : NULL;
}

/* The next space-separated field of a mountinfo line, cut in place. */
static char *next_field(char **cursor) {
  char *s = *cursor;
  if (!s) return NULL;
  char *space = strchr(s, ' ');
  *cursor = space ? space + 1 : NULL;
  if (space) *space = 0;
  return s;
}

/* mountinfo escapes blanks and backslashes in paths as octal "\040". */
static void unescape(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
        s[3] >= '0' && s[3] <= '7') {
      *out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
      s += 3;
    } else {
      *out++ = *s;
    }
  }
  *out = 0;
}

/* "36 35 98:0 ROOT MOUNT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS" */
bool system_mountinfo_line(char *line, const char *controller, const char **root,
                           const char **mount) {
  char *cursor = line, *field[5], *sep;
  for (int i = 0; i < 5; i++)
    if (!(field[i] = next_field(&cursor))) return false;
  while ((sep = next_field(&cursor)) && strcmp(sep, "-") != 0) {}
  char *fstype = next_field(&cursor), *source = next_field(&cursor);
  char *super = next_field(&cursor);
  if (!fstype || !source || !super) return false;
  bool match = controller ? strcmp(fstype, "cgroup") == 0 &&
                                list_has(super, strlen(super), controller, ',')
                          : strcmp(fstype, "cgroup2") == 0;
  if (!match) return false;
  unescape(field[3]);
  unescape(field[4]);
  *root = field[3];
  *mount = field[4];
  return true;
}

static size_t strip_slashes(const char *s, size_t n) {
  while (n > 0 && s[n - 1] == '/') n--;
  return n;
}

/* A path naming ".." could climb out of the mount (cgroup namespaces show
 * cgroups outside them as "/../.."): never follow one. */
static bool has_dotdot(const char *path) {
  for (const char *p = strstr(path, "/.."); p; p = strstr(p + 1, "/.."))
    if (p[3] == '/' || p[3] == 0) return true;
  return false;
}

bool system_cgroup_dir(const char *mount, const char *root, const char *path, char *out,
                       size_t len, size_t *base) {
  size_t rn = strip_slashes(root, strlen(root));
  if (path[0] != '/' || has_dotdot(path) || strncmp(path, root, rn) != 0 ||
      (path[rn] != '/' && path[rn] != 0))
    return false;
  const char *rel = path + rn;  /* "" or "/..." */
  size_t mn = strip_slashes(mount, strlen(mount)), reln = strip_slashes(rel, strlen(rel));
  if (mn + reln + 1 > len) return false;
  memcpy(out, mount, mn);
  memcpy(out + mn, rel, reln);
  out[mn + reln] = 0;
  *base = mn;
  return true;
}

/* ---- Reading files without malloc ---- */

static ssize_t read_retry(int fd, char *buf, size_t n) {
  ssize_t got;
  do got = read(fd, buf, n); while (got < 0 && errno == EINTR);
  return got;
}

/* A small file into buf, NUL-terminated; false if unreadable or empty. */
static bool read_small(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t have = 0;
  for (ssize_t got = 1; got > 0 && have + 1 < len; have += (size_t)got)
    if ((got = read_retry(fd, buf + have, len - 1 - have)) < 0) got = 0;
  close(fd);
  buf[have] = 0;
  return have > 0;
}

/* A line-by-line reader over a fixed buffer.  Invariant: buf[pos..len)
 * holds unread bytes; while `skipping`, the rest of an overlong line is
 * being dropped. */
typedef struct lines {
  int fd;
  size_t pos, len;
  bool skipping, eof;
  char buf[LINE_MAX_BYTES];
} lines_t;

static void lines_open(lines_t *r, const char *path) {
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  r->pos = r->len = 0;
  r->skipping = false;
  r->eof = r->fd < 0;
}

static void lines_close(lines_t *r) {
  if (r->fd >= 0) close(r->fd);
}

/* The next line without its newline, or NULL at the end. */
static char *lines_next(lines_t *r) {
  for (;;) {
    char *start = r->buf + r->pos, *nl = memchr(start, '\n', r->len - r->pos);
    if (nl || (r->eof && r->pos < r->len)) {
      char *end = nl ? nl : r->buf + r->len;  /* an unterminated last line */
      *end = 0;
      r->pos = (size_t)(end - r->buf) + (nl != NULL);
      if (nl && r->skipping) { r->skipping = false; continue; }
      if (!r->skipping) return start;
      continue;
    }
    if (r->eof) return NULL;
    memmove(r->buf, start, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    if (r->len == sizeof r->buf - 1) {  /* full without a newline: too long */
      r->skipping = true;
      r->len = 0;
    }
    ssize_t got = read_retry(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
    if (got <= 0) r->eof = true;
    else r->len += (size_t)got;
  }
}

/* ---- cgroups ---- */

/* This process's cgroup path for a v1 controller, or the v2 one (NULL). */
static bool own_cgroup(const char *controller, char *out, size_t len) {
  lines_t r;
  bool found = false;
  lines_open(&r, "/proc/self/cgroup");
  for (char *line; !found && (line = lines_next(&r));) {
    const char *path = system_cgroup_line(line, controller);
    size_t n = path ? strlen(path) : 0;
    if (path && n < len) {
      memcpy(out, path, n + 1);
      found = true;
    }
  }
  lines_close(&r);
  return found;
}

/* The directory of this process's cgroup into dir; its mount part's length
 * into *base.  False if the hierarchy is absent or not visible. */
static bool find_cgroup(const char *controller, char *dir, size_t len, size_t *base) {
  char path[PATH_MAX_BYTES];
  if (!own_cgroup(controller, path, sizeof path)) return false;
  lines_t r;
  bool found = false;
  lines_open(&r, "/proc/self/mountinfo");
  for (char *line; !found && (line = lines_next(&r));) {
    const char *root, *mount;
    found = system_mountinfo_line(line, controller, &root, &mount) &&
            system_cgroup_dir(mount, root, path, dir, len, base);
  }
  lines_close(&r);
  return found;
}

/* A limit file in dir[0..n); dir's capacity is `cap`.  False if absent. */
static bool read_limit(char *dir, size_t n, size_t cap, const char *name, char *buf, size_t len) {
  size_t k = strlen(name);
  if (n + 1 + k + 1 > cap) return false;
  dir[n] = '/';
  memcpy(dir + n + 1, name, k + 1);
  bool ok = read_small(dir, buf, len);
  dir[n] = 0;
  return ok;
}

/* One level's limit, SYSTEM_NO_LIMIT if none. */
typedef uint64_t (*level_fn)(char *dir, size_t n, size_t cap);

static uint64_t cpu_v2(char *dir, size_t n, size_t cap) {
  char text[64];
  uint64_t quota, period;
  if (!read_limit(dir, n, cap, "cpu.max", text, sizeof text) ||
      !system_parse_cpu_max(text, &quota, &period))
    return SYSTEM_NO_LIMIT;
  return system_quota_cpus(quota, period);
}

static uint64_t cpu_v1(char *dir, size_t n, size_t cap) {
  char text[64];
  uint64_t quota, period;
  if (!read_limit(dir, n, cap, "cpu.cfs_quota_us", text, sizeof text) ||
      !system_parse_limit(text, &quota) ||
      !read_limit(dir, n, cap, "cpu.cfs_period_us", text, sizeof text) ||
      !system_parse_limit(text, &period))
    return SYSTEM_NO_LIMIT;
  return system_quota_cpus(quota, period);
}

static uint64_t memory_level(char *dir, size_t n, size_t cap, const char *name) {
  char text[64];
  uint64_t limit;
  if (!read_limit(dir, n, cap, name, text, sizeof text) || !system_parse_limit(text, &limit))
    return SYSTEM_NO_LIMIT;
  return limit;
}

static uint64_t memory_v2(char *dir, size_t n, size_t cap) {
  return memory_level(dir, n, cap, "memory.max");
}

static uint64_t memory_v1(char *dir, size_t n, size_t cap) {
  return memory_level(dir, n, cap, "memory.limit_in_bytes");
}

/* The tightest limit from dir up to its mount (dir[0..base)). */
static uint64_t walk_up(char *dir, size_t base, size_t cap, level_fn level) {
  uint64_t tightest = SYSTEM_NO_LIMIT;
  for (size_t n = strlen(dir);;) {
    uint64_t limit = level(dir, n, cap);
    if (limit < tightest) tightest = limit;
    if (n <= base) return tightest;
    while (n > base && dir[n - 1] != '/') n--;
    if (n > base) n--;  /* the '/' before the last component */
    dir[n] = 0;
  }
}

static uint64_t cgroup_limit(const char *controller, level_fn v1, level_fn v2) {
  char dir[PATH_MAX_BYTES];
  size_t base;
  if (find_cgroup(controller, dir, sizeof dir, &base)) return walk_up(dir, base, sizeof dir, v1);
  if (find_cgroup(NULL, dir, sizeof dir, &base)) return walk_up(dir, base, sizeof dir, v2);
  return SYSTEM_NO_LIMIT;
}

/* ---- The machine ---- */

static int affinity_cpus(void) {
  cpu_set_t set[AFFINITY_CPUS / CPU_SETSIZE];  /* beyond 1024 CPUs, too */
  if (sched_getaffinity(0, sizeof set, set) == 0) {
    int n = CPU_COUNT_S(sizeof set, set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int system_cpus(void) {
  int cpus = affinity_cpus();
  uint64_t quota = cgroup_limit("cpu", cpu_v1, cpu_v2);
  return quota < (uint64_t)cpus ? (int)quota : cpus;
}

uint64_t system_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  uint64_t physical = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : SYSTEM_NO_LIMIT;
  uint64_t limit = cgroup_limit("memory", memory_v1, memory_v2);
  uint64_t memory = limit < physical ? limit : physical;
  return memory == SYSTEM_NO_LIMIT ? 0 : memory;
}
