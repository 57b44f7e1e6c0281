/*
 * system.c: the parsers of cgroup and proc file contents, and a smoke test
 * of the probes on this machine.
 */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "system.h"

START_TEST(limit_files) {
  uint64_t v;
  ck_assert(system_parse_limit("max\n", &v));
  ck_assert_uint_eq(v, SYSTEM_NO_LIMIT);
  ck_assert(system_parse_limit("-1\n", &v));
  ck_assert_uint_eq(v, SYSTEM_NO_LIMIT);
  ck_assert(system_parse_limit("536870912\n", &v));
  ck_assert_uint_eq(v, 536870912);
  ck_assert(system_parse_limit("9223372036854771712", &v));  /* v1 "unlimited" */
  ck_assert_uint_eq(v, 9223372036854771712u);
  ck_assert(system_parse_limit("  0 \n", &v));
  ck_assert_uint_eq(v, 0);
  static const char *bad[] = { "", "\n", "maxx", "12x", "-2", "1 2", "x", "-1 5" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(!system_parse_limit(bad[i], &v), "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(cpu_max) {
  uint64_t quota, period;
  ck_assert(system_parse_cpu_max("max 100000\n", &quota, &period));
  ck_assert_uint_eq(quota, SYSTEM_NO_LIMIT);
  ck_assert_uint_eq(period, 100000);
  ck_assert(system_parse_cpu_max("150000 100000\n", &quota, &period));
  ck_assert_uint_eq(quota, 150000);
  ck_assert_uint_eq(period, 100000);
  ck_assert(system_parse_cpu_max("50000 50000", &quota, &period));
  ck_assert_uint_eq(period, 50000);
  ck_assert(system_parse_cpu_max("max\n", &quota, &period));
  ck_assert_uint_eq(period, 100000);
  ck_assert(system_parse_cpu_max("200000\n", &quota, &period));
  ck_assert_uint_eq(quota, 200000);
  ck_assert_uint_eq(period, 100000);
  static const char *bad[] = { "", "max 0", "100 0", "maxx 100000", "100000 abc", "1 2 3", "x 100" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(!system_parse_cpu_max(bad[i], &quota, &period), "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(quota_rule_is_go_1_25) {
  ck_assert_uint_eq(system_quota_cpus(SYSTEM_NO_LIMIT, 100000), SYSTEM_NO_LIMIT);
  ck_assert_uint_eq(system_quota_cpus(50000, 100000), 2);    /* 0.5 CPU: at least 2 */
  ck_assert_uint_eq(system_quota_cpus(100000, 100000), 2);   /* 1 CPU: at least 2 */
  ck_assert_uint_eq(system_quota_cpus(250000, 100000), 3);   /* 2.5 rounds up */
  ck_assert_uint_eq(system_quota_cpus(400000, 100000), 4);
  ck_assert_uint_eq(system_quota_cpus(UINT64_MAX - 1, 1), UINT64_MAX - 1);
  ck_assert_uint_eq(system_quota_cpus(100, 0), SYSTEM_NO_LIMIT);
}
END_TEST

START_TEST(proc_self_cgroup_lines) {
  ck_assert_str_eq(system_cgroup_line("0::/user.slice/session-1.scope", NULL),
                   "/user.slice/session-1.scope");
  ck_assert_str_eq(system_cgroup_line("0::/", NULL), "/");
  ck_assert_ptr_null(system_cgroup_line("4:cpu,cpuacct:/docker/abc", NULL));
  ck_assert_str_eq(system_cgroup_line("4:cpu,cpuacct:/docker/abc", "cpu"), "/docker/abc");
  ck_assert_str_eq(system_cgroup_line("4:cpuacct,cpu:/docker/abc", "cpu"), "/docker/abc");
  ck_assert_ptr_null(system_cgroup_line("5:cpuset:/docker/abc", "cpu"));
  ck_assert_ptr_null(system_cgroup_line("6:cpuacct:/x", "cpu"));
  ck_assert_str_eq(system_cgroup_line("9:memory:/a:b", "memory"), "/a:b");  /* ':' in a path */
  ck_assert_ptr_null(system_cgroup_line("1:name=systemd:/init.scope", "memory"));
  ck_assert_ptr_null(system_cgroup_line("0::/x", "memory"));
  ck_assert_ptr_null(system_cgroup_line("garbage", NULL));
  ck_assert_ptr_null(system_cgroup_line("", "cpu"));
  ck_assert_ptr_null(system_cgroup_line("10::/x", NULL));
}
END_TEST

START_TEST(mountinfo_lines) {
  const char *root, *mount;
  char v2[] = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 "
              "cgroup2 rw,nsdelegate,memory_recursiveprot";
  ck_assert(system_mountinfo_line(v2, NULL, &root, &mount));
  ck_assert_str_eq(root, "/");
  ck_assert_str_eq(mount, "/sys/fs/cgroup");

  char v1[] = "40 30 0:35 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid master:17 - cgroup "
              "cgroup rw,cpu,cpuacct";
  char v1b[sizeof v1], v1c[sizeof v1];
  memcpy(v1b, v1, sizeof v1);
  memcpy(v1c, v1, sizeof v1);
  ck_assert(system_mountinfo_line(v1, "cpu", &root, &mount));
  ck_assert_str_eq(root, "/docker/abc");
  ck_assert_str_eq(mount, "/sys/fs/cgroup/cpu,cpuacct");
  ck_assert(!system_mountinfo_line(v1b, "memory", &root, &mount));
  ck_assert(!system_mountinfo_line(v1c, NULL, &root, &mount));

  char escaped[] = "41 30 0:36 /a\\040b /mnt/my\\040cg\\134x rw - cgroup2 none rw";
  ck_assert(system_mountinfo_line(escaped, NULL, &root, &mount));
  ck_assert_str_eq(root, "/a b");
  ck_assert_str_eq(mount, "/mnt/my cg\\x");

  char other[] = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw";
  ck_assert(!system_mountinfo_line(other, NULL, &root, &mount));
  char noopt[] = "22 1 8:1 / /x rw - cgroup2";
  ck_assert(!system_mountinfo_line(noopt, NULL, &root, &mount));
  char short_line[] = "22 1 8:1 /";
  ck_assert(!system_mountinfo_line(short_line, NULL, &root, &mount));
  char nosep[] = "22 1 8:1 / /x rw cgroup2 cgroup2 rw";
  ck_assert(!system_mountinfo_line(nosep, NULL, &root, &mount));
}
END_TEST

static void expect_dir(const char *mount, const char *root, const char *path, const char *want,
                       size_t want_base) {
  char out[256];
  size_t base = 12345;
  ck_assert_msg(system_cgroup_dir(mount, root, path, out, sizeof out, &base), "%s %s %s", mount,
                root, path);
  ck_assert_str_eq(out, want);
  ck_assert_uint_eq(base, want_base);
}

START_TEST(cgroup_dirs) {
  expect_dir("/sys/fs/cgroup", "/", "/user.slice/a.scope", "/sys/fs/cgroup/user.slice/a.scope", 14);
  expect_dir("/sys/fs/cgroup", "/", "/", "/sys/fs/cgroup", 14);
  expect_dir("/sys/fs/cgroup/", "/", "/x/", "/sys/fs/cgroup/x", 14);
  /* A container whose mount shows only its own subtree. */
  expect_dir("/sys/fs/cgroup/cpu", "/docker/abc", "/docker/abc", "/sys/fs/cgroup/cpu", 18);
  expect_dir("/sys/fs/cgroup/cpu", "/docker/abc", "/docker/abc/sub", "/sys/fs/cgroup/cpu/sub", 18);
  expect_dir("/", "/", "/a", "/a", 0);

  char out[32];
  size_t base;
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/docker/abc", "/docker/abcd", out, sizeof out, &base));
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/docker/abc", "/other", out, sizeof out, &base));
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/", "/../../x", out, sizeof out, &base));
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/", "/a/..", out, sizeof out, &base));
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/", "relative", out, sizeof out, &base));
  ck_assert(!system_cgroup_dir("/sys/fs/cgroup", "/", "/a/very/long/path/that/does/not/fit", out,
                               sizeof out, &base));
  expect_dir("/sys/fs/cgroup", "/", "/a/..b", "/sys/fs/cgroup/a/..b", 14);
}
END_TEST

START_TEST(probes_on_this_machine) {
  int cpus = system_cpus();
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  ck_assert_int_ge(cpus, 1);
  ck_assert_int_le(cpus, online > 0 ? online : 1);
  uint64_t memory = system_memory();
  uint64_t physical = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
  ck_assert_uint_gt(memory, 0);
  ck_assert_uint_le(memory, physical);
  ck_assert_int_eq(system_cpus(), cpus);  /* stable */
}
END_TEST

static Suite *system_suite(void) {
  Suite *s = suite_create("system");
  TCase *t = tcase_create("parsers");
  tcase_add_test(t, limit_files);
  tcase_add_test(t, cpu_max);
  tcase_add_test(t, quota_rule_is_go_1_25);
  tcase_add_test(t, proc_self_cgroup_lines);
  tcase_add_test(t, mountinfo_lines);
  tcase_add_test(t, cgroup_dirs);
  tcase_add_test(t, probes_on_this_machine);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return check_main(system_suite());
}
