/* Unit tests for the root set's pure parts: parsing /proc/self/maps lines
 * (src/maps.c) and cutting mappings into root ranges (src/roots.c). */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "maps.h"
#include "roots.h"

/* roots.c reads the heap's range only in roots_collect(), which these
 * tests do not call. */
heap_t heap;

static map_entry_t parse(const char *line) {
  map_entry_t e;
  ck_assert_msg(maps_parse_line(line, strlen(line), &e), "unparsed: %s", line);
  return e;
}

START_TEST(parse_lines) {
  map_entry_t e = parse("7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 ");
  ck_assert_uint_eq(e.lo, 0x7f1e2c000000);
  ck_assert_uint_eq(e.hi, 0x7f1e2c021000);
  ck_assert(e.readable && e.writable && e.private_ && !e.special && e.anon && !e.main_stack);
  e = parse("55d4c5a1b000-55d4c5a1c000 r--p 00001000 fe:00 1234   /usr/bin/prog");
  ck_assert(e.readable && !e.writable && e.private_ && !e.anon);
  e = parse("7ffd1000-7ffd3000 rw-p 00000000 00:00 0                          [stack]");
  ck_assert(!e.special && e.anon && e.main_stack);
  e = parse("7ffd5000-7ffd7000 r--p 00000000 00:00 0                          [vvar]");
  ck_assert(e.special && !e.anon);
  e = parse("7ffd5000-7ffd7000 rw-p 00000000 00:00 0                          [heap]");
  ck_assert(!e.special && e.anon);
  e = parse("7ffd5000-7ffd7000 rw-p 00000000 00:00 0    [anon:pacegc-index]");
  ck_assert(!e.special && e.anon);
  e = parse("1000-2000 rw-s 00000000 00:05 99 /dev/zero (deleted)");
  ck_assert(!e.private_ && e.anon && e.shared_mem && e.kernel_io == KERNEL_IO_NONE);
  e = parse("1000-2000 rw-s 10000000 00:10 1956094    anon_inode:[io_uring]");
  ck_assert(!e.shared_mem && e.kernel_io == KERNEL_IO_URING);
  e = parse("1000-2000 rw-s 00000000 00:12 1945008    /[aio] (deleted)");
  ck_assert(!e.shared_mem && e.kernel_io == KERNEL_IO_AIO);
  map_entry_t bad;
  ck_assert(!maps_parse_line("", 0, &bad));
  ck_assert(!maps_parse_line("zz-10 rw-p", 10, &bad));
  ck_assert(!maps_parse_line("2000-1000 rw-p 0 0:0 0", 22, &bad));
}
END_TEST

START_TEST(normalize_spans) {
  span_t s[] = { {0x5000, 0x6000}, {0x1000, 0x2000}, {0x1800, 0x3000}, {0x3000, 0x3800},
                 {0x9000, 0x9000}, {0x7000, 0x8000} };
  size_t n = spans_normalize(s, sizeof s / sizeof s[0]);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(s[0].lo, 0x1000);
  ck_assert_uint_eq(s[0].hi, 0x3800);     /* overlapping and touching merged */
  ck_assert_uint_eq(s[1].lo, 0x5000);
  ck_assert_uint_eq(s[2].hi, 0x8000);     /* the empty one dropped */
}
END_TEST

/* roots_plan's output, recorded. */
typedef struct got { uintptr_t lo, hi; root_kind_t kind; backing_t backing; } got_t;
static got_t got[64];
static size_t ngot;

static void record(void *arg, uintptr_t lo, uintptr_t hi, root_kind_t kind, backing_t backing) {
  (void)arg;
  ck_assert_uint_lt(ngot, 64);
  got[ngot++] = (got_t){lo, hi, kind, backing};
}

static void plan(const char *line, const span_t *excl, size_t nexcl, const span_t *stk,
                 size_t nstk) {
  map_entry_t e = parse(line);
  roots_env_t env = { .excluded = excl, .nexcluded = nexcl, .stacks = stk, .nstacks = nstk,
                      .emit = record };
  ngot = 0;
  roots_plan(&e, &env);
}

START_TEST(plan_kinds_of_mapping) {
  plan("1000-3000 rw-p 00000000 00:00 0", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 1);
  ck_assert(got[0].lo == 0x1000 && got[0].hi == 0x3000 && got[0].kind == ROOT_GLOBAL &&
            got[0].backing == BACKING_ANON);
  /* Read-only private memory may have been written before it was made so. */
  plan("3000-4000 r--p 00000000 00:00 0", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 1);
  plan("3000-4000 r--p 00001000 fe:00 12 /usr/lib/libx.so", NULL, 0, NULL, 0);
  ck_assert(ngot == 1 && got[0].backing == BACKING_FILE);
  /* Shared memory of no ordinary file's, written here or by a fork's
   * other side: read.  A shared file's pages: not. */
  plan("4000-5000 rw-s 00000000 00:00 0", NULL, 0, NULL, 0);
  ck_assert(ngot == 1 && got[0].backing == BACKING_SHARED);
  plan("4000-5000 rw-s 00000000 00:01 34 /memfd:ring (deleted)", NULL, 0, NULL, 0);
  ck_assert(ngot == 1 && got[0].backing == BACKING_SHARED);
  plan("4000-5000 rw-s 00000000 00:01 35 /dev/zero (deleted)", NULL, 0, NULL, 0);
  ck_assert(ngot == 1 && got[0].backing == BACKING_SHARED);
  plan("4000-5000 rw-s 00000000 00:01 36 /SYSV00000000 (deleted)", NULL, 0, NULL, 0);
  ck_assert(ngot == 1 && got[0].backing == BACKING_SHARED);
  plan("4000-5000 r--s 00000000 00:01 34 /memfd:ring (deleted)", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 0);            /* not writable here */
  plan("4000-5000 rw-s 00000000 fe:00 12 /var/lib/db/data", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 0);            /* a file's */
  plan("4000-5000 ---p 00000000 00:00 0", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 0);            /* unreadable */
  plan("220000-221000 r-xp 00000000 00:00 0 [vdso]", NULL, 0, NULL, 0);
  ck_assert_uint_eq(ngot, 0);
}
END_TEST

/* A mapping the kernel merged: the program's part on either side of
 * bookkeeping is kept, exactly; the bookkeeping is left out whatever its
 * position in the line. */
START_TEST(plan_merged_line_is_cut_exactly) {
  span_t excl[] = { {0x10000, 0x30000} };
  plan("8000-40000 rw-p 00000000 00:00 0", excl, 1, NULL, 0);
  ck_assert_uint_eq(ngot, 2);
  ck_assert(got[0].lo == 0x8000 && got[0].hi == 0x10000);
  ck_assert(got[1].lo == 0x30000 && got[1].hi == 0x40000);
  plan("10000-40000 rw-p 00000000 00:00 0", excl, 1, NULL, 0);    /* bookkeeping first */
  ck_assert(ngot == 1 && got[0].lo == 0x30000 && got[0].hi == 0x40000);
  plan("8000-30000 rw-p 00000000 00:00 0", excl, 1, NULL, 0);     /* bookkeeping last */
  ck_assert(ngot == 1 && got[0].lo == 0x8000 && got[0].hi == 0x10000);
  plan("12000-20000 rw-p 00000000 00:00 0", excl, 1, NULL, 0);    /* inside it */
  ck_assert_uint_eq(ngot, 0);
  span_t many[] = { {0x1000, 0x2000}, {0x3000, 0x4000}, {0x5000, 0x9000} };
  plan("0-8000 rw-p 00000000 00:00 0", many, 3, NULL, 0);
  ck_assert_uint_eq(ngot, 3);
  ck_assert(got[0].lo == 0 && got[0].hi == 0x1000);
  ck_assert(got[1].lo == 0x2000 && got[1].hi == 0x3000);
  ck_assert(got[2].lo == 0x4000 && got[2].hi == 0x5000);
}
END_TEST

START_TEST(plan_stack_parts) {
  /* A stack block merged with an arena below it: the arena stays a global
   * root, the unused part of the stack is excluded, the live part is a
   * stack root. */
  span_t excl[] = { {0x20000, 0x2f000} };
  span_t stk[] = { {0x2f000, 0x30000} };
  plan("10000-30000 rw-p 00000000 00:00 0", excl, 1, stk, 1);
  ck_assert_uint_eq(ngot, 2);
  ck_assert(got[0].lo == 0x10000 && got[0].hi == 0x20000 && got[0].kind == ROOT_GLOBAL);
  ck_assert(got[1].lo == 0x2f000 && got[1].hi == 0x30000 && got[1].kind == ROOT_STACK);
  /* A stack span reaching past the line is cut at the line. */
  span_t tall[] = { {0x18000, 0x50000} };
  plan("10000-30000 rw-p 00000000 00:00 0", NULL, 0, tall, 1);
  ck_assert_uint_eq(ngot, 2);
  ck_assert(got[0].hi == 0x18000 && got[0].kind == ROOT_GLOBAL);
  ck_assert(got[1].lo == 0x18000 && got[1].hi == 0x30000 && got[1].kind == ROOT_STACK);
}
END_TEST

/* A window under RLIMIT_AS: in the largest hole, a limit away from both
 * of its sides, at the top of what is left. */
START_TEST(window_in_largest_hole) {
  const uintptr_t G = (uintptr_t)1 << 30;
  span_t maps[] = { {0x400000, 0x600000}, {0x600000, 2 * G},          /* exe, brk */
                    {100 * G, 101 * G},                                 /* a small hole */
                    {1000 * G, 1001 * G}, {1001 * G, 1002 * G} };       /* libraries */
  uintptr_t w = maps_pick_window(maps, 5, 4 * G, 8 * G, 2 << 20);
  ck_assert_uint_eq(w, 1000 * G - 8 * G - 4 * G);
  /* Too close on either side: nothing. */
  ck_assert_uint_eq(maps_pick_window(maps, 5, 4 * G, 500 * G, 2 << 20), 0);
  span_t tight[] = { {0, G}, {21 * G, 22 * G} };        /* 20 GiB: 4 left past the reach */
  ck_assert_uint_eq(maps_pick_window(tight, 2, 4 * G, 8 * G, 2 << 20), 9 * G);
  ck_assert_uint_eq(maps_pick_window(tight, 2, 5 * G, 8 * G, 2 << 20), 0);
  ck_assert_uint_eq(maps_pick_window(tight, 2, 2 * G, 8 * G, 2 << 20), 11 * G);
}
END_TEST

START_TEST(many_ranges_grow) {
  roots_t r = {0};
  for (uintptr_t i = 0; i < 20000; i++) roots_add(&r, 0x1000 * (i + 1), 0x1000 * (i + 1) + 64, ROOT_GLOBAL);
  ck_assert(!r.overflow);
  ck_assert_uint_eq(r.n, 20000);
  ck_assert_uint_eq(r.ranges[19999].lo, 0x1000 * 20000);
}
END_TEST

int main(void) {
  Suite *s = suite_create("roots");
  TCase *tc = tcase_create("plan");
  tcase_add_test(tc, parse_lines);
  tcase_add_test(tc, normalize_spans);
  tcase_add_test(tc, plan_kinds_of_mapping);
  tcase_add_test(tc, plan_merged_line_is_cut_exactly);
  tcase_add_test(tc, plan_stack_parts);
  tcase_add_test(tc, window_in_largest_hole);
  tcase_add_test(tc, many_ranges_grow);
  suite_add_tcase(s, tc);
  return check_main(s);
}
