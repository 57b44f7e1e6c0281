/*
 * PACEGC_* parsing, driven by one table of options.
 *
 * Pure by design: no globals but const tables, no I/O, no getenv, no
 * malloc, no locale, no floating point.  config_parse() may run inside the
 * process's first malloc call, and tests feed it a fake environment.  All
 * text is built in fixed stack buffers through sbuf_t, which truncates
 * rather than overflows, and user input is only ever shown through
 * put_escaped(), which bounds and escapes it.
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#define QUOTE_MAX 64        /* bytes of a value shown in a message */
#define WHY_MAX 256         /* longest reason */
#define LIST_REPORTS_MAX 8  /* bad GODEBUG items reported one by one */
#define MiB ((uint64_t)1 << 20)

_Static_assert(sizeof(bool) == 1 && sizeof(int) == 4 && sizeof(long) == 8 &&
               sizeof(int64_t) == 8 && sizeof(free_mode_t) == sizeof(int),
               "field_get/field_set know fields of 1, 4 and 8 bytes");

const pacegc_config_t config_default = {
  .gogc = 100,
  .memlimit = CONFIG_MEMLIMIT_OFF,
  .maxprocs = 1,
  .free_mode = FREE_HONOR,
  .reclaim = true,
  .reclaim_delay_ms = 0,
  .ptrace = 1,
  .concurrent = 0,
  .memprofile_rate = 512 * 1024,
  .profile_interval_ms = 30 * 1000,
};

/* ---- Slices of the input, and bounded output ---- */

typedef struct slice { const char *p; size_t n; } slice_t;

/* Output buffer.  Invariant: n < cap and p[n] == 0 (when cap > 0). */
typedef struct sbuf { char *p; size_t n, cap; } sbuf_t;

static bool is_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
/* ASCII only: a Turkish locale must not change what "OFF" means. */
static char lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch; }

static slice_t slice_of(const char *s) { return (slice_t){ s, s ? strlen(s) : 0 }; }
static slice_t cut(slice_t s, size_t from, size_t to) { return (slice_t){ s.p + from, to - from }; }

static slice_t trim(slice_t s) {
  while (s.n > 0 && is_space(s.p[0])) { s.p++; s.n--; }
  while (s.n > 0 && is_space(s.p[s.n - 1])) s.n--;
  return s;
}

static bool same_word(slice_t s, const char *w) {
  if (s.n != strlen(w)) return false;
  for (size_t i = 0; i < s.n; i++)
    if (lower(s.p[i]) != lower(w[i])) return false;
  return true;
}

static bool same_exact(slice_t s, const char *w) {
  return s.n == strlen(w) && memcmp(s.p, w, s.n) == 0;
}

static sbuf_t sbuf_on(char *p, size_t cap) {
  if (cap > 0) p[0] = 0;
  return (sbuf_t){ p, 0, cap };
}

static void put_char(sbuf_t *b, char ch) {
  if (b->n + 1 >= b->cap) return;
  b->p[b->n++] = ch;
  b->p[b->n] = 0;
}

static void put_str(sbuf_t *b, const char *s) { while (*s) put_char(b, *s++); }

static void put_strs(sbuf_t *b, const char *const *s) { for (; *s; s++) put_str(b, *s); }
#define PUT(b, ...) put_strs((b), (const char *const[]){ __VA_ARGS__, NULL })

static void put_u64(sbuf_t *b, uint64_t v) {
  char d[20];
  int n = 0;
  do { d[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n > 0) put_char(b, d[--n]);
}

static void put_i64(sbuf_t *b, int64_t v) {
  if (v < 0) put_char(b, '-');
  put_u64(b, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

/* User input, bounded and escaped, so a huge or binary value can neither
 * flood stderr nor garble the terminal. */
static void put_escaped(sbuf_t *b, slice_t s) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.n && i < QUOTE_MAX; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    if (ch == '"' || ch == '\\') {
      put_char(b, '\\');
      put_char(b, (char)ch);
    } else if (ch >= 0x20 && ch < 0x7f) {
      put_char(b, (char)ch);
    } else {
      put_str(b, "\\x");
      put_char(b, hex[ch >> 4]);
      put_char(b, hex[ch & 15]);
    }
  }
  if (s.n > QUOTE_MAX) put_str(b, "...");
}

static void put_quoted(sbuf_t *b, slice_t s) {
  put_char(b, '"');
  put_escaped(b, s);
  put_char(b, '"');
}

/* The leading decimal digits of s, saturating at UINT64_MAX (callers only
 * compare the result with limits).  Returns how many digits there were. */
static size_t leading_digits(slice_t s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < s.n && is_digit(s.p[i]); i++) {
    unsigned d = (unsigned)(s.p[i] - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  *out = v;
  return i;
}

/* ---- The options ---- */

/* KIND_DURATION: milliseconds, written "500ms", "30s", "5m", "1h" or a
 * bare number of seconds. */
typedef enum { KIND_INT, KIND_WORD, KIND_BYTES, KIND_DURATION, KIND_LIST } option_kind_t;

typedef struct word { const char *name; int64_t value; } word_t;

/* An environment variable, or a key of PACEGC_GODEBUG.  Its default is the
 * field's value in config_default (or, for maxprocs, the machine's CPUs). */
typedef struct option {
  const char *name;
  option_kind_t kind;
  size_t offset, size;   /* the field in pacegc_config_t */
  int64_t min, max;      /* KIND_INT, KIND_DURATION: accepted numbers; min >= 0 */
  bool capped;           /* KIND_INT: a larger number means max, with a message */
  const word_t *words;   /* accepted words (KIND_INT: besides numbers); NULL-ended */
  const char *expect;    /* the reason given for a value of the wrong shape */
} option_t;

#define FIELD(f) .offset = offsetof(pacegc_config_t, f), \
                 .size = sizeof(((pacegc_config_t *)0)->f)

static const word_t gogc_words[] = { { "off", CONFIG_GOGC_OFF }, { NULL, 0 } };
static const word_t memlimit_words[] = { { "off", CONFIG_MEMLIMIT_OFF }, { NULL, 0 } };
static const word_t free_words[] = {
  { "honor", FREE_HONOR }, { "defer", FREE_DEFER }, { "ignore", FREE_IGNORE }, { NULL, 0 },
};
static const word_t on_off_words[] = {
  { "on", 1 }, { "off", 0 }, { "true", 1 }, { "false", 0 }, { "1", 1 }, { "0", 0 }, { NULL, 0 },
};
static const word_t auto_words[] = { { "auto", 0 }, { NULL, 0 } };
static const word_t pacer_words[] = {
  { "go118", 0 }, { "default", 0 }, { "go117", 1 }, { NULL, 0 },
};

static const option_t options[] = {
  { .name = "PACEGC_GOGC", .kind = KIND_INT, FIELD(gogc), .min = 0, .max = INT_MAX,
    .words = gogc_words, .expect = "not a number or \"off\"" },
  { .name = "PACEGC_GOMEMLIMIT", .kind = KIND_BYTES, FIELD(memlimit), .words = memlimit_words,
    .expect = "not a byte count (like 512MiB), a percentage (like 90%) or \"off\"" },
  { .name = "PACEGC_GOMAXPROCS", .kind = KIND_INT, FIELD(maxprocs), .min = 1,
    .max = CONFIG_MAXPROCS_MAX, .capped = true, .expect = "not a number" },
  { .name = "PACEGC_GODEBUG", .kind = KIND_LIST },
  { .name = "PACEGC_FREE", .kind = KIND_WORD, FIELD(free_mode), .words = free_words,
    .expect = "not honor, defer or ignore" },
  { .name = "PACEGC_RECLAIM", .kind = KIND_WORD, FIELD(reclaim), .words = on_off_words,
    .expect = "not on or off" },
  { .name = "PACEGC_MEMPROFILERATE", .kind = KIND_INT, FIELD(memprofile_rate), .max = INT_MAX,
    .expect = "not a number of bytes" },
  { .name = "PACEGC_PROFILE_INTERVAL", .kind = KIND_DURATION, FIELD(profile_interval_ms),
    .max = 24 * 3600 * 1000,
    .expect = "not a duration like 30s, 5m or 0" },
};

static const option_t godebug_keys[] = {
  { .name = "gctrace", .kind = KIND_INT, FIELD(gctrace), .max = INT_MAX, .expect = "not a number" },
  { .name = "gcstress", .kind = KIND_INT, FIELD(gcstress), .max = LONG_MAX, .expect = "not a number" },
  { .name = "scavtrace", .kind = KIND_INT, FIELD(scavtrace), .max = 1, .expect = "not 0 or 1" },
  { .name = "pacer", .kind = KIND_WORD, FIELD(pacer_go117), .words = pacer_words,
    .expect = "not go117 or go118" },
  { .name = "dangling", .kind = KIND_INT, FIELD(dangling), .max = 1, .expect = "not 0 or 1" },
  { .name = "reclaimdelay", .kind = KIND_INT, FIELD(reclaim_delay_ms), .max = 3600000,
    .expect = "not a number of milliseconds" },
  /* glibc keeps 32 and 33 for itself: real-time signals are 34..64. */
  { .name = "stopsignal", .kind = KIND_INT, FIELD(stop_signal), .min = 34, .max = 64,
    .words = auto_words, .expect = "not a real-time signal number (34..64) or \"auto\"" },
  { .name = "ptrace", .kind = KIND_INT, FIELD(ptrace), .max = 1, .expect = "not 0 or 1" },
  { .name = "stopblocked", .kind = KIND_INT, FIELD(stop_blocked), .max = 1,
    .expect = "not 0 or 1" },
  { .name = "concurrent", .kind = KIND_INT, FIELD(concurrent), .max = 2,
    .expect = "not 0, 1 or 2" },
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int64_t field_get(const pacegc_config_t *c, const option_t *o) {
  const char *f = (const char *)c + o->offset;
  bool b;
  int i;
  int64_t l;
  switch (o->size) {
  case 1: memcpy(&b, f, 1); return b;
  case 4: memcpy(&i, f, 4); return i;
  default: memcpy(&l, f, 8); return l;
  }
}

static void field_set(pacegc_config_t *c, const option_t *o, int64_t v) {
  char *f = (char *)c + o->offset;
  bool b = v != 0;
  int i = (int)v;
  switch (o->size) {
  case 1: memcpy(f, &b, 1); break;
  case 4: memcpy(f, &i, 4); break;
  default: memcpy(f, &v, 8); break;
  }
}

static bool find_word(const word_t *w, slice_t s, int64_t *v) {
  for (; w && w->name; w++) {
    if (same_word(s, w->name)) {
      *v = w->value;
      return true;
    }
  }
  return false;
}

/* A value as the user would write it: its word if it has one. */
static void put_value(sbuf_t *b, const option_t *o, int64_t v) {
  for (const word_t *w = o->words; w && w->name; w++) {
    if (w->value == v) {
      put_str(b, w->name);
      return;
    }
  }
  if (o->kind == KIND_DURATION && v % 1000 == 0) {
    put_i64(b, v / 1000);
    put_str(b, "s");
    return;
  }
  put_i64(b, v);
  if (o->kind == KIND_DURATION) put_str(b, "ms");
}

/* ---- Parsers, one per kind ----
 * Each takes a trimmed value and returns true if it is accepted; `why` is
 * then empty or holds a warning.  On refusal `why` holds the reason, and
 * *v is unchanged unless there is a better substitute (the cap). */

static bool refuse_range(const option_t *o, const char *bound, int64_t limit, sbuf_t *why) {
  PUT(why, "must be ", bound);
  put_i64(why, limit);
  for (const word_t *w = o->words; w && w->name; w++) PUT(why, " or \"", w->name, "\"");
  return false;
}

static bool parse_int(const option_t *o, slice_t s, int64_t *v, sbuf_t *why) {
  if (find_word(o->words, s, v)) return true;
  bool negative = s.n > 0 && s.p[0] == '-';
  slice_t digits = negative ? cut(s, 1, s.n) : s;
  uint64_t u;
  if (digits.n == 0 || leading_digits(digits, &u) != digits.n) {
    put_str(why, o->expect);
    return false;
  }
  if ((negative && u > 0) || u < (uint64_t)o->min) return refuse_range(o, "at least ", o->min, why);
  if (u > (uint64_t)o->max && !o->capped) return refuse_range(o, "at most ", o->max, why);
  if (u > (uint64_t)o->max) {
    *v = o->max;
    put_str(why, "more than ");
    put_i64(why, o->max);
    return false;
  }
  *v = (int64_t)u;
  return true;
}

static const struct { const char *name; uint64_t ms; } duration_units[] = {
  { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
};

static bool parse_duration(const option_t *o, slice_t s, int64_t *v, sbuf_t *why) {
  uint64_t n;
  size_t nd = leading_digits(s, &n);
  slice_t unit = cut(s, nd, s.n);
  for (size_t i = 0; nd > 0 && i < COUNT(duration_units); i++) {
    if (!same_exact(unit, duration_units[i].name)) continue;
    if (n > (uint64_t)o->max / duration_units[i].ms) {
      put_str(why, "must be at most 24h");
      return false;
    }
    *v = (int64_t)(n * duration_units[i].ms);
    return true;
  }
  put_str(why, o->expect);
  return false;
}

static bool parse_word(const option_t *o, slice_t s, int64_t *v, sbuf_t *why) {
  if (find_word(o->words, s, v)) return true;
  put_str(why, o->expect);
  return false;
}

/* "90%" or "87.5%" of the machine's memory, as an exact fraction. */
static bool parse_percent(slice_t s, uint64_t memory, int64_t *v, sbuf_t *why) {
  uint64_t whole, frac = 0, scale = 1;
  size_t i = leading_digits(s, &whole);
  bool ok = i > 0, dropped = false;   /* a nonzero digit past the ninth decimal */
  if (ok && i < s.n && s.p[i] == '.') {
    size_t first = ++i;
    for (; i < s.n && is_digit(s.p[i]); i++) {
      if (scale < 1000000000) {  /* nine decimals are kept; later ones only refuse 100.x% */
        frac = frac * 10 + (uint64_t)(s.p[i] - '0');
        scale *= 10;
      } else if (s.p[i] != '0') {
        dropped = true;
      }
    }
    ok = i > first;
  }
  bool negative = s.n > 0 && s.p[0] == '-';
  if (!negative && (!ok || i != s.n)) {
    put_str(why, "not a percentage like 90%");
    return false;
  }
  uint64_t parts = whole * scale + frac;  /* whole is checked first: no overflow */
  if (negative || whole > 100 || parts < scale || parts > 100 * scale ||
      (parts == 100 * scale && dropped)) {
    put_str(why, "must be between 1% and 100%");
    return false;
  }
  if (memory == 0) {
    put_str(why, "the machine's memory is unknown");
    return false;
  }
  unsigned __int128 bytes = (unsigned __int128)memory * parts / (100 * scale);
  *v = bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes;
  return true;
}

/* Go's suffixes, case-sensitive; "" is a plain byte count. */
static const struct { const char *name; uint64_t scale; } byte_suffixes[] = {
  { "", 1 }, { "B", 1 }, { "KiB", MiB >> 10 }, { "MiB", MiB }, { "GiB", MiB << 10 },
  { "TiB", MiB << 20 },
};

/* Suffixes people write that Go refuses (any case), and the one meant. */
static const struct { const char *wrong, *meant; } byte_mistakes[] = {
  { "k", "KiB" }, { "kb", "KiB" }, { "m", "MiB" }, { "mb", "MiB" },
  { "g", "GiB" }, { "gb", "GiB" }, { "t", "TiB" }, { "tb", "TiB" },
};

static const char *mistaken_suffix(slice_t s) {
  for (size_t i = 0; i < COUNT(byte_mistakes); i++)
    if (same_word(s, byte_mistakes[i].wrong)) return byte_mistakes[i].meant;
  return NULL;
}

static int find_suffix(slice_t s, bool exact) {
  for (int i = 0; i < (int)COUNT(byte_suffixes); i++) {
    const char *name = byte_suffixes[i].name;
    if (exact ? same_exact(s, name) : (i > 0 && same_word(s, name))) return i;
  }
  return -1;
}

/* Explains a byte count with a suffix Go refuses, and what to write. */
static bool refuse_suffix(const option_t *o, slice_t digits, slice_t suffix, sbuf_t *why) {
  slice_t t = trim(suffix);
  int i = find_suffix(t, false);
  const char *meant = i >= 0 ? byte_suffixes[i].name : mistaken_suffix(t);
  if (i >= 0) {
    put_str(why, same_exact(t, meant) ? "no space allowed before the suffix"
                                      : "suffixes are case-sensitive");
  } else if (meant) {
    put_str(why, "Go's suffixes are B, KiB, MiB, GiB, TiB (powers of 1024), not ");
    put_escaped(why, t);
  } else {
    put_str(why, o->expect);
    return false;
  }
  put_str(why, ": write ");
  put_escaped(why, digits);
  put_str(why, meant);
  return false;
}

/* Go accepts "2500" as 2500 bytes; a limit that small almost surely lacks
 * its suffix, so it is kept, with a word about what was probably meant. */
static void warn_tiny(int64_t bytes, sbuf_t *why) {
  put_str(why, "is ");
  put_i64(why, bytes);
  PUT(why, bytes == 1 ? " byte" : " bytes", "; accepted, but did you mean ");
  if (bytes > 0) put_i64(why, bytes);
  put_str(why, bytes > 0 ? "MiB?" : "off?");
}

static bool parse_bytes(const option_t *o, slice_t s, uint64_t memory, int64_t *v, sbuf_t *why) {
  if (find_word(o->words, s, v)) return true;
  if (s.n > 0 && s.p[s.n - 1] == '%') return parse_percent(cut(s, 0, s.n - 1), memory, v, why);
  uint64_t n;
  size_t nd = leading_digits(s, &n);
  int suffix = find_suffix(cut(s, nd, s.n), true);
  if (nd == 0 && s.n > 1 && s.p[0] == '-' && is_digit(s.p[1])) {
    put_str(why, "must not be negative");
    return false;
  }
  if (nd == 0) {
    put_str(why, o->expect);
    return false;
  }
  if (suffix < 0) return refuse_suffix(o, cut(s, 0, nd), cut(s, nd, s.n), why);
  uint64_t scale = byte_suffixes[suffix].scale;
  if (n > (uint64_t)INT64_MAX / scale) {
    put_str(why, "more than 9223372036854775807 bytes");
    return false;
  }
  *v = (int64_t)(n * scale);
  if (scale == 1 && n < MiB) warn_tiny(*v, why);
  return true;
}

static bool parse_value(const option_t *o, slice_t s, uint64_t memory, int64_t *v, sbuf_t *why) {
  switch (o->kind) {
  case KIND_INT: return parse_int(o, s, v, why);
  case KIND_WORD: return parse_word(o, s, v, why);
  case KIND_BYTES: return parse_bytes(o, s, memory, v, why);
  case KIND_DURATION: return parse_duration(o, s, v, why);
  case KIND_LIST: break;
  }
  return false;
}

/* ---- Reading the environment ---- */

typedef struct sink { config_message_fn fn; void *arg; int sent; } sink_t;

static void send(sink_t *k, const char *line) {
  if (k->fn) k->fn(k->arg, line);
  k->sent++;
}

/* `pacegc: NAME="value": ` */
static void line_begin(sbuf_t *b, const char *name, slice_t raw) {
  PUT(b, "pacegc: ", name, "=");
  put_quoted(b, raw);
  put_str(b, ": ");
}

static void parse_option(pacegc_config_t *c, const option_t *o, slice_t raw,
                         const config_machine_t *m, sink_t *k) {
  char reason[WHY_MAX], text[CONFIG_LINE_MAX + 1];
  sbuf_t why = sbuf_on(reason, sizeof reason), line = sbuf_on(text, sizeof text);
  slice_t s = trim(raw);
  int64_t v = field_get(c, o);
  bool ok = parse_value(o, s, m->memory, &v, &why);
  field_set(c, o, v);
  if (why.n == 0) return;
  if (ok) {  /* a warning: `pacegc: NAME=value is ...` */
    PUT(&line, "pacegc: ", o->name, "=");
    put_escaped(&line, s);
    PUT(&line, " ", reason);
  } else {
    line_begin(&line, o->name, raw);
    PUT(&line, reason, "; using ");
    put_value(&line, o, v);
  }
  send(k, text);
}

/* A file's path into out[CONFIG_PATH_MAX], NUL-terminated. */
static bool parse_path(slice_t s, char *out, sbuf_t *why) {
  if (s.n >= CONFIG_PATH_MAX) {
    put_str(why, "a path longer than ");
    put_u64(why, CONFIG_PATH_MAX - 1);
    put_str(why, " bytes");
    return false;
  }
  if (memchr(s.p, 0, s.n) != NULL) {
    put_str(why, "not a path");
    return false;
  }
  memcpy(out, s.p, s.n);
  out[s.n] = 0;
  return true;
}

/* PACEGC_TRACE: "stderr", "fd:N", or a path (trimmed: a file name with
 * blanks at its ends cannot be named here). */
static bool parse_trace(slice_t s, config_trace_t *t, sbuf_t *why) {
  config_trace_t out = { .dest = TRACE_STDERR };
  if (s.n == 0 || same_word(s, "stderr")) {
    *t = out;
    return true;
  }
  if (s.n >= 3 && same_word(cut(s, 0, 3), "fd:")) {
    slice_t num = cut(s, 3, s.n);
    uint64_t v;
    if (num.n == 0 || leading_digits(num, &v) != num.n || v > INT_MAX) {
      put_str(why, "not fd:N with N a descriptor number");
      return false;
    }
    out.dest = TRACE_FD;
    out.fd = (int)v;
    *t = out;
    return true;
  }
  if (!parse_path(s, out.path, why)) return false;
  out.dest = TRACE_FILE;
  *t = out;
  return true;
}

static void parse_trace_env(pacegc_config_t *c, slice_t raw, sink_t *k) {
  char reason[WHY_MAX], text[CONFIG_LINE_MAX + 1];
  sbuf_t why = sbuf_on(reason, sizeof reason), line = sbuf_on(text, sizeof text);
  if (parse_trace(trim(raw), &c->trace, &why)) return;
  line_begin(&line, "PACEGC_TRACE", raw);
  PUT(&line, reason, "; using stderr");
  send(k, text);
}

/* PACEGC_METRICS and PACEGC_PROFILE: a path (trimmed), "%p" standing for
 * the process id; `none` names what a bad one leaves out. */
static void parse_path_env(const char *name, slice_t raw, char *out, const char *none,
                           sink_t *k) {
  char reason[WHY_MAX], text[CONFIG_LINE_MAX + 1];
  sbuf_t why = sbuf_on(reason, sizeof reason), line = sbuf_on(text, sizeof text);
  if (parse_path(trim(raw), out, &why)) return;
  out[0] = 0;
  line_begin(&line, name, raw);
  PUT(&line, reason, "; ", none);
  send(k, text);
}

static const option_t *find_key(slice_t key) {
  for (size_t i = 0; i < COUNT(godebug_keys); i++)
    if (same_word(key, godebug_keys[i].name)) return &godebug_keys[i];
  return NULL;
}

/* One `key=value` item of PACEGC_GODEBUG.  Returns false if it is bad;
 * `line` then holds the message. */
static bool godebug_item(pacegc_config_t *c, slice_t item, sbuf_t *line) {
  const char *eq = memchr(item.p, '=', item.n);
  line_begin(line, "PACEGC_GODEBUG", item);
  if (!eq) {
    put_str(line, "not key=value; ignoring it");
    return false;
  }
  slice_t key = trim(cut(item, 0, (size_t)(eq - item.p)));
  slice_t val = trim(cut(item, (size_t)(eq - item.p) + 1, item.n));
  const option_t *o = find_key(key);
  if (!o) {
    put_str(line, "unknown key ");
    put_quoted(line, key);
    put_str(line, "; ignoring it");
    return false;
  }
  char reason[WHY_MAX];
  sbuf_t why = sbuf_on(reason, sizeof reason);
  int64_t v = field_get(c, o);
  bool ok = parse_value(o, val, 0, &v, &why);
  field_set(c, o, v);
  if (ok) return true;
  PUT(line, reason, "; using ", o->name, "=");
  put_value(line, o, v);
  return false;
}

/* Items are separated by commas; blanks around them and empty items are
 * fine; a later item overrides an earlier one, as in Go. */
static void parse_godebug(pacegc_config_t *c, slice_t s, sink_t *k) {
  int bad = 0;
  while (s.n > 0) {
    const char *comma = memchr(s.p, ',', s.n);
    size_t n = comma ? (size_t)(comma - s.p) : s.n;
    slice_t item = trim(cut(s, 0, n));
    s = cut(s, comma ? n + 1 : n, s.n);
    if (item.n == 0) continue;
    char text[CONFIG_LINE_MAX + 1];
    sbuf_t line = sbuf_on(text, sizeof text);
    if (!godebug_item(c, item, &line) && ++bad <= LIST_REPORTS_MAX) send(k, text);
  }
  if (bad > LIST_REPORTS_MAX) {
    char text[CONFIG_LINE_MAX + 1];
    sbuf_t line = sbuf_on(text, sizeof text);
    put_str(&line, "pacegc: PACEGC_GODEBUG: ");
    put_i64(&line, bad - LIST_REPORTS_MAX);
    put_str(&line, " more bad items; ignoring them");
    send(k, text);
  }
}

void config_defaults(pacegc_config_t *c, const config_machine_t *m) {
  *c = config_default;
  c->maxprocs = m->cpus < 1 ? 1 : m->cpus > CONFIG_MAXPROCS_MAX ? CONFIG_MAXPROCS_MAX : m->cpus;
}

int config_parse(pacegc_config_t *c, config_getenv_fn getenv_fn,
                 const config_machine_t *m, config_message_fn message, void *arg) {
  sink_t k = { message, arg, 0 };
  config_defaults(c, m);
  for (size_t i = 0; i < COUNT(options); i++) {
    slice_t raw = slice_of(getenv_fn(options[i].name));
    if (trim(raw).n == 0) continue;  /* unset, empty and blank all mean the default */
    if (options[i].kind == KIND_LIST) parse_godebug(c, trim(raw), &k);
    else parse_option(c, &options[i], raw, m, &k);
  }
  slice_t trace = slice_of(getenv_fn("PACEGC_TRACE"));
  if (trim(trace).n > 0) parse_trace_env(c, trace, &k);
  slice_t metrics = slice_of(getenv_fn("PACEGC_METRICS"));
  if (trim(metrics).n > 0)
    parse_path_env("PACEGC_METRICS", metrics, c->metrics_path, "no metrics file", &k);
  slice_t profile = slice_of(getenv_fn("PACEGC_PROFILE"));
  if (trim(profile).n > 0)
    parse_path_env("PACEGC_PROFILE", profile, c->profile_path, "no profile", &k);
  return k.sent;
}

/* ---- The individual parsers ---- */

static bool parse_named(const char *name, const char *s, uint64_t memory, int64_t *v,
                        char *why, size_t whylen, bool *warned) {
  const option_t *o = options;
  while (strcmp(o->name, name) != 0) o++;  /* name is one of ours */
  sbuf_t w = sbuf_on(why, whylen);
  char reason[WHY_MAX];
  sbuf_t r = sbuf_on(reason, sizeof reason);
  bool ok = parse_value(o, trim(slice_of(s)), memory, v, &r);
  put_str(&w, reason);
  *warned = ok && r.n > 0;
  return ok;
}

bool config_parse_gogc(const char *s, int *out, char *why, size_t whylen) {
  int64_t v = *out;
  bool warned, ok = parse_named("PACEGC_GOGC", s, 0, &v, why, whylen, &warned);
  *out = (int)v;
  return ok;
}

bool config_parse_memlimit(const char *s, uint64_t machine_memory, int64_t *out,
                           bool *suspicious, char *why, size_t whylen) {
  return parse_named("PACEGC_GOMEMLIMIT", s, machine_memory, out, why, whylen, suspicious);
}

bool config_parse_maxprocs(const char *s, int *out, char *why, size_t whylen) {
  int64_t v = *out;
  bool warned, ok = parse_named("PACEGC_GOMAXPROCS", s, 0, &v, why, whylen, &warned);
  *out = (int)v;
  return ok;
}

bool config_parse_trace(const char *s, config_trace_t *out, char *why, size_t whylen) {
  sbuf_t w = sbuf_on(why, whylen);
  return parse_trace(trim(slice_of(s)), out, &w);
}
