/* Unit tests for the root set's pure parts (src/roots.c): parsing
 * /proc/self/maps lines and turning mappings into root ranges. */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "roots.h"

/* roots.c reads the heap's range only in roots_collect(), which these
 * tests do not call. */
heap_t heap;

static map_entry_t parse(const char *line) {
  map_entry_t e;
  ck_assert_msg(roots_parse_maps_line(line, strlen(line), &e), "unparsed: %s", line);
  return e;
}

START_TEST(parse_lines) {
  map_entry_t e = parse("7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 ");
  ck_assert_uint_eq(e.lo, 0x7f1e2c000000);
  ck_assert_uint_eq(e.hi, 0x7f1e2c021000);
  ck_assert(e.readable && e.writable && e.private_ && !e.special);
  ck_assert_int_eq(e.path0, 0);
  e = parse("55d4c5a1b000-55d4c5a1c000 r--p 00001000 fe:00 1234   /usr/bin/prog");
  ck_assert(e.readable && !e.writable && e.private_);
  ck_assert_int_eq(e.path0, '/');
  e = parse("7ffd1000-7ffd3000 rw-p 00000000 00:00 0                          [stack]");
  ck_assert(!e.special);
  e = parse("7ffd5000-7ffd7000 r--p 00000000 00:00 0                          [vvar]");
  ck_assert(e.special);
  e = parse("1000-2000 rw-s 00000000 00:05 99 /dev/zero (deleted)");
  ck_assert(!e.private_);
  map_entry_t bad;
  ck_assert(!roots_parse_maps_line("", 0, &bad));
  ck_assert(!roots_parse_maps_line("zz-10 rw-p", 10, &bad));
  ck_assert(!roots_parse_maps_line("2000-1000 rw-p 0 0:0 0", 22, &bad));
}
END_TEST

static bool meta_at_5000(uintptr_t lo, uintptr_t hi) { (void)hi; return lo == 0x5000; }

START_TEST(plan_ranges) {
  roots_t r = {0};
  uintptr_t sps[] = {0x30800};
  roots_env_t env = {.heap_lo = 0x100000, .heap_hi = 0x200000, .is_meta = meta_at_5000,
                     .sps = sps, .nsps = 1};
  map_entry_t plain = parse("1000-3000 rw-p 00000000 00:00 0");
  map_entry_t ro = parse("3000-4000 r--p 00000000 00:00 0");
  map_entry_t shared = parse("4000-5000 rw-s 00000000 00:00 0");
  map_entry_t meta = parse("5000-6000 rw-p 00000000 00:00 0");
  map_entry_t stack = parse("30000-31000 rw-p 00000000 00:00 0 [stack]");
  map_entry_t over = parse("f0000-210000 rw-p 00000000 00:00 0");
  map_entry_t vdso = parse("220000-221000 rw-p 00000000 00:00 0 [vsyscall]");
  roots_plan(&r, &plain, &env);
  roots_plan(&r, &ro, &env);
  roots_plan(&r, &shared, &env);
  roots_plan(&r, &meta, &env);
  roots_plan(&r, &stack, &env);
  roots_plan(&r, &over, &env);
  roots_plan(&r, &vdso, &env);
  ck_assert_uint_eq(r.n, 4);
  ck_assert_uint_eq(r.ranges[0].lo, 0x1000);
  ck_assert_uint_eq(r.ranges[0].hi, 0x3000);
  ck_assert_int_eq(r.ranges[0].kind, ROOT_GLOBAL);
  ck_assert_uint_eq(r.ranges[1].lo, 0x30800);      /* stack: from the stopped sp up */
  ck_assert_uint_eq(r.ranges[1].hi, 0x31000);
  ck_assert_int_eq(r.ranges[1].kind, ROOT_STACK);
  ck_assert_uint_eq(r.ranges[2].lo, 0xf0000);      /* the heap cut out of a mapping */
  ck_assert_uint_eq(r.ranges[2].hi, 0x100000);
  ck_assert_uint_eq(r.ranges[3].lo, 0x200000);
  ck_assert_uint_eq(r.ranges[3].hi, 0x210000);
  ck_assert_uint_eq(r.stack_bytes, 0x800);
  ck_assert_uint_eq(r.global_bytes, 0x2000 + 0x10000 + 0x10000);
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
  tcase_add_test(tc, plan_ranges);
  tcase_add_test(tc, many_ranges_grow);
  suite_add_tcase(s, tc);
  return check_main(s);
}
