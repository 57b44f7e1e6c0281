/* Unit tests for the metrics file's text (src/metrics.c): Prometheus's
 * text exposition format, every family with HELP and TYPE, the pause
 * histogram cumulative, seconds exact, and a buffer too small for all of
 * it gives nothing rather than half a file. */
#include <check.h>

#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static char text[16384];

static metrics_t sample(void) {
  metrics_t m;
  memset(&m, 0, sizeof m);
  m.stats.num_gc = 7;
  m.stats.num_forced_gc = 2;
  m.stats.heap_goal = 8u << 20;
  m.stats.memory_limit = INT64_MAX;
  m.stats.gogc = -1;
  m.stats.gc_cpu_ns = 1500000001;
  m.stats.limiter_last_enabled = 5;
  m.reclaimed_bytes = 4096;
  m.reclaimed_objects = 3;
  m.bad_frees = 1;
  m.limiter_engagements = 2;
  metrics_hist_add(&m.pauses, 5000);         /* 5 us: first bucket */
  metrics_hist_add(&m.pauses, 10000);        /* exactly 10 us: first bucket too */
  metrics_hist_add(&m.pauses, 2000000);      /* 2 ms: le 0.005 */
  metrics_hist_add(&m.pauses, 7000000000);   /* 7 s: only +Inf */
  return m;
}

/* The line that starts with `start`, as it stands, or "". */
static const char *line(const char *start) {
  static char out[256];
  size_t n = strlen(start);
  for (const char *p = text; *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len >= n && strncmp(p, start, n) == 0 && len < sizeof out) {
      memcpy(out, p, len);
      out[len] = 0;
      return out;
    }
    p += len + (eol != NULL);
  }
  return "";
}

START_TEST(values) {
  metrics_t m = sample();
  ck_assert_uint_gt(metrics_format(text, sizeof text, &m), 0);
  ck_assert_str_eq(line("pacegc_gc_cycles_total "), "pacegc_gc_cycles_total 7");
  ck_assert_str_eq(line("pacegc_gc_cycles_forced_total "), "pacegc_gc_cycles_forced_total 2");
  ck_assert_str_eq(line("pacegc_gc_heap_goal_bytes "), "pacegc_gc_heap_goal_bytes 8388608");
  ck_assert_str_eq(line("pacegc_gc_gomemlimit_bytes "),
                   "pacegc_gc_gomemlimit_bytes 9223372036854775807");
  ck_assert_str_eq(line("pacegc_gc_gogc_percent "), "pacegc_gc_gogc_percent -1");
  ck_assert_str_eq(line("pacegc_gc_cpu_seconds_total "), "pacegc_gc_cpu_seconds_total 1.500000001");
  ck_assert_str_eq(line("pacegc_gc_reclaimed_bytes_total "), "pacegc_gc_reclaimed_bytes_total 4096");
  ck_assert_str_eq(line("pacegc_bad_frees_total "), "pacegc_bad_frees_total 1");
  ck_assert_str_eq(line("pacegc_gc_limiter_engagements_total "),
                   "pacegc_gc_limiter_engagements_total 2");
  ck_assert_str_eq(line("pacegc_gc_limiter_last_enabled_gc_cycle "),
                   "pacegc_gc_limiter_last_enabled_gc_cycle 5");
}
END_TEST

START_TEST(histogram) {
  metrics_t m = sample();
  ck_assert_uint_gt(metrics_format(text, sizeof text, &m), 0);
  ck_assert_str_eq(line("# TYPE pacegc_gc_pause_seconds "),
                   "# TYPE pacegc_gc_pause_seconds histogram");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_bucket{le=\"1e-05\"}"),
                   "pacegc_gc_pause_seconds_bucket{le=\"1e-05\"} 2");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_bucket{le=\"0.001\"}"),
                   "pacegc_gc_pause_seconds_bucket{le=\"0.001\"} 2");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_bucket{le=\"0.005\"}"),
                   "pacegc_gc_pause_seconds_bucket{le=\"0.005\"} 3");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_bucket{le=\"5\"}"),
                   "pacegc_gc_pause_seconds_bucket{le=\"5\"} 3");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_bucket{le=\"+Inf\"}"),
                   "pacegc_gc_pause_seconds_bucket{le=\"+Inf\"} 4");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_sum "), "pacegc_gc_pause_seconds_sum 7.002015000");
  ck_assert_str_eq(line("pacegc_gc_pause_seconds_count "), "pacegc_gc_pause_seconds_count 4");
}
END_TEST

/* Every sample line's family has a HELP and a TYPE line before it. */
START_TEST(families_described) {
  metrics_t m = sample();
  ck_assert_uint_gt(metrics_format(text, sizeof text, &m), 0);
  int samples = 0;
  char family[128] = "";
  for (char *p = text; *p;) {
    char *eol = strchr(p, '\n');
    ck_assert_ptr_nonnull(eol);   /* every line ends */
    *eol = 0;
    if (strncmp(p, "# HELP ", 7) == 0) {
      sscanf(p + 7, "%127s", family);
    } else if (strncmp(p, "# TYPE ", 7) == 0) {
      char name[128];
      sscanf(p + 7, "%127s", name);
      ck_assert_str_eq(name, family);
    } else {
      ck_assert_msg(strncmp(p, family, strlen(family)) == 0, "%s outside %s", p, family);
      samples++;
    }
    *eol = '\n';
    p = eol + 1;
  }
  ck_assert_int_ge(samples, 20);
}
END_TEST

START_TEST(too_small) {
  metrics_t m = sample();
  size_t full = metrics_format(text, sizeof text, &m);
  ck_assert_uint_gt(full, 0);
  ck_assert_uint_eq(metrics_format(text, full, &m), 0);   /* no room for the NUL */
  ck_assert_str_eq(text, "");
  ck_assert_uint_eq(metrics_format(text, full + 1, &m), full);
}
END_TEST

int main(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("format");
  tcase_add_test(tc, values);
  tcase_add_test(tc, histogram);
  tcase_add_test(tc, families_described);
  tcase_add_test(tc, too_small);
  suite_add_tcase(s, tc);
  return check_main(s);
}
