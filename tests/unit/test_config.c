/*
 * config.c: every PACEGC_* variable through config_parse() with a fake
 * environment and a message sink that records lines, plus the individual
 * parsers.  The rule under test (DESIGN.md rule 6): a bad value gives
 * exactly one `pacegc: ...` line naming the variable, the value and what
 * is used instead, and the default is kept.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define GiB ((uint64_t)1 << 30)
#define MiB ((uint64_t)1 << 20)

/* ---- Fake environment and message sink ---- */

static struct { const char *name, *value; } env[8];
static int nenv;
static char lines[16][CONFIG_LINE_MAX + 1];
static int nlines;
static pacegc_config_t cfg;
static const config_machine_t machine = { .cpus = 8, .memory = 16 * GiB };

static const char *fake_getenv(const char *name) {
  for (int i = 0; i < nenv; i++)
    if (strcmp(env[i].name, name) == 0) return env[i].value;
  return NULL;
}

static void sink(void *arg, const char *line) {
  ck_assert_ptr_eq(arg, &nlines);
  ck_assert_msg(strlen(line) <= CONFIG_LINE_MAX, "line too long: %zu", strlen(line));
  ck_assert_msg(strchr(line, '\n') == NULL, "line has a newline: %s", line);
  if (nlines < 16) strcpy(lines[nlines], line);
  nlines++;
}

static void reset(void) {
  nenv = 0;
  nlines = 0;
}

static void set(const char *name, const char *value) {
  env[nenv].name = name;
  env[nenv].value = value;
  nenv++;
}

static int parse(void) {
  int n = config_parse(&cfg, fake_getenv, &machine, sink, &nlines);
  ck_assert_int_eq(n, nlines);
  return n;
}

/* Parses one variable and returns the number of messages. */
static int parse1(const char *name, const char *value) {
  reset();
  set(name, value);
  return parse();
}

static void expect_line(int i, const char *want) {
  ck_assert_int_gt(nlines, i);
  ck_assert_str_eq(lines[i], want);
}

/* Every field but the named one still has its default. */
static void expect_defaults_except(const char *field) {
  pacegc_config_t d;
  config_defaults(&d, &machine);
  if (strcmp(field, "gogc")) ck_assert_int_eq(cfg.gogc, d.gogc);
  if (strcmp(field, "memlimit")) ck_assert_int_eq(cfg.memlimit, d.memlimit);
  if (strcmp(field, "maxprocs")) ck_assert_int_eq(cfg.maxprocs, d.maxprocs);
  if (strcmp(field, "gctrace")) ck_assert_int_eq(cfg.gctrace, d.gctrace);
  if (strcmp(field, "gcstress")) ck_assert_int_eq(cfg.gcstress, d.gcstress);
  if (strcmp(field, "scavtrace")) ck_assert_int_eq(cfg.scavtrace, d.scavtrace);
  if (strcmp(field, "pacer")) ck_assert_int_eq(cfg.pacer_go117, d.pacer_go117);
  if (strcmp(field, "free")) ck_assert_int_eq(cfg.free_mode, d.free_mode);
  if (strcmp(field, "reclaim")) ck_assert_int_eq(cfg.reclaim, d.reclaim);
  if (strcmp(field, "stop_signal")) ck_assert_int_eq(cfg.stop_signal, d.stop_signal);
  if (strcmp(field, "ptrace")) ck_assert_int_eq(cfg.ptrace, d.ptrace);
  if (strcmp(field, "concurrent")) ck_assert_int_eq(cfg.concurrent, d.concurrent);
  if (strcmp(field, "stop_blocked")) ck_assert_int_eq(cfg.stop_blocked, d.stop_blocked);
  if (strcmp(field, "trace")) ck_assert_int_eq(cfg.trace.dest, d.trace.dest);
  if (strcmp(field, "memprofile_rate")) ck_assert_int_eq(cfg.memprofile_rate, d.memprofile_rate);
  if (strcmp(field, "profile_interval"))
    ck_assert_int_eq(cfg.profile_interval_ms, d.profile_interval_ms);
  if (strcmp(field, "profile_path")) ck_assert_str_eq(cfg.profile_path, d.profile_path);
}

/* A bad value: one message, starting `pacegc: NAME="`, ending with what is
 * used, and every field at its default. */
static void expect_bad(const char *name, const char *value, const char *using) {
  ck_assert_msg(parse1(name, value) == 1, "%s=%s: %d messages", name, value, nlines);
  char head[64];
  snprintf(head, sizeof head, "pacegc: %s=\"", name);
  ck_assert_msg(strncmp(lines[0], head, strlen(head)) == 0, "%s", lines[0]);
  const char *tail = strstr(lines[0], "; using ");
  ck_assert_msg(tail && strcmp(tail + 8, using) == 0, "%s", lines[0]);
  expect_defaults_except("");
}

/* ---- Defaults ---- */

START_TEST(no_variables_gives_defaults) {
  reset();
  ck_assert_int_eq(parse(), 0);
  ck_assert_int_eq(cfg.gogc, 100);
  ck_assert_int_eq(cfg.memlimit, CONFIG_MEMLIMIT_OFF);
  ck_assert_int_eq(cfg.maxprocs, 8);
  ck_assert_int_eq(cfg.gctrace, 0);
  ck_assert_int_eq(cfg.gcstress, 0);
  ck_assert_int_eq(cfg.scavtrace, 0);
  ck_assert_int_eq(cfg.pacer_go117, 0);
  ck_assert_int_eq(cfg.free_mode, FREE_HONOR);
  ck_assert(cfg.reclaim);
}
END_TEST

START_TEST(empty_and_blank_mean_unset) {
  static const char *names[] = { "PACEGC_GOGC", "PACEGC_GOMEMLIMIT", "PACEGC_GOMAXPROCS",
                                 "PACEGC_GODEBUG", "PACEGC_FREE", "PACEGC_RECLAIM" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    ck_assert_int_eq(parse1(names[i], ""), 0);
    expect_defaults_except("");
    ck_assert_int_eq(parse1(names[i], " \t\n "), 0);
    expect_defaults_except("");
  }
}
END_TEST

START_TEST(machine_cpus_are_clamped) {
  pacegc_config_t c;
  config_defaults(&c, &(config_machine_t){ .cpus = 0 });
  ck_assert_int_eq(c.maxprocs, 1);
  config_defaults(&c, &(config_machine_t){ .cpus = 5000 });
  ck_assert_int_eq(c.maxprocs, CONFIG_MAXPROCS_MAX);
  ck_assert_int_eq(config_default.gogc, 100);
  ck_assert_int_eq(config_default.maxprocs, 1);
}
END_TEST

START_TEST(several_variables_at_once) {
  reset();
  set("PACEGC_GOGC", "50");
  set("PACEGC_GOMEMLIMIT", "xyz");
  set("PACEGC_GOMAXPROCS", "0");
  set("PACEGC_FREE", "defer");
  ck_assert_int_eq(parse(), 2);
  ck_assert_int_eq(cfg.gogc, 50);
  ck_assert_int_eq(cfg.memlimit, CONFIG_MEMLIMIT_OFF);
  ck_assert_int_eq(cfg.maxprocs, 8);
  ck_assert_int_eq(cfg.free_mode, FREE_DEFER);
  ck_assert(strstr(lines[0], "PACEGC_GOMEMLIMIT") && strstr(lines[1], "PACEGC_GOMAXPROCS"));
}
END_TEST

START_TEST(null_sink_still_counts) {
  reset();
  set("PACEGC_GOGC", "bad");
  ck_assert_int_eq(config_parse(&cfg, fake_getenv, &machine, NULL, NULL), 1);
  ck_assert_int_eq(cfg.gogc, 100);
}
END_TEST

/* ---- PACEGC_GOGC ---- */

START_TEST(gogc_good) {
  static const struct { const char *in; int want; } cases[] = {
    { "0", 0 }, { "50", 50 }, { "100", 100 }, { " 200 ", 200 }, { "\t75\n", 75 },
    { "2147483647", 2147483647 }, { "off", CONFIG_GOGC_OFF }, { "OFF", CONFIG_GOGC_OFF },
    { " Off ", CONFIG_GOGC_OFF }, { "007", 7 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_GOGC", cases[i].in), 0);
    ck_assert_int_eq(cfg.gogc, cases[i].want);
    expect_defaults_except("gogc");
  }
}
END_TEST

START_TEST(gogc_bad) {
  static const char *cases[] = { "abc", "-1", "-100", "12abc", "1 2", "+5", "1.5", "0x10",
                                 "2147483648", "99999999999999999999999", "offf", "o ff", "-" };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_bad("PACEGC_GOGC", cases[i], "100");
}
END_TEST

START_TEST(gogc_messages) {
  parse1("PACEGC_GOGC", "abc");
  expect_line(0, "pacegc: PACEGC_GOGC=\"abc\": not a number or \"off\"; using 100");
  parse1("PACEGC_GOGC", "-1");
  expect_line(0, "pacegc: PACEGC_GOGC=\"-1\": must be at least 0 or \"off\"; using 100");
  parse1("PACEGC_GOGC", "3000000000");
  expect_line(0, "pacegc: PACEGC_GOGC=\"3000000000\": must be at most 2147483647 or \"off\"; using 100");
  parse1("PACEGC_GOGC", " 12x ");
  expect_line(0, "pacegc: PACEGC_GOGC=\" 12x \": not a number or \"off\"; using 100");
}
END_TEST

START_TEST(gogc_single_parser) {
  char why[128];
  int v = 100;
  ck_assert(config_parse_gogc(" 42 ", &v, why, sizeof why));
  ck_assert_int_eq(v, 42);
  ck_assert(config_parse_gogc("off", &v, why, sizeof why));
  ck_assert_int_eq(v, CONFIG_GOGC_OFF);
  v = 77;
  ck_assert(!config_parse_gogc("nope", &v, why, sizeof why));
  ck_assert_int_eq(v, 77);
  ck_assert_str_eq(why, "not a number or \"off\"");
  ck_assert(!config_parse_gogc("", &v, why, 4));  /* a short buffer truncates */
  ck_assert_str_eq(why, "not");
}
END_TEST

/* ---- PACEGC_GOMEMLIMIT ---- */

START_TEST(memlimit_good) {
  static const struct { const char *in; int64_t want; } cases[] = {
    { "1048576", 1048576 }, { "1048576B", 1048576 }, { "4KiB", 4096 }, { "512MiB", 512 * (int64_t)MiB },
    { "2GiB", 2 * (int64_t)GiB }, { "1TiB", (int64_t)1 << 40 }, { " 64MiB\n", 64 * (int64_t)MiB },
    { "8388607TiB", (int64_t)8388607 << 40 }, { "9223372036854775807", INT64_MAX },
    { "off", CONFIG_MEMLIMIT_OFF }, { "OFF", CONFIG_MEMLIMIT_OFF },
    { "1024KiB", 1 << 20 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_msg(parse1("PACEGC_GOMEMLIMIT", cases[i].in) == 0, "%s: %s", cases[i].in, lines[0]);
    ck_assert_int_eq(cfg.memlimit, cases[i].want);
    expect_defaults_except("memlimit");
  }
}
END_TEST

START_TEST(memlimit_percent) {
  static const struct { const char *in; int64_t want; } cases[] = {
    { "90%", (int64_t)(16 * GiB * 9 / 10) }, { "100%", (int64_t)(16 * GiB) },
    { "1%", (int64_t)(16 * GiB / 100) }, { "87.5%", (int64_t)(14 * GiB) },
    { "50.0%", (int64_t)(8 * GiB) }, { " 25% ", (int64_t)(4 * GiB) },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", cases[i].in), 0);
    ck_assert_int_eq(cfg.memlimit, cases[i].want);
  }
  /* Decimals beyond the ninth cannot matter: 33.333333333% of 16 GiB. */
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "33.333333333333%"), 0);
  ck_assert_int_eq(cfg.memlimit, (int64_t)((unsigned __int128)16 * GiB * 33333333333 / 100000000000));
}
END_TEST


START_TEST(memlimit_bad) {
  static const char *cases[] = {
    "abc", "-1", "-5MiB", "12abc", "1.5GiB", "512KB", "512MB", "512mb", "512GB", "1TB", "512M",
    "512k", "512mib", "512MIB", "512kib", "512 MiB", "512b", "MiB", "B", "0%", "101%", "100.1%",
    "0.5%", "-5%", "%", "abc%", "90.%", ".5%", "90 %", "1e3", "9223372036854775808",
    "8388608TiB", "99999999999999999999999", "18446744073709551616", "offf", "0x100",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_bad("PACEGC_GOMEMLIMIT", cases[i], "off");
}
END_TEST

START_TEST(memlimit_messages) {
  parse1("PACEGC_GOMEMLIMIT", "512MB");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"512MB\": Go's suffixes are B, KiB, MiB, GiB, TiB "
                 "(powers of 1024), not MB: write 512MiB; using off");
  parse1("PACEGC_GOMEMLIMIT", "2g");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"2g\": Go's suffixes are B, KiB, MiB, GiB, TiB "
                 "(powers of 1024), not g: write 2GiB; using off");
  parse1("PACEGC_GOMEMLIMIT", "512mib");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"512mib\": suffixes are case-sensitive: write 512MiB; using off");
  parse1("PACEGC_GOMEMLIMIT", "512 MiB");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"512 MiB\": no space allowed before the suffix: "
                 "write 512MiB; using off");
  parse1("PACEGC_GOMEMLIMIT", "abc");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"abc\": not a byte count (like 512MiB), a percentage "
                 "(like 90%) or \"off\"; using off");
  parse1("PACEGC_GOMEMLIMIT", "-1");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"-1\": must not be negative; using off");
  parse1("PACEGC_GOMEMLIMIT", "101%");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"101%\": must be between 1% and 100%; using off");
  parse1("PACEGC_GOMEMLIMIT", "x%");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"x%\": not a percentage like 90%; using off");
  parse1("PACEGC_GOMEMLIMIT", "9223372036854775808");
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=\"9223372036854775808\": more than 9223372036854775807 "
                 "bytes; using off");
}
END_TEST

START_TEST(memlimit_suspicious) {
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "2500"), 1);
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=2500 is 2500 bytes; accepted, but did you mean 2500MiB?");
  ck_assert_int_eq(cfg.memlimit, 2500);
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", " 512B "), 1);
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=512B is 512 bytes; accepted, but did you mean 512MiB?");
  ck_assert_int_eq(cfg.memlimit, 512);
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "1"), 1);
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=1 is 1 byte; accepted, but did you mean 1MiB?");
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "0"), 1);
  expect_line(0, "pacegc: PACEGC_GOMEMLIMIT=0 is 0 bytes; accepted, but did you mean off?");
  ck_assert_int_eq(cfg.memlimit, 0);
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "1048575"), 1);
  /* Not suspicious: a MiB or more, or an explicit KiB. */
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "1048576"), 0);
  ck_assert_int_eq(parse1("PACEGC_GOMEMLIMIT", "16KiB"), 0);
  ck_assert_int_eq(cfg.memlimit, 16384);

  char why[128];
  int64_t v = CONFIG_MEMLIMIT_OFF;
  bool suspicious = false;
  ck_assert(config_parse_memlimit("2500", 0, &v, &suspicious, why, sizeof why));
  ck_assert(suspicious);
  ck_assert_int_eq(v, 2500);
  ck_assert_str_eq(why, "is 2500 bytes; accepted, but did you mean 2500MiB?");
  ck_assert(config_parse_memlimit("3GiB", 0, &v, &suspicious, why, sizeof why));
  ck_assert(!suspicious);
  ck_assert_str_eq(why, "");
}
END_TEST

START_TEST(memlimit_percent_needs_memory) {
  char why[128];
  int64_t v = CONFIG_MEMLIMIT_OFF;
  bool suspicious;
  ck_assert(!config_parse_memlimit("90%", 0, &v, &suspicious, why, sizeof why));
  ck_assert_str_eq(why, "the machine's memory is unknown");
  ck_assert_int_eq(v, CONFIG_MEMLIMIT_OFF);
  ck_assert(config_parse_memlimit("50%", UINT64_MAX, &v, &suspicious, why, sizeof why));
  ck_assert_int_eq(v, INT64_MAX);  /* clamped: never wraps */
  ck_assert(config_parse_memlimit("50%", 1000, &v, &suspicious, why, sizeof why));
  ck_assert_int_eq(v, 500);
}
END_TEST

/* Issue 8 item 16: a percentage over 100%, however slightly, is refused
 * with the usual message; decimals beyond the ninth may be dropped only
 * where that cannot carry a value over 100% (or under 1%) into range. */
START_TEST(memlimit_percent_just_over_100) {
  static const char *over[] = {
    "100.00000001%", "100.000000001%", "100.0000000001%", "100.00000000001%",
    "100.0000000000000001%", "100.00000000000000000000000000000000000001%",
  };
  /* Every value is tried; the failure lists all that were accepted. */
  char accepted[1024] = "";
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
    if (parse1("PACEGC_GOMEMLIMIT", over[i]) == 0) {
      size_t n = strlen(accepted);
      snprintf(accepted + n, sizeof accepted - n, " %s (as %lld bytes)", over[i],
               (long long)cfg.memlimit);
      continue;
    }
    char want[CONFIG_LINE_MAX + 1];
    snprintf(want, sizeof want,
             "pacegc: PACEGC_GOMEMLIMIT=\"%s\": must be between 1%% and 100%%; using off", over[i]);
    expect_line(0, want);
    ck_assert_int_eq(nlines, 1);
    expect_defaults_except("");
  }
  ck_assert_msg(accepted[0] == 0, "over 100%% yet accepted silently (100%% is %lld bytes):%s",
                (long long)(16 * GiB), accepted);
}
END_TEST

START_TEST(memlimit_percent_just_under_100) {
  /* Accepted, and below the whole memory. */
  static const char *under[] = { "99.99999999999%", "99.9999999999999999999%", "99.999999999%" };
  for (size_t i = 0; i < sizeof under / sizeof under[0]; i++) {
    ck_assert_msg(parse1("PACEGC_GOMEMLIMIT", under[i]) == 0, "%s: %s", under[i], lines[0]);
    ck_assert_int_lt(cfg.memlimit, (int64_t)(16 * GiB));
    ck_assert_int_ge(cfg.memlimit, (int64_t)(16 * GiB) - 1);
  }
  /* Exactly 100%, however many zeros. */
  static const char *exact[] = { "100.0%", "100.000000000%", "100.00000000000000000000%" };
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
    ck_assert_msg(parse1("PACEGC_GOMEMLIMIT", exact[i]) == 0, "%s: %s", exact[i], lines[0]);
    ck_assert_int_eq(cfg.memlimit, (int64_t)(16 * GiB));
  }
  /* Just under 1% stays refused. */
  expect_bad("PACEGC_GOMEMLIMIT", "0.99999999999%", "off");
}
END_TEST

/* ---- PACEGC_GOMAXPROCS ---- */

START_TEST(maxprocs_good) {
  static const struct { const char *in; int want; } cases[] = {
    { "1", 1 }, { "4", 4 }, { " 16 ", 16 }, { "1024", 1024 }, { "64", 64 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_GOMAXPROCS", cases[i].in), 0);
    ck_assert_int_eq(cfg.maxprocs, cases[i].want);
    expect_defaults_except("maxprocs");
  }
}
END_TEST

START_TEST(maxprocs_bad) {
  static const char *cases[] = { "0", "-1", "abc", "4x", "off", "2.5", "-99999999999999999999" };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_bad("PACEGC_GOMAXPROCS", cases[i], "8");
  parse1("PACEGC_GOMAXPROCS", "0");
  expect_line(0, "pacegc: PACEGC_GOMAXPROCS=\"0\": must be at least 1; using 8");
  parse1("PACEGC_GOMAXPROCS", "four");
  expect_line(0, "pacegc: PACEGC_GOMAXPROCS=\"four\": not a number; using 8");
}
END_TEST

START_TEST(maxprocs_capped) {
  static const char *cases[] = { "1025", "5000", "99999999999999999999999" };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_GOMAXPROCS", cases[i]), 1);
    ck_assert_int_eq(cfg.maxprocs, 1024);
  }
  parse1("PACEGC_GOMAXPROCS", "5000");
  expect_line(0, "pacegc: PACEGC_GOMAXPROCS=\"5000\": more than 1024; using 1024");
  char why[64];
  int v = 8;
  ck_assert(!config_parse_maxprocs("5000", &v, why, sizeof why));
  ck_assert_int_eq(v, 1024);
  v = 8;
  ck_assert(!config_parse_maxprocs("0", &v, why, sizeof why));
  ck_assert_int_eq(v, 8);
}
END_TEST

/* ---- PACEGC_GODEBUG ---- */

START_TEST(godebug_good) {
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "gctrace=1"), 0);
  ck_assert_int_eq(cfg.gctrace, 1);
  expect_defaults_except("gctrace");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", " gctrace = 2 , gcstress=1000,scavtrace=1, pacer=go117 "), 0);
  ck_assert_int_eq(cfg.gctrace, 2);
  ck_assert_int_eq(cfg.gcstress, 1000);
  ck_assert_int_eq(cfg.scavtrace, 1);
  ck_assert_int_eq(cfg.pacer_go117, 1);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "pacer=go117,pacer=go118,,gctrace=1,"), 0);
  ck_assert_int_eq(cfg.pacer_go117, 0);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "pacer=default,gcstress=9223372036854775807"), 0);
  ck_assert_int_eq(cfg.pacer_go117, 0);
  ck_assert_int_eq(cfg.gcstress, INT64_MAX);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", ",,,"), 0);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopsignal=40"), 0);
  ck_assert_int_eq(cfg.stop_signal, 40);
  expect_defaults_except("stop_signal");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopsignal=40,stopsignal=auto"), 0);
  ck_assert_int_eq(cfg.stop_signal, 0);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "ptrace=0"), 0);
  ck_assert_int_eq(cfg.ptrace, 0);
  expect_defaults_except("ptrace");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "concurrent=1"), 0);
  ck_assert_int_eq(cfg.concurrent, 1);
  expect_defaults_except("concurrent");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "concurrent=2"), 0);
  ck_assert_int_eq(cfg.concurrent, 2);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "concurrent=3"), 1);
  ck_assert_int_eq(cfg.concurrent, 0);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopblocked=1"), 0);
  ck_assert_int_eq(cfg.stop_blocked, 1);
  expect_defaults_except("stop_blocked");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopblocked=yes"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"stopblocked=yes\": not 0 or 1; using stopblocked=0");
  expect_defaults_except("");
}
END_TEST

/* A path variable given a path too long: one line, ending with what is
 * left out, and no path. */
static void expect_long_path_refused(const char *name, const char *field, const char *tail) {
  char longpath[CONFIG_PATH_MAX + 8];
  memset(longpath, 'x', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = 0;
  ck_assert_int_eq(parse1(name, longpath), 1);
  ck_assert_str_eq(field, "");
  char want[96];
  snprintf(want, sizeof want, "a path longer than %d bytes%s", CONFIG_PATH_MAX - 1, tail);
  ck_assert_ptr_nonnull(strstr(lines[0], want));
}

START_TEST(metrics_path) {
  ck_assert_int_eq(parse1("PACEGC_METRICS", "  /var/lib/pacegc-%p.prom "), 0);
  ck_assert_str_eq(cfg.metrics_path, "/var/lib/pacegc-%p.prom");
  expect_defaults_except("");
  expect_long_path_refused("PACEGC_METRICS", cfg.metrics_path, "; no metrics file");
}
END_TEST

START_TEST(profile_variables) {
  reset();
  ck_assert_int_eq(parse(), 0);
  ck_assert_int_eq(cfg.memprofile_rate, 512 * 1024);   /* Go's MemProfileRate */
  ck_assert_int_eq(cfg.profile_interval_ms, 30000);
  ck_assert_str_eq(cfg.profile_path, "");
  ck_assert_int_eq(parse1("PACEGC_PROFILE", " leaks-%p.pb.gz "), 0);
  ck_assert_str_eq(cfg.profile_path, "leaks-%p.pb.gz");
  expect_defaults_except("profile_path");
  ck_assert_int_eq(parse1("PACEGC_MEMPROFILERATE", "1"), 0);
  ck_assert_int_eq(cfg.memprofile_rate, 1);
  ck_assert_int_eq(parse1("PACEGC_MEMPROFILERATE", "0"), 0);
  ck_assert_int_eq(cfg.memprofile_rate, 0);
  expect_bad("PACEGC_MEMPROFILERATE", "512k", "524288");
  expect_bad("PACEGC_MEMPROFILERATE", "-1", "524288");
  static const struct { const char *in; int ms; } ok[] = {
    { "0", 0 }, { "45", 45000 }, { "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 },
    { "1h", 3600000 }, { "24h", 86400000 },
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    ck_assert_msg(parse1("PACEGC_PROFILE_INTERVAL", ok[i].in) == 0, "%s: %s", ok[i].in, lines[0]);
    ck_assert_int_eq(cfg.profile_interval_ms, ok[i].ms);
    expect_defaults_except("profile_interval");
  }
  expect_bad("PACEGC_PROFILE_INTERVAL", "30 s", "30s");
  expect_bad("PACEGC_PROFILE_INTERVAL", "1d", "30s");
  expect_bad("PACEGC_PROFILE_INTERVAL", "25h", "30s");
  expect_line(0, "pacegc: PACEGC_PROFILE_INTERVAL=\"25h\": must be at most 24h; using 30s");
  expect_bad("PACEGC_PROFILE_INTERVAL", "-5s", "30s");
  expect_long_path_refused("PACEGC_PROFILE", cfg.profile_path, "; no profile");
}
END_TEST

START_TEST(godebug_stopsignal_bad) {
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopsignal=10"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"stopsignal=10\": must be at least 34 or \"auto\"; "
                 "using stopsignal=auto");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopsignal=65"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"stopsignal=65\": must be at most 64 or \"auto\"; "
                 "using stopsignal=auto");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "stopsignal=SIGUSR1"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"stopsignal=SIGUSR1\": not a real-time signal number "
                 "(34..64) or \"auto\"; using stopsignal=auto");
  expect_defaults_except("");
}
END_TEST

START_TEST(godebug_bad_items) {
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "gctrace=1,foo=2,scavtrace=1"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"foo=2\": unknown key \"foo\"; ignoring it");
  ck_assert_int_eq(cfg.gctrace, 1);
  ck_assert_int_eq(cfg.scavtrace, 1);

  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "gctrace"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"gctrace\": not key=value; ignoring it");
  expect_defaults_except("");

  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "gctrace=x,scavtrace=2,gcstress=-1,pacer=go116,gctrace="), 5);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"gctrace=x\": not a number; using gctrace=0");
  expect_line(1, "pacegc: PACEGC_GODEBUG=\"scavtrace=2\": must be at most 1; using scavtrace=0");
  expect_line(2, "pacegc: PACEGC_GODEBUG=\"gcstress=-1\": must be at least 0; using gcstress=0");
  expect_line(3, "pacegc: PACEGC_GODEBUG=\"pacer=go116\": not go117 or go118; using pacer=go118");
  expect_line(4, "pacegc: PACEGC_GODEBUG=\"gctrace=\": not a number; using gctrace=0");
  expect_defaults_except("");

  /* A bad item keeps the value an earlier item set. */
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "gctrace=2,gctrace=x"), 1);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"gctrace=x\": not a number; using gctrace=2");
  ck_assert_int_eq(cfg.gctrace, 2);
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", "=1, gctrace=99999999999"), 2);
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"=1\": unknown key \"\"; ignoring it");
}
END_TEST

START_TEST(godebug_flood_is_bounded) {
  char value[4000] = "";
  for (int i = 0; i < 100; i++) strcat(value, "junk,");
  strcat(value, "gctrace=3");
  ck_assert_int_eq(parse1("PACEGC_GODEBUG", value), 9);
  ck_assert_int_eq(cfg.gctrace, 3);
  expect_line(8, "pacegc: PACEGC_GODEBUG: 92 more bad items; ignoring them");
}
END_TEST

/* ---- PACEGC_FREE and PACEGC_RECLAIM ---- */

START_TEST(free_modes) {
  static const struct { const char *in; free_mode_t want; } cases[] = {
    { "honor", FREE_HONOR }, { "defer", FREE_DEFER }, { "IGNORE", FREE_IGNORE }, { " Defer ", FREE_DEFER },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_FREE", cases[i].in), 0);
    ck_assert_int_eq(cfg.free_mode, cases[i].want);
    expect_defaults_except("free");
  }
  static const char *bad[] = { "honour", "1", "defer,ignore", "x" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_bad("PACEGC_FREE", bad[i], "honor");
  parse1("PACEGC_FREE", "honour");
  expect_line(0, "pacegc: PACEGC_FREE=\"honour\": not honor, defer or ignore; using honor");
}
END_TEST

START_TEST(reclaim_words) {
  static const struct { const char *in; bool want; } cases[] = {
    { "on", true }, { "off", false }, { "OFF", false }, { "1", true }, { "0", false },
    { "true", true }, { "FALSE", false }, { " off ", false },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_RECLAIM", cases[i].in), 0);
    ck_assert_int_eq(cfg.reclaim, cases[i].want);
    expect_defaults_except("reclaim");
  }
  static const char *bad[] = { "yes", "2", "onn", "-1" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_bad("PACEGC_RECLAIM", bad[i], "on");
  parse1("PACEGC_RECLAIM", "yes");
  expect_line(0, "pacegc: PACEGC_RECLAIM=\"yes\": not on or off; using on");
}
END_TEST

START_TEST(trace_destinations) {
  ck_assert_int_eq(parse1("PACEGC_TRACE", "stderr"), 0);
  ck_assert_int_eq(cfg.trace.dest, TRACE_STDERR);
  ck_assert_int_eq(parse1("PACEGC_TRACE", " STDERR "), 0);
  ck_assert_int_eq(cfg.trace.dest, TRACE_STDERR);
  ck_assert_int_eq(parse1("PACEGC_TRACE", "fd:3"), 0);
  ck_assert_int_eq(cfg.trace.dest, TRACE_FD);
  ck_assert_int_eq(cfg.trace.fd, 3);
  ck_assert_int_eq(parse1("PACEGC_TRACE", "FD:0"), 0);
  ck_assert_int_eq(cfg.trace.fd, 0);
  ck_assert_int_eq(parse1("PACEGC_TRACE", " /var/log/app.gctrace "), 0);
  ck_assert_int_eq(cfg.trace.dest, TRACE_FILE);
  ck_assert_str_eq(cfg.trace.path, "/var/log/app.gctrace");
  ck_assert_int_eq(parse1("PACEGC_TRACE", "trace.log"), 0);
  ck_assert_str_eq(cfg.trace.path, "trace.log");
  expect_defaults_except("trace");
  ck_assert_int_eq(parse1("PACEGC_TRACE", "  "), 0);
  ck_assert_int_eq(cfg.trace.dest, TRACE_STDERR);
  static const char *bad[] = { "fd:", "fd:x", "fd:-1", "fd:3x", "fd:99999999999", "fd: 3" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(parse1("PACEGC_TRACE", bad[i]), 1);
    ck_assert_int_eq(cfg.trace.dest, TRACE_STDERR);
  }
  parse1("PACEGC_TRACE", "fd:x");
  expect_line(0, "pacegc: PACEGC_TRACE=\"fd:x\": not fd:N with N a descriptor number; using stderr");
  static char longpath[CONFIG_PATH_MAX + 8];
  memset(longpath, 'a', sizeof longpath - 1);
  ck_assert_int_eq(parse1("PACEGC_TRACE", longpath), 1);
  ck_assert_int_eq(cfg.trace.dest, TRACE_STDERR);
  ck_assert_msg(strstr(lines[0], "a path longer than 511 bytes; using stderr") != NULL, "%s",
                lines[0]);
  char why[128];
  config_trace_t t = { .dest = TRACE_FD, .fd = 9 };
  ck_assert(!config_parse_trace("fd:y", &t, why, sizeof why));
  ck_assert_int_eq(t.dest, TRACE_FD);   /* left alone */
  ck_assert(config_parse_trace("x.log", &t, why, sizeof why));
  ck_assert_int_eq(t.dest, TRACE_FILE);
}
END_TEST

/* ---- Hostile values ---- */

START_TEST(non_printable_bytes_are_escaped) {
  parse1("PACEGC_GOGC", "1\x1b[31m\"\\\xff");
  expect_line(0, "pacegc: PACEGC_GOGC=\"1\\x1b[31m\\\"\\\\\\xff\": not a number or \"off\"; using 100");
  parse1("PACEGC_GODEBUG", "g\tc=1");
  expect_line(0, "pacegc: PACEGC_GODEBUG=\"g\\x09c=1\": unknown key \"g\\x09c\"; ignoring it");
}
END_TEST

START_TEST(long_values_are_truncated) {
  static char value[200000];
  memset(value, '7', sizeof value - 1);
  value[10] = 'x';
  ck_assert_int_eq(parse1("PACEGC_GOGC", value), 1);
  char want[200];
  snprintf(want, sizeof want, "pacegc: PACEGC_GOGC=\"%.10sx%.53s...\": not a number or \"off\"; using 100",
           value, value + 11);
  expect_line(0, want);
  /* Worst case: every shown byte escaped, in every variable at once. */
  memset(value, 1, sizeof value - 1);
  reset();
  set("PACEGC_GOGC", value);
  set("PACEGC_GOMEMLIMIT", value);
  set("PACEGC_GOMAXPROCS", value);
  set("PACEGC_GODEBUG", value);
  set("PACEGC_FREE", value);
  set("PACEGC_RECLAIM", value);
  ck_assert_int_eq(parse(), 6);
  for (int i = 0; i < 6; i++) ck_assert_ptr_nonnull(strstr(lines[i], "...\": "));
  expect_defaults_except("");
  /* Long all-digit values are overflow, not a crash. */
  memset(value, '9', sizeof value - 1);
  expect_bad("PACEGC_GOGC", value, "100");
  expect_bad("PACEGC_GOMEMLIMIT", value, "off");
  ck_assert_int_eq(parse1("PACEGC_GOMAXPROCS", value), 1);
  ck_assert_int_eq(cfg.maxprocs, 1024);
}
END_TEST

static Suite *config_suite(void) {
  Suite *s = suite_create("config");
  TCase *t = tcase_create("parse");
  tcase_add_test(t, no_variables_gives_defaults);
  tcase_add_test(t, empty_and_blank_mean_unset);
  tcase_add_test(t, machine_cpus_are_clamped);
  tcase_add_test(t, several_variables_at_once);
  tcase_add_test(t, null_sink_still_counts);
  tcase_add_test(t, gogc_good);
  tcase_add_test(t, gogc_bad);
  tcase_add_test(t, gogc_messages);
  tcase_add_test(t, gogc_single_parser);
  tcase_add_test(t, memlimit_good);
  tcase_add_test(t, memlimit_percent);
  tcase_add_test(t, memlimit_bad);
  tcase_add_test(t, memlimit_messages);
  tcase_add_test(t, memlimit_suspicious);
  tcase_add_test(t, memlimit_percent_needs_memory);
  tcase_add_test(t, memlimit_percent_just_over_100);
  tcase_add_test(t, memlimit_percent_just_under_100);
  tcase_add_test(t, maxprocs_good);
  tcase_add_test(t, maxprocs_bad);
  tcase_add_test(t, maxprocs_capped);
  tcase_add_test(t, godebug_good);
  tcase_add_test(t, godebug_bad_items);
  tcase_add_test(t, godebug_stopsignal_bad);
  tcase_add_test(t, metrics_path);
  tcase_add_test(t, profile_variables);
  tcase_add_test(t, godebug_flood_is_bounded);
  tcase_add_test(t, free_modes);
  tcase_add_test(t, reclaim_words);
  tcase_add_test(t, trace_destinations);
  tcase_add_test(t, non_printable_bytes_are_escaped);
  tcase_add_test(t, long_values_are_truncated);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return check_main(config_suite());
}
