/* The process's mappings: see maps.h. */
#include "maps.h"

#include <string.h>

#include "meta.h"
#include "os.h"

#define MAPS_MIN_CAP 1024

static bool starts_with(const char *s, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(s, prefix, n) == 0;
}

/* "lo-hi perms offset dev inode   path" */
bool maps_parse_file(const char *s, size_t len, map_file_t *f) {
  size_t i = parse_hex(s, len, 0, &f->lo);
  if (i == 0 || i >= len || s[i] != '-') return false;
  i = parse_hex(s, len, i + 1, &f->hi);
  if (i == 0 || i + 5 > len || s[i] != ' ' || f->hi <= f->lo) return false;
  f->perms = s + i + 1;
  /* The offset, device and inode: three more fields. */
  i += 5;
  for (int field = 0; field < 3; field++) {
    while (i < len && s[i] == ' ') i++;
    if (field == 0) parse_hex(s, len, i, &f->offset);
    while (i < len && s[i] != ' ') i++;
  }
  while (i < len && s[i] == ' ') i++;
  f->path = s + i;
  f->path_len = len - i;
  return true;
}

bool maps_parse_line(const char *s, size_t len, map_entry_t *e) {
  map_file_t f;
  if (!maps_parse_file(s, len, &f)) return false;
  e->lo = f.lo;
  e->hi = f.hi;
  e->readable = f.perms[0] == 'r';
  e->writable = f.perms[1] == 'w';
  e->private_ = f.perms[3] == 'p';
  const char *path = f.path;
  size_t plen = f.path_len;
  bool bracket = plen > 0 && path[0] == '[';
  e->main_stack = starts_with(path, plen, "[stack]");
  e->special = bracket && !e->main_stack && !starts_with(path, plen, "[heap]") &&
               !starts_with(path, plen, "[anon:") && !starts_with(path, plen, "[anon_shmem:");
  /* A private mapping of /dev/zero is anonymous memory too. */
  e->anon = plen == 0 || (bracket && !e->special) || starts_with(path, plen, "/dev/zero");
  e->shared_mem = !e->private_ && e->writable &&
                  (e->anon || starts_with(path, plen, "/memfd:") ||
                   starts_with(path, plen, "/SYSV") || starts_with(path, plen, "/dev/shm/"));
  e->kernel_io = starts_with(path, plen, "anon_inode:[io_uring]") ? KERNEL_IO_URING
               : starts_with(path, plen, "/[aio]")               ? KERNEL_IO_AIO
                                                                 : KERNEL_IO_NONE;
  return true;
}

static bool maps_reserve(maps_t *m, size_t want) {
  if (want <= m->cap) return true;
  size_t cap = m->cap ? m->cap : MAPS_MIN_CAP;
  while (cap < want) cap *= 2;
  map_entry_t *e = meta_grow(m->e, m->cap * sizeof *e, m->n * sizeof *e, cap * sizeof *e,
                             "pacegc-maps");
  if (e == NULL) return false;
  m->e = e;
  m->cap = cap;
  return true;
}

static bool maps_add_line(void *arg, const char *line, size_t len) {
  maps_t *m = arg;
  map_entry_t e;
  if (!maps_parse_line(line, len, &e)) return true;
  if (m->n == m->cap && !maps_reserve(m, m->n + 1)) return false;
  m->e[m->n++] = e;
  return true;
}

/* Room for twice as many lines as last time first: growing the table
 * while the file is read would add a mapping under the reader. */
bool maps_read(maps_t *m) {
  int fd = os_proc_fd(OS_PROC_MAPS);
  if (fd < 0 || !maps_reserve(m, 2 * m->n)) return false;
  m->n = 0;
  return os_read_lines(fd, maps_add_line, m);
}

size_t maps_find(const maps_t *m, uintptr_t a) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a < m->e[mid].lo) hi = mid;
    else if (a >= m->e[mid].hi) lo = mid + 1;
    else return mid;
  }
  return SIZE_MAX;
}

uintptr_t maps_pick_window(const span_t *maps, size_t n, size_t bytes, uint64_t reach,
                           size_t align) {
  uintptr_t best = 0;
  uint64_t best_room = 0;
  for (size_t i = 0; i + 1 < n; i++) {
    if (maps[i + 1].lo < maps[i].hi || maps[i + 1].lo - maps[i].hi < 2 * reach) continue;
    uintptr_t lo = align_up(maps[i].hi + reach, align);
    uintptr_t hi = align_down(maps[i + 1].lo - reach, align);
    if (hi <= lo || hi - lo < bytes || hi - lo <= best_room) continue;
    best_room = hi - lo;
    best = align_down(hi - bytes, align);
  }
  return best;
}
