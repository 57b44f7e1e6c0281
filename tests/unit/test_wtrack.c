/*
 * wtrack.c on this kernel: pages written since the last protection are
 * reported once, as runs, and protected again; written by the program,
 * by the kernel on its behalf (read into the page) or for the first time
 * (a page never touched); in anonymous memory and in a module's private
 * file-backed data.  Run as root and, through tests/unit/nonroot.sh, as
 * an unprivileged user.
 *
 * Write tracking needs Linux 6.7 (asynchronous write protection and
 * PAGEMAP_SCAN): on an older kernel the suite checks that wtrack_open
 * says so instead.
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "resident.h"
#include "wtrack.h"

#define PAGES 16
#define P 4096u

typedef struct runs {
  uintptr_t lo[PAGES], hi[PAGES];
  int n;
} runs_t;

static bool collect(void *arg, uintptr_t lo, uintptr_t hi) {
  runs_t *r = arg;
  if (r->n < PAGES) {
    r->lo[r->n] = lo;
    r->hi[r->n] = hi;
  }
  r->n++;
  return true;
}

static runs_t written(uintptr_t lo, uintptr_t hi) {
  runs_t r = { .n = 0 };
  ck_assert_msg(wtrack_written(lo, hi, collect, &r), "scan: %s", strerror(errno));
  return r;
}

/* Runs as page indexes from base: want is {first, end, first, end, ...}. */
static void expect_runs(const runs_t *r, uintptr_t base, int n, const int *want) {
  ck_assert_int_eq(r->n, n);
  for (int i = 0; i < n; i++) {
    ck_assert_uint_eq(r->lo[i], base + want[2 * i] * P);
    ck_assert_uint_eq(r->hi[i], base + want[2 * i + 1] * P);
  }
}

static bool kernel_has_it(void) {
  struct utsname u;
  int major = 0, minor = 0;
  if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 7);
}

static bool available(void) {
  wtrack_status_t s = wtrack_open();
  if (!kernel_has_it()) {
    ck_assert_int_ne(s, WTRACK_OK);
    return false;
  }
  ck_assert_msg(s == WTRACK_OK, "write tracking unavailable on Linux 6.7+: %s (%s)",
                wtrack_status_text(s), strerror(wtrack_error()));
  return true;
}

START_TEST(anonymous_pages) {
  if (!available()) return;
  char *m = mmap(NULL, PAGES * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  uintptr_t b = (uintptr_t)m, e = b + PAGES * P;
  memset(m, 1, 4 * P);                      /* populated before, untouched after */
  ck_assert_msg(wtrack_register(b, e), "register: %s", strerror(errno));
  runs_t r = written(b, e);
  expect_runs(&r, b, 0, NULL);
  m[3 * P + 5] = 7;                         /* populated page */
  m[7 * P] = 1;
  m[8 * P + P - 1] = 1;                     /* a run of two */
  m[12 * P + 100] = 1;                      /* never touched before */
  r = written(b, e);
  expect_runs(&r, b, 3, (const int[]){ 3, 4, 7, 9, 12, 13 });
  /* Reported once: protected again as reported. */
  r = written(b, e);
  expect_runs(&r, b, 0, NULL);
  m[8 * P] = 2;
  r = written(b, e);
  expect_runs(&r, b, 1, (const int[]){ 8, 9 });
  /* The kernel's own write, on the program's behalf. */
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(write(fds[1], "abc", 3), 3);
  ck_assert_int_eq(read(fds[0], m + 10 * P, 3), 3);
  close(fds[0]);
  close(fds[1]);
  r = written(b, e);
  expect_runs(&r, b, 1, (const int[]){ 10, 11 });
  /* A last look reports the runs and leaves them written. */
  m[5 * P] = 4;
  for (int look = 0; look < 2; look++) {
    r = (runs_t){ .n = 0 };
    ck_assert(wtrack_written_since(b, e, collect, &r));
    expect_runs(&r, b, 1, (const int[]){ 5, 6 });
  }
  r = written(b, e);
  expect_runs(&r, b, 1, (const int[]){ 5, 6 });
  r = written(b, e);
  expect_runs(&r, b, 0, NULL);
  /* Protecting again forgets what was written. */
  m[1 * P] = 3;
  ck_assert(wtrack_protect(b, e));
  r = written(b, e);
  expect_runs(&r, b, 0, NULL);
  /* Part of the range. */
  m[2 * P] = 3;
  m[14 * P] = 3;
  r = written(b + 8 * P, e);
  expect_runs(&r, b, 1, (const int[]){ 14, 15 });
  wtrack_unregister(b, e);
  munmap(m, PAGES * P);
}
END_TEST

/* More runs than one scan call reports (wtrack.c asks for 64 at a time). */
START_TEST(many_runs) {
  if (!available()) return;
  size_t pages = 512;
  char *m = mmap(NULL, pages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  uintptr_t b = (uintptr_t)m, e = b + pages * P;
  ck_assert(wtrack_register(b, e));
  for (size_t i = 0; i < pages; i += 2) m[i * P] = 1;
  runs_t r = { .n = 0 };
  ck_assert(wtrack_written(b, e, collect, &r));
  ck_assert_int_eq(r.n, (int)pages / 2);
  wtrack_unregister(b, e);
  munmap(m, pages * P);
}
END_TEST

/* A module's initialized data: a private file mapping. */
static char data_pages[4 * P] __attribute__((aligned(4096))) = { 1 };

START_TEST(private_file_data) {
  if (!available()) return;
  uintptr_t b = (uintptr_t)data_pages, e = b + sizeof data_pages;
  ck_assert_msg(wtrack_register(b, e), "register .data: %s", strerror(errno));
  data_pages[2 * P + 9] = 5;
  runs_t r = written(b, e);
  expect_runs(&r, b, 1, (const int[]){ 2, 3 });
  wtrack_unregister(b, e);
}
END_TEST

/* Protection leaves pte markers on the never-touched pages of the range,
 * which pagemap shows as swapped out: the root scan (resident.c) must not
 * take them for pages that hold data, or it would read, and so allocate,
 * every one of them. */
static bool count_pages(void *arg, uintptr_t lo, uintptr_t hi) {
  *(size_t *)arg += (hi - lo) / P;
  return true;
}

/* Whether pagemap shows the swap type of the entry for page a (it does
 * with CAP_SYS_ADMIN): only then can a marker be told from a page in
 * swap, and the collector protects the program's mappings after taking
 * the root set (dirty.h). */
static bool swap_types_shown(uintptr_t a) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  uint64_t w = 0;
  bool ok = fd >= 0 && pread(fd, &w, 8, (off_t)(a / P * 8)) == 8;
  if (fd >= 0) close(fd);
  return ok && (w >> 62 & 1) && (w & 0x1f) == 0x1f;
}

START_TEST(markers_are_not_resident) {
  if (!available()) return;
  char *m = mmap(NULL, PAGES * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  uintptr_t b = (uintptr_t)m, e = b + PAGES * P;
  m[0] = 1;
  m[5 * P] = 1;
  ck_assert(wtrack_register(b, e));
  runs_t r = written(b, e);
  (void)r;
  resident_prepare();
  size_t pages = 0;
  ck_assert(resident_runs(b, e, BACKING_ANON, count_pages, &pages));
  if (swap_types_shown(b + P)) {
    ck_assert_int_eq(pages, 2);
    m[9 * P] = 1;                           /* populated while protected */
    pages = 0;
    ck_assert(resident_runs(b, e, BACKING_ANON, count_pages, &pages));
    ck_assert_int_eq(pages, 3);
  } else {
    ck_assert_int_ge(pages, 2);             /* markers look swapped out */
  }
  wtrack_unregister(b, e);
  munmap(m, PAGES * P);
}
END_TEST

/* Unregistered memory is an error, not a silent "nothing written". */
START_TEST(unregistered_is_an_error) {
  if (!available()) return;
  char *m = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(m != MAP_FAILED);
  m[0] = 1;
  runs_t r = { .n = 0 };
  ck_assert(!wtrack_written((uintptr_t)m, (uintptr_t)m + 4 * P, collect, &r));
  munmap(m, 4 * P);
}
END_TEST

static Suite *wtrack_suite(void) {
  Suite *s = suite_create("wtrack");
  TCase *t = tcase_create("kernel");
  tcase_add_test(t, anonymous_pages);
  tcase_add_test(t, many_runs);
  tcase_add_test(t, private_file_data);
  tcase_add_test(t, markers_are_not_resident);
  tcase_add_test(t, unregistered_is_an_error);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return check_main(wtrack_suite());
}
