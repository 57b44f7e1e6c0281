/* Unit tests for the object index (src/objindex.c). */
#include <check.h>

#include "check_main.h"
#include <pthread.h>
#include <stdlib.h>

#include "objindex.h"

/* The index never touches the memory it describes, so any page-aligned
 * base will do. */
#define BASE ((uintptr_t)0x100000000)
#define SIZE ((size_t)64 << 20)

static objindex_t ix;

static void setup(void) {
  objindex_init(&ix, BASE, SIZE, calloc(1, objindex_states_bytes(SIZE)),
                calloc(1, objindex_marks_bytes(SIZE)), calloc(1, objindex_pages_bytes(SIZE)));
}

static void teardown(void) {
  free((void *)ix.states);
  free((void *)ix.marks);
  free((void *)ix.pages);
}

/* objindex_remove without the sampled answer. */
static size_t rm(objindex_t *x, uintptr_t a) {
  bool sampled;
  return objindex_remove(x, a, &sampled);
}

/* Asserts that addr lies in the allocation [start, start+size). */
static void assert_in(uintptr_t addr, uintptr_t start, size_t size) {
  uintptr_t s = 0;
  size_t z = 0;
  ck_assert_msg(objindex_find(&ix, addr, &s, &z), "no allocation found for %#lx", addr);
  ck_assert_uint_eq(s, start);
  ck_assert_uint_eq(z, size);
}

static void assert_none(uintptr_t addr) {
  uintptr_t s;
  size_t z;
  ck_assert_msg(!objindex_find(&ix, addr, &s, &z), "unexpected allocation for %#lx", addr);
}

START_TEST(small_start_interior_end) {
  uintptr_t a = BASE + 0x1000;
  objindex_insert(&ix, a, 48);
  ck_assert(objindex_is_start(&ix, a));
  ck_assert(!objindex_is_start(&ix, a + 16));
  assert_in(a, a, 48);
  assert_in(a + 1, a, 48);
  assert_in(a + 47, a, 48);   /* last byte */
  assert_none(a + 48);        /* one past the end */
  assert_none(a - 1);
}
END_TEST

START_TEST(neighbours) {
  uintptr_t a = BASE + 0x2000;
  objindex_insert(&ix, a, 48);
  objindex_insert(&ix, a + 48, 48);
  assert_in(a + 47, a, 48);
  assert_in(a + 48, a + 48, 48);
  assert_in(a + 95, a + 48, 48);
  assert_none(a + 96);
}
END_TEST

START_TEST(freed_and_double_free) {
  uintptr_t a = BASE + 0x3000;
  objindex_insert(&ix, a, 64);
  objindex_insert(&ix, a + 64, 64);
  ck_assert_uint_eq(rm(&ix, a + 16), 0);   /* interior: refused */
  ck_assert_uint_eq(rm(&ix, a + 8), 0);    /* misaligned */
  ck_assert_uint_eq(rm(&ix, a), 64);
  ck_assert_uint_eq(rm(&ix, a), 0);        /* double free */
  assert_none(a);
  assert_none(a + 10);
  assert_in(a + 64 + 5, a + 64, 64);
}
END_TEST

START_TEST(outside_range) {
  assert_none(BASE - 1);
  assert_none(BASE + SIZE);
  assert_none(0);
  ck_assert_uint_eq(rm(&ix, BASE - 16), 0);
  ck_assert_uint_eq(rm(&ix, BASE + SIZE), 0);
  ck_assert(!objindex_is_start(&ix, BASE + SIZE));
  objindex_insert(&ix, BASE, 16);     /* the very first granule */
  assert_in(BASE + 15, BASE, 16);
}
END_TEST

START_TEST(small_spanning_pages) {
  /* jemalloc's largest small class spans pages that hold no start. */
  uintptr_t a = BASE + 7 * PAGE_SIZE + 2048;
  objindex_insert(&ix, a, OBJINDEX_SMALL_MAX);
  assert_in(a + 4096, a, OBJINDEX_SMALL_MAX);
  assert_in(a + 14000, a, OBJINDEX_SMALL_MAX);
  assert_in(a + OBJINDEX_SMALL_MAX - 1, a, OBJINDEX_SMALL_MAX);
  assert_none(a + OBJINDEX_SMALL_MAX);
}
END_TEST

START_TEST(large_with_offset) {
  /* Large allocations start at a cache-line offset in their first page. */
  uintptr_t a = BASE + 10 * PAGE_SIZE + 64;
  size_t size = 5 * PAGE_SIZE;
  objindex_insert(&ix, a, size);
  assert_in(a, a, size);
  assert_in(a + 1, a, size);
  assert_in(a + 3 * PAGE_SIZE + 17, a, size);
  assert_in(a + size - 1, a, size);
  assert_none(a + size);
  assert_none(a - 1);
  ck_assert_uint_eq(rm(&ix, a), size);
  for (size_t off = 0; off < size; off += 512) assert_none(a + off);
  /* Pages that were the large allocation's tail now hold small objects. */
  uintptr_t b = BASE + 12 * PAGE_SIZE + 256;
  objindex_insert(&ix, b, 32);
  assert_in(b + 31, b, 32);
  assert_none(BASE + 13 * PAGE_SIZE + 100);
}
END_TEST

START_TEST(large_aligned_and_huge) {
  uintptr_t a = BASE + ((size_t)1 << 20);
  objindex_insert(&ix, a, 16384);
  assert_in(a + 16383, a, 16384);
  uintptr_t h = BASE + ((size_t)8 << 20);
  size_t hs = (size_t)32 << 20;
  objindex_insert(&ix, h, hs);
  assert_in(h + hs / 2 + 3, h, hs);
  assert_in(h + hs - 1, h, hs);
  assert_none(h + hs);
  ck_assert_uint_eq(objindex_size(&ix, h), hs);
}
END_TEST

START_TEST(flag_and_mark) {
  uintptr_t a = BASE + 0x5000;
  ck_assert(!objindex_set_flag(&ix, a));          /* nothing live there */
  objindex_insert(&ix, a, 32);
  objindex_insert(&ix, a + 32, 32);
  ck_assert(!objindex_has_flag(&ix, a));
  ck_assert(objindex_set_flag(&ix, a));
  ck_assert(!objindex_set_flag(&ix, a));          /* already flagged: a double free */
  ck_assert(objindex_has_flag(&ix, a));
  ck_assert(!objindex_has_flag(&ix, a + 32));     /* the neighbour is untouched */
  assert_in(a + 8, a, 32);                        /* a flagged allocation is still found */
  ck_assert_uint_eq(rm(&ix, a), 32); /* removal clears the flag too */
  objindex_insert(&ix, a, 32);
  ck_assert(!objindex_has_flag(&ix, a));          /* so a new allocation starts clean */
  ck_assert(!objindex_is_marked(&ix, a));
  ck_assert(objindex_mark(&ix, a));
  ck_assert(!objindex_mark(&ix, a));
  ck_assert(objindex_is_marked(&ix, a));
  ck_assert(!objindex_is_marked(&ix, a + 32));
}
END_TEST

/* Model check: random non-overlapping allocations laid out like jemalloc's
 * (small ones packed, large ones page-offset), random probes compared with
 * a brute-force answer. */
typedef struct model_obj { uintptr_t start; size_t size; bool live; } model_obj_t;

static const size_t small_classes[] = {16, 32, 48, 64, 80, 96, 112, 128, 160, 192,
                                       224, 256, 320, 384, 448, 512, 640, 768, 1024,
                                       1280, 2048, 2560, 4096, 5120, 8192, 14336};

/* SAMPLED rides on the page entry: sizes ignore it, allocations of the
 * page's class keep it, a page that changes class drops it, and the
 * removal of any allocation in the page reports it. */
START_TEST(sampled_pages) {
  uintptr_t a = BASE + 0x5000;
  objindex_insert(&ix, a, 64);
  objindex_mark_page_sampled(&ix, a, true);
  ck_assert(objindex_page_sampled(&ix, a));
  ck_assert_uint_eq(objindex_size(&ix, a), 64);
  assert_in(a + 63, a, 64);
  objindex_insert(&ix, a + 64, 64);
  ck_assert(objindex_page_sampled(&ix, a + 64));
  bool sampled = false;
  ck_assert_uint_eq(objindex_remove(&ix, a + 64, &sampled), 64);
  ck_assert(sampled);
  ck_assert_uint_eq(objindex_remove(&ix, a, &sampled), 64);
  objindex_insert(&ix, a, 128);             /* the page's next class */
  ck_assert(!objindex_page_sampled(&ix, a));
  ck_assert_uint_eq(objindex_remove(&ix, a, &sampled), 128);
  ck_assert(!sampled);

  uintptr_t big = BASE + 0x10000;           /* large: the head page's entry */
  objindex_insert(&ix, big, 5 * 4096);
  objindex_mark_page_sampled(&ix, big, true);
  objindex_resize_large(&ix, big, 5 * 4096, 8 * 4096);
  ck_assert(objindex_page_sampled(&ix, big));
  assert_in(big + 8 * 4096 - 1, big, 8 * 4096);
  ck_assert_uint_eq(objindex_remove(&ix, big, &sampled), 8 * 4096);
  ck_assert(sampled);
  objindex_mark_page_sampled(&ix, big, false);
  ck_assert(!objindex_page_sampled(&ix, big));
}
END_TEST

START_TEST(model_random) {
  enum { N = 6000, PROBES = 200000 };
  static model_obj_t objs[N];
  unsigned seed = 12345;
  uintptr_t cur = BASE + PAGE_SIZE;
  int n = 0;
  while (n < N - 64) {
    if (rand_r(&seed) % 8 == 0) {
      /* A large allocation: its own extent, one page of slack. */
      size_t size = (size_t)(1 + rand_r(&seed) % 8) * PAGE_SIZE * 4;
      uintptr_t a = cur + (size_t)(rand_r(&seed) % 64) * 64;
      objs[n++] = (model_obj_t){a, size, true};
      cur += size + PAGE_SIZE;
      continue;
    }
    /* A slab: pages holding objects of one size class, some unused. */
    size_t size = small_classes[rand_r(&seed) % (sizeof small_classes / sizeof *small_classes)];
    size_t pages = 1 + (size_t)rand_r(&seed) % 4;
    while (pages * PAGE_SIZE < size) pages++;
    size_t nobj = pages * PAGE_SIZE / size;
    for (size_t j = 0; j < nobj && n < N; j++)
      if (rand_r(&seed) % 10 < 7) objs[n++] = (model_obj_t){cur + j * size, size, true};
    cur += pages * PAGE_SIZE;
  }
  ck_assert(cur < BASE + SIZE);
  for (int i = 0; i < n; i++) objindex_insert(&ix, objs[i].start, objs[i].size);
  for (int i = 0; i < n; i++)
    if (rand_r(&seed) % 3 == 0) {
      ck_assert_uint_eq(rm(&ix, objs[i].start), objs[i].size);
      objs[i].live = false;
    }
  for (int p = 0; p < PROBES; p++) {
    int i = rand_r(&seed) % n;
    uintptr_t addr = objs[i].start - 64 + (uintptr_t)(rand_r(&seed) % (objs[i].size + 128));
    int owner = -1;
    for (int j = i - 8; j <= i + 8; j++)
      if (j >= 0 && j < n && objs[j].live && addr - objs[j].start < objs[j].size) owner = j;
    if (owner < 0) assert_none(addr);
    else assert_in(addr, objs[owner].start, objs[owner].size);
  }
}
END_TEST

/* Threads allocate and free interleaved granules that share bitmap words:
 * no update may be lost. */
#define THREADS 4
#define SLOTS 4096

static void *churn(void *arg) {
  uintptr_t t = (uintptr_t)arg;
  unsigned seed = (unsigned)t + 1;
  bool live[SLOTS] = {false};
  for (int round = 0; round < 200000; round++) {
    int s = rand_r(&seed) % SLOTS;
    uintptr_t a = BASE + ((uintptr_t)s * THREADS + t) * GRANULE;
    if (live[s]) ck_assert_uint_eq(rm(&ix, a), 16);
    else objindex_insert(&ix, a, 16);
    live[s] = !live[s];
  }
  for (int s = 0; s < SLOTS; s++) {
    uintptr_t a = BASE + ((uintptr_t)s * THREADS + t) * GRANULE;
    ck_assert(objindex_is_start(&ix, a) == live[s]);
  }
  return NULL;
}

START_TEST(concurrent_insert_remove) {
  pthread_t th[THREADS];
  for (uintptr_t t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, churn, (void *)t);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
}
END_TEST

/* Several threads free the same allocations: each is owned by one winner. */
static _Atomic long wins;

static void *race_remove(void *arg) {
  (void)arg;
  long mine = 0;
  for (int s = 0; s < SLOTS; s++)
    if (rm(&ix, BASE + (uintptr_t)s * 64) != 0) mine++;
  atomic_fetch_add(&wins, mine);
  return NULL;
}

START_TEST(racing_frees_one_winner) {
  for (int s = 0; s < SLOTS; s++) objindex_insert(&ix, BASE + (uintptr_t)s * 64, 48);
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, race_remove, NULL);
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  ck_assert_int_eq(atomic_load(&wins), SLOTS);
}
END_TEST

static Suite *objindex_suite(void) {
  Suite *s = suite_create("objindex");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, small_start_interior_end);
  tcase_add_test(tc, neighbours);
  tcase_add_test(tc, freed_and_double_free);
  tcase_add_test(tc, outside_range);
  tcase_add_test(tc, small_spanning_pages);
  tcase_add_test(tc, large_with_offset);
  tcase_add_test(tc, large_aligned_and_huge);
  tcase_add_test(tc, flag_and_mark);
  tcase_add_test(tc, sampled_pages);
  tcase_add_test(tc, model_random);
  tcase_add_test(tc, concurrent_insert_remove);
  tcase_add_test(tc, racing_frees_one_winner);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return check_main(objindex_suite());
}
