/* Unit tests for gctrace formatting (src/trace.c), against lines and
 * rounding rules of the Go runtime's gctrace. */
#include <check.h>

#include "check_main.h"
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static const char *ms(uint64_t ns) {
  static char buf[32];
  trace_format_ms(buf, sizeof buf, ns);
  return buf;
}

START_TEST(ms_rounding) {
  ck_assert_str_eq(ms(0), "0");
  ck_assert_str_eq(ms(999), "0");            /* under a microsecond */
  ck_assert_str_eq(ms(11000), "0.011");
  ck_assert_str_eq(ms(99000), "0.099");
  ck_assert_str_eq(ms(198000), "0.19");      /* truncated, never rounded */
  ck_assert_str_eq(ms(380000), "0.38");
  ck_assert_str_eq(ms(1200000), "1.2");
  ck_assert_str_eq(ms(2049000), "2.0");
  ck_assert_str_eq(ms(9999999), "9.9");
  ck_assert_str_eq(ms(10000000), "10");
  ck_assert_str_eq(ms(77900000), "77");
}
END_TEST

START_TEST(line_matches_go) {
  trace_cycle_t c = {
    .n = 1, .since_start_ns = 12345678, .cpu_percent = 2,
    .stw_ns = 11000, .mark_ns = 1200000, .term_ns = 3000,
    .stw_cpu_ns = 22000, .assist_cpu_ns = 100000, .bg_cpu_ns = 1100000,
    .idle_cpu_ns = 210000, .term_cpu_ns = 6000,
    .heap_start = 4u << 20, .heap_end = (4u << 20) + 5, .heap_live = 100,
    .goal = 4u << 20, .stacks = 0, .globals = 0, .procs = 2,
  };
  char line[TRACE_LINE_MAX];
  size_t n = trace_format(line, sizeof line, &c);
  ck_assert_str_eq(line, "gc 1 @0.012s 2%: 0.011+1.2+0.003 ms clock, "
                         "0.022+0.10/1.1/0.21+0.006 ms cpu, 4->4->0 MB, 4 MB goal, "
                         "0 MB stacks, 0 MB globals, 2 P\n");
  ck_assert_uint_eq(n, strlen(line));
  c.forced = true;
  c.n = 12;
  c.since_start_ns = 61234000000ull;
  trace_format(line, sizeof line, &c);
  ck_assert(strstr(line, "gc 12 @61.234s ") == line);
  ck_assert(strstr(line, " 2 P (forced)\n") != NULL);
}
END_TEST

/* The regular expression Go's trace readers use for a gctrace line. */
START_TEST(line_parses) {
  regex_t re;
  ck_assert_int_eq(regcomp(&re,
      "^gc [0-9]+ @[0-9]+\\.[0-9]{3}s [0-9]+%: "
      "[0-9.]+\\+[0-9.]+\\+[0-9.]+ ms clock, "
      "[0-9.]+\\+[0-9.]+/[0-9.]+/[0-9.]+\\+[0-9.]+ ms cpu, "
      "[0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, [0-9]+ MB stacks, "
      "[0-9]+ MB globals, [0-9]+ P( \\(forced\\))?\n$", REG_EXTENDED), 0);
  unsigned seed = 7;
  for (int i = 0; i < 10000; i++) {
    trace_cycle_t c = {
      .n = (uint64_t)i + 1, .since_start_ns = (uint64_t)rand_r(&seed) * 1000,
      .cpu_percent = (unsigned)(rand_r(&seed) % 101),
      .stw_ns = (uint64_t)rand_r(&seed), .mark_ns = (uint64_t)rand_r(&seed) % 100000000,
      .term_ns = (uint64_t)rand_r(&seed) % 1000, .bg_cpu_ns = (uint64_t)rand_r(&seed),
      .heap_start = (uint64_t)rand_r(&seed) << 8, .heap_end = (uint64_t)rand_r(&seed) << 8,
      .heap_live = (uint64_t)rand_r(&seed), .goal = (uint64_t)rand_r(&seed) << 10,
      .procs = 1 + rand_r(&seed) % 64, .forced = rand_r(&seed) % 2,
    };
    char line[TRACE_LINE_MAX];
    trace_format(line, sizeof line, &c);
    ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "bad line: %s", line);
  }
  regfree(&re);
}
END_TEST

START_TEST(reclaim_lines) {
  char line[TRACE_LINE_MAX];
  trace_reclaim_t r = {.n = 7, .dry_run = true, .objects = 1234, .bytes = 5u << 20};
  trace_format_reclaim(line, sizeof line, &r);
  ck_assert_str_eq(line, "pacegc gc 7 reclaim off: 1234 objects, 5 MB unreachable; none freed\n");
  r = (trace_reclaim_t){.n = 8, .objects = 10, .bytes = 3u << 20, .kept_objects = 2, .kept_bytes = 100};
  trace_format_reclaim(line, sizeof line, &r);
  ck_assert_str_eq(line, "pacegc gc 8 deferred frees: 10 objects, 3 MB released; 2 objects, 0 MB still referenced\n");
}
END_TEST

/* Go's newer scavtrace line; util truncates, KiB are bytes >> 10. */
START_TEST(scav_lines) {
  char line[TRACE_LINE_MAX];
  trace_scav_t t = {.bg_bytes = 52536u << 10, .eager_bytes = 1023, .released_bytes = 113976u << 10,
                    .inuse_bytes = 199, .free_bytes = 101};
  trace_format_scav(line, sizeof line, &t);
  ck_assert_str_eq(line, "scav 52536 KiB work (bg), 0 KiB work (eager), 113976 KiB now, 66% util\n");
  t = (trace_scav_t){.released_bytes = 616u << 10, .inuse_bytes = 1, .forced = true};
  trace_format_scav(line, sizeof line, &t);
  ck_assert_str_eq(line, "scav 0 KiB work (bg), 0 KiB work (eager), 616 KiB now, 100% util (forced)\n");
}
END_TEST

int main(void) {
  Suite *s = suite_create("trace");
  TCase *tc = tcase_create("format");
  tcase_add_test(tc, ms_rounding);
  tcase_add_test(tc, line_matches_go);
  tcase_add_test(tc, line_parses);
  tcase_add_test(tc, reclaim_lines);
  tcase_add_test(tc, scav_lines);
  suite_add_tcase(s, tc);
  return check_main(s);
}
