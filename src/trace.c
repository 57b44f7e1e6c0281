/* gctrace lines: see trace.h. */
#include "trace.h"

#include "stderr.h"

#include <unistd.h>

typedef struct out { char *p; size_t n, cap; } out_t;

static void put_char(out_t *o, char c) {
  if (o->n + 1 < o->cap) o->p[o->n++] = c;
}

static void put_str(out_t *o, const char *s) {
  while (*s) put_char(o, *s++);
}

/* v in decimal, zero-padded to at least `width` digits. */
static void put_digits(out_t *o, uint64_t v, int width) {
  char tmp[24];
  int i = (int)sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v || (int)sizeof tmp - i < width);
  for (; i < (int)sizeof tmp; i++) put_char(o, tmp[i]);
}

static void put_u64(out_t *o, uint64_t v) { put_digits(o, v, 1); }

/* Go's itoaDiv: val printed with a decimal point dec (1..19) digits from
 * the right, padded with zeros ("0.099"). */
static void put_div(out_t *o, uint64_t val, int dec) {
  uint64_t unit = 1;
  for (int d = 0; d < dec; d++) unit *= 10;
  put_u64(o, val / unit);
  put_char(o, '.');
  put_digits(o, val % unit, dec);
}

static void put_ms(out_t *o, uint64_t ns) {
  if (ns >= 10000000) {
    put_u64(o, ns / 1000000);
    return;
  }
  uint64_t x = ns / 1000;
  if (x == 0) {
    put_char(o, '0');
    return;
  }
  int dec = 3;
  while (x >= 100) {
    x /= 10;
    dec--;
  }
  put_div(o, x, dec);
}

size_t trace_format_ms(char *buf, size_t cap, uint64_t ns) {
  out_t o = {buf, 0, cap};
  put_ms(&o, ns);
  if (cap) buf[o.n] = 0;
  return o.n;
}

static void put_mb(out_t *o, uint64_t bytes) { put_u64(o, bytes >> 20); }

size_t trace_format(char *buf, size_t cap, const trace_cycle_t *c) {
  out_t o = {buf, 0, cap};
  put_str(&o, "gc ");
  put_u64(&o, c->n);
  put_str(&o, " @");
  put_div(&o, c->since_start_ns / 1000000, 3);
  put_str(&o, "s ");
  put_u64(&o, c->cpu_percent);
  put_str(&o, "%: ");
  put_ms(&o, c->stw_ns);
  put_char(&o, '+');
  put_ms(&o, c->mark_ns);
  put_char(&o, '+');
  put_ms(&o, c->term_ns);
  put_str(&o, " ms clock, ");
  put_ms(&o, c->stw_cpu_ns);
  put_char(&o, '+');
  put_ms(&o, c->assist_cpu_ns);
  put_char(&o, '/');
  put_ms(&o, c->bg_cpu_ns);
  put_char(&o, '/');
  put_ms(&o, c->idle_cpu_ns);
  put_char(&o, '+');
  put_ms(&o, c->term_cpu_ns);
  put_str(&o, " ms cpu, ");
  put_mb(&o, c->heap_start);
  put_str(&o, "->");
  put_mb(&o, c->heap_end);
  put_str(&o, "->");
  put_mb(&o, c->heap_live);
  put_str(&o, " MB, ");
  put_mb(&o, c->goal);
  put_str(&o, " MB goal, ");
  put_mb(&o, c->stacks);
  put_str(&o, " MB stacks, ");
  put_mb(&o, c->globals);
  put_str(&o, " MB globals, ");
  put_u64(&o, (uint64_t)c->procs);
  put_str(&o, " P");
  if (c->forced) put_str(&o, " (forced)");
  put_char(&o, '\n');
  if (cap) buf[o.n] = 0;
  return o.n;
}

size_t trace_format_reclaim(char *buf, size_t cap, const trace_reclaim_t *r) {
  out_t o = {buf, 0, cap};
  put_str(&o, "pacegc gc ");
  put_u64(&o, r->n);
  put_str(&o, r->dry_run ? " reclaim off: " : " deferred frees: ");
  put_u64(&o, r->objects);
  put_str(&o, " objects, ");
  put_mb(&o, r->bytes);
  if (r->dry_run) {
    put_str(&o, " MB unreachable; none freed\n");
  } else {
    put_str(&o, " MB released; ");
    put_u64(&o, r->kept_objects);
    put_str(&o, " objects, ");
    put_mb(&o, r->kept_bytes);
    put_str(&o, " MB still referenced\n");
  }
  if (cap) buf[o.n] = 0;
  return o.n;
}

size_t trace_format_scav(char *buf, size_t cap, const trace_scav_t *s) {
  out_t o = {buf, 0, cap};
  uint64_t total = s->inuse_bytes + s->free_bytes;
  put_str(&o, "scav ");
  put_u64(&o, s->bg_bytes >> 10);
  put_str(&o, " KiB work (bg), ");
  put_u64(&o, s->eager_bytes >> 10);
  put_str(&o, " KiB work (eager), ");
  put_u64(&o, s->released_bytes >> 10);
  put_str(&o, " KiB now, ");
  put_u64(&o, total ? s->inuse_bytes * 100 / total : 0);
  put_str(&o, "% util");
  if (s->forced) put_str(&o, " (forced)");
  put_char(&o, '\n');
  if (cap) buf[o.n] = 0;
  return o.n;
}

static int (*_Atomic output_fd)(void);

void trace_set_output(int (*fd)(void)) { output_fd = fd; }

static void output(const char *line, size_t len) {
  int (*fd)(void) = output_fd;
  fd_write(fd ? fd() : STDERR_FILENO, line, len);
}

void trace_write(const trace_cycle_t *c) {
  char line[TRACE_LINE_MAX];
  output(line, trace_format(line, sizeof line, c));
}

void trace_write_reclaim(const trace_reclaim_t *r) {
  char line[TRACE_LINE_MAX];
  output(line, trace_format_reclaim(line, sizeof line, r));
}

void trace_write_scav(const trace_scav_t *s) {
  char line[TRACE_LINE_MAX];
  output(line, trace_format_scav(line, sizeof line, s));
}

void trace_write_note(const char *text, const char *detail) {
  char line[TRACE_LINE_MAX];
  out_t o = { line, 0, sizeof line - 1 };   /* room for the newline */
  put_str(&o, "pacegc: ");
  put_str(&o, text);
  if (detail && *detail) {
    put_str(&o, " (");
    put_str(&o, detail);
    put_char(&o, ')');
  }
  line[o.n++] = '\n';
  output(line, o.n);
}
