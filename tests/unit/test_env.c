/*
 * env.c: config_load() in a real process.  Each test runs this program
 * again with a chosen environment (the configuration is read once, at
 * startup) and checks what the child reports on stdout and the exact
 * lines it wrote on stderr.
 */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

/* The child: the configuration it loaded, on one line. */
static int report(void) {
  const pacegc_config_t *c = config_load();
  if (config_load() != c || config_get() != c) return 2;
  printf("gogc=%d memlimit=%lld maxprocs=%d gctrace=%d free=%d reclaim=%d\n", c->gogc,
         (long long)c->memlimit, c->maxprocs, c->gctrace, (int)c->free_mode, (int)c->reclaim);
  return 0;
}

static char out[4096], err[4096];

static void drain(int fd, char *buf, size_t len) {
  size_t have = 0;
  ssize_t n;
  while (have + 1 < len && (n = read(fd, buf + have, len - 1 - have)) > 0) have += (size_t)n;
  buf[have] = 0;
  close(fd);
}

/* Runs the child with exactly the environment `envp`. */
static void run(char *const envp[]) {
  int o[2], e[2];
  ck_assert_int_eq(pipe(o), 0);
  ck_assert_int_eq(pipe(e), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(o[1], 1);
    dup2(e[1], 2);
    close(o[0]);
    close(e[0]);
    char *argv[] = { "test_env", "child", NULL };
    execve("/proc/self/exe", argv, envp);
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  drain(o[0], out, sizeof out);  /* small outputs: the pipes never fill */
  drain(e[0], err, sizeof err);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %s", err);
}

START_TEST(defaults_without_environment) {
  char *none[] = { NULL };
  run(none);
  int maxprocs;
  long long limit;
  ck_assert_int_eq(sscanf(out, "gogc=100 memlimit=%lld maxprocs=%d", &limit, &maxprocs), 2);
  ck_assert_int_eq(limit, CONFIG_MEMLIMIT_OFF);
  ck_assert_int_ge(maxprocs, 1);
  ck_assert_ptr_nonnull(strstr(out, " gctrace=0 free=0 reclaim=1\n"));
  ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(good_values_are_silent) {
  char *envp[] = { "PATH=/usr/bin", "PACEGC_GOGC=50", "PACEGC_GOMEMLIMIT=64MiB",
                   "PACEGC_GOMAXPROCS=3", "PACEGC_GODEBUG=gctrace=1", "PACEGC_FREE=ignore",
                   "PACEGC_RECLAIM=off", "PACEGC_GOGCX=7", "XPACEGC_GOGC=9", NULL };
  run(envp);
  ck_assert_str_eq(out, "gogc=50 memlimit=67108864 maxprocs=3 gctrace=1 free=2 reclaim=0\n");
  ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(bad_values_give_one_line_each) {
  char *envp[] = { "PACEGC_GOGC=abc", "PACEGC_GOMEMLIMIT=512MB", "PACEGC_GODEBUG=gctrace=2,x",
                   NULL };
  run(envp);
  ck_assert_str_eq(err,
                   "pacegc: PACEGC_GOGC=\"abc\": not a number or \"off\"; using 100\n"
                   "pacegc: PACEGC_GOMEMLIMIT=\"512MB\": Go's suffixes are B, KiB, MiB, GiB, TiB "
                   "(powers of 1024), not MB: write 512MiB; using off\n"
                   "pacegc: PACEGC_GODEBUG=\"x\": not key=value; ignoring it\n");
  ck_assert_ptr_nonnull(strstr(out, "gogc=100 "));
  ck_assert_ptr_nonnull(strstr(out, " gctrace=2 "));
}
END_TEST

START_TEST(suspicious_limit_warns_once) {
  char *envp[] = { "PACEGC_GOMEMLIMIT=2500", NULL };
  run(envp);
  ck_assert_str_eq(err, "pacegc: PACEGC_GOMEMLIMIT=2500 is 2500 bytes; accepted, but did you "
                        "mean 2500MiB?\n");
  ck_assert_ptr_nonnull(strstr(out, " memlimit=2500 "));
}
END_TEST

START_TEST(percent_of_machine_memory) {
  char *envp[] = { "PACEGC_GOMEMLIMIT=50%", NULL };
  run(envp);
  long long limit;
  ck_assert_int_eq(sscanf(out, "gogc=%*d memlimit=%lld", &limit), 1);
  ck_assert_int_gt(limit, 0);
  ck_assert_int_lt(limit, CONFIG_MEMLIMIT_OFF);
  ck_assert_str_eq(err, "");
}
END_TEST

static Suite *env_suite(void) {
  Suite *s = suite_create("env");
  TCase *t = tcase_create("load");
  tcase_add_test(t, defaults_without_environment);
  tcase_add_test(t, good_values_are_silent);
  tcase_add_test(t, bad_values_give_one_line_each);
  tcase_add_test(t, suspicious_limit_warns_once);
  tcase_add_test(t, percent_of_machine_memory);
  suite_add_tcase(s, t);
  return s;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "child") == 0) return report();
  return check_main(env_suite());
}
