/*
 * landing.c: the record of what a thread received last, as its park
 * sees it — runs extended and cut to LANDING_KEEP, scattered and
 * per-message receives clipped to what they got, a receive the thread
 * was parked in read from the interrupted context, and the descriptor
 * the latest bytes came from.
 */
#include <check.h>

#include "check_main.h"
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "landing.h"
#include "threads.h"

/* threads.c is not linked: the record lives here. */
__thread thread_ctl_t thread_ctl __attribute__((tls_model("initial-exec")));

static char buf[256 << 10];
#define B(off) ((uintptr_t)buf + (off))

static landed_t seen(const ucontext_t *uc) {
  landed_t l;
  memset(&l, 0xa5, sizeof l);
  landing_capture(&l, uc);
  return l;
}

static void expect(const landed_t *l, unsigned n, const span_t *want) {
  ck_assert_uint_eq(l->n, n);
  for (unsigned i = 0; i < n; i++) {
    ck_assert_msg(l->s[i].lo == want[i].lo && l->s[i].hi == want[i].hi,
                  "span %u: [%#lx, %#lx), want [%#lx, %#lx)", i, (unsigned long)l->s[i].lo,
                  (unsigned long)l->s[i].hi, (unsigned long)want[i].lo,
                  (unsigned long)want[i].hi);
  }
}

static void receive(uintptr_t at, size_t len, ssize_t got) {
  landing_begin(3, (void *)at, len);
  landing_end(got);
}

static void setup(void) {
  memset(&thread_ctl, 0, sizeof thread_ctl);
}

START_TEST(runs) {
  landed_t l = seen(NULL);
  ck_assert_uint_eq(l.n, 0);
  ck_assert_int_eq(l.fd, -1);
  receive(B(0), 100, 40);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(0), B(40) } });
  ck_assert_int_eq(l.fd, 3);
  ck_assert_uint_eq(l.open, 1);
  /* Nothing received, or an error: the run stays. */
  receive(B(40), 100, 0);
  receive(B(40), 100, -1);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(0), B(40) } });
  /* Right after the run's bytes: extends it (a stream read in pieces). */
  receive(B(40), 100, 20);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(0), B(60) } });
  /* Anywhere else: a new run. */
  receive(B(1000), 16, 16);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(1000), B(1016) } });
}
END_TEST

START_TEST(keeps_the_latest_bytes) {
  size_t piece = 40 << 10;
  for (int i = 0; i < 3; i++) receive(B(i * piece), piece, (ssize_t)piece);
  landed_t l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(3 * piece - LANDING_KEEP), B(3 * piece) } });
  /* One receive of more than LANDING_KEEP: its last bytes. */
  receive(B(0), sizeof buf, sizeof buf);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(sizeof buf - LANDING_KEEP), B(sizeof buf) } });
}
END_TEST

START_TEST(scattered) {
  struct iovec iov[LANDING_SPANS + 2];
  for (int i = 0; i < LANDING_SPANS + 2; i++)
    iov[i] = (struct iovec){ (void *)B(1000 * (size_t)i), 10 * ((size_t)i + 1) };
  landing_begin_iov(3, iov, 3);
  landing_end(25);   /* 10 + 15 of 10 + 20 + 30 */
  landed_t l = seen(NULL);
  expect(&l, 2, (span_t[]){ { B(0), B(10) }, { B(1000), B(1015) } });
  /* Past LANDING_SPANS buffers nothing is recorded. */
  landing_begin_iov(3, iov, LANDING_SPANS + 2);
  landing_end(100000);
  l = seen(NULL);
  ck_assert_uint_eq(l.n, LANDING_SPANS);
  ck_assert(l.s[LANDING_SPANS - 1].hi == B(1000 * (LANDING_SPANS - 1)) + 10 * LANDING_SPANS);
  /* Empty buffers are no spans. */
  iov[1].iov_len = 0;
  landing_begin_iov(3, iov, 3);
  landing_end(40);
  l = seen(NULL);
  expect(&l, 2, (span_t[]){ { B(0), B(10) }, { B(2000), B(2030) } });
}
END_TEST

START_TEST(messages) {
  struct iovec iov[3];
  struct mmsghdr v[3];
  memset(v, 0, sizeof v);
  for (int i = 0; i < 3; i++) {
    iov[i] = (struct iovec){ (void *)B(4096 * (size_t)i), 64 };
    v[i].msg_hdr.msg_iov = &iov[i];
    v[i].msg_hdr.msg_iovlen = 1;
  }
  landing_begin_mmsg(3, v, 3);
  v[0].msg_len = 7;
  v[1].msg_len = 64;
  v[2].msg_len = 9;   /* not received: r is 2 */
  landing_end_mmsg(v, 2);
  landed_t l = seen(NULL);
  expect(&l, 2, (span_t[]){ { B(0), B(7) }, { B(4096), B(4160) } });
  ck_assert_uint_eq(l.open, l.n);
  /* Between the call's return and the update, each buffer is whole:
   * where the last message ended is not known. */
  landing_begin_mmsg(5, v, 3);
  thread_ctl.landing.got = 2;
  thread_ctl.landing.state = LANDING_GOT;
  l = seen(NULL);
  expect(&l, 4, (span_t[]){ { B(0), B(7) }, { B(4096), B(4160) }, { B(0), B(64) },
                            { B(4096), B(4160) } });
  ck_assert_uint_eq(l.open, 2);
  ck_assert_int_eq(l.fd, 5);
}
END_TEST

#if defined(__x86_64__)
/* A context stopped at `pc` with `ret` in the return register. */
static ucontext_t context_at(uintptr_t pc, long ret) {
  ucontext_t uc;
  memset(&uc, 0, sizeof uc);
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
  uc.uc_mcontext.gregs[REG_RAX] = ret;
  return uc;
}

/* Parked inside a receive: what it got is the system call's result when
 * the thread stopped right after the instruction, else nothing yet. */
START_TEST(parked_in_a_receive) {
  unsigned char *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(code != MAP_FAILED);
  /* At an odd address, as code is: the check reads the bytes before pc
   * one by one (the sanitizer build caught a 2-byte load here). */
  code[101] = 0x0f;
  code[102] = 0x05;   /* syscall */
  receive(B(0), 100, 50);
  landing_begin(3, (void *)B(8192), 4096);
  ucontext_t uc = context_at((uintptr_t)code + 103, 30);
  landed_t l = seen(&uc);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(8192), B(8222) } });
  /* More than the buffer: the buffer (a wrong register costs no more). */
  uc = context_at((uintptr_t)code + 103, 1 << 20);
  l = seen(&uc);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(8192), B(12288) } });
  ck_assert_int_eq(l.fd, 3);
  ck_assert_uint_eq(l.open, l.n);
  /* Blocked (restarted: pc back on the instruction) or interrupted
   * (-EINTR): nothing landed yet. */
  uc = context_at((uintptr_t)code + 101, 30);
  l = seen(&uc);
  expect(&l, 1, (span_t[]){ { B(0), B(50) } });
  uc = context_at((uintptr_t)code + 103, -4);
  l = seen(&uc);
  expect(&l, 1, (span_t[]){ { B(0), B(50) } });
  /* Elsewhere, as between the call's return and the wrapper's record
   * (glibc's epilogue): the bytes got are not known, the buffer's front
   * may hold them and the receive may have ended anywhere in it. */
  uc = context_at((uintptr_t)code + 50, 30);
  l = seen(&uc);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(8192), B(12288) } });
  ck_assert_uint_eq(l.open, 1);
  landing_begin(4, (void *)B(0), sizeof buf);
  l = seen(&uc);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(0), B(LANDING_KEEP) } });
  ck_assert_uint_eq(l.open, 1);
  ck_assert_int_eq(l.fd, 4);
  landing_begin(3, (void *)B(8192), 4096);
  /* At a page's first byte the instruction before is not read: the
   * register is taken as it is. */
  uc = context_at((uintptr_t)code + 4096, 30);
  l = seen(&uc);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(8192), B(8222) } });
  /* Between the call's return and the record's update: the count the
   * wrapper saved. */
  thread_ctl.landing.got = 12;
  thread_ctl.landing.state = LANDING_GOT;
  l = seen(NULL);
  expect(&l, 2, (span_t[]){ { B(0), B(50) }, { B(8192), B(8204) } });
  landing_end(12);
  l = seen(NULL);
  expect(&l, 1, (span_t[]){ { B(8192), B(8204) } });
  munmap(code, 4096);
}
END_TEST
#endif

static Suite *landing_suite(void) {
  Suite *s = suite_create("landing");
  TCase *t = tcase_create("record");
  tcase_add_checked_fixture(t, setup, NULL);
  tcase_add_test(t, runs);
  tcase_add_test(t, keeps_the_latest_bytes);
  tcase_add_test(t, scattered);
  tcase_add_test(t, messages);
#if defined(__x86_64__)
  tcase_add_test(t, parked_in_a_receive);
#endif
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  return check_main(landing_suite());
}
