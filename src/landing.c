/* Bytes a thread has just received: see landing.h. */
#include "landing.h"

#include <stdatomic.h>
#include <string.h>

#include "threads.h"

#define L (thread_ctl.landing)

/* Keeps the last LANDING_KEEP bytes of s[0..n), dropping whole spans
 * from the front and cutting the first one kept. */
static void keep_tail(landing_spans_t *s) {
  size_t total = 0;
  unsigned first = s->n;
  while (first > 0 && total < LANDING_KEEP) {
    first--;
    total += s->s[first].hi - s->s[first].lo;
  }
  if (total > LANDING_KEEP) s->s[first].lo += total - LANDING_KEEP;
  if (first > 0) memmove(s->s, s->s + first, (s->n - first) * sizeof *s->s);
  s->n -= first;
}

/* The call's buffers cut to the first `got` bytes (per buffer when they
 * are messages: got counts the messages, each buffer is whole). */
static void call_clip(const landing_spans_t *call, bool msgs, size_t got, landing_spans_t *out) {
  out->n = 0;
  for (unsigned i = 0; i < call->n && got > 0; i++) {
    span_t s = call->s[i];
    size_t len = s.hi - s.lo;
    if (msgs) got--;
    else if (len > got) s.hi = s.lo + got, got = 0;
    else got -= len;
    if (s.hi > s.lo) out->s[out->n++] = s;
  }
}

static void begin(void) {
  L.state = LANDING_IDLE;
  atomic_signal_fence(memory_order_seq_cst);
  L.call.n = 0;
  L.call_msgs = false;
}

static void call_add(uintptr_t base, size_t len) {
  if (len > 0 && L.call.n < LANDING_SPANS)
    L.call.s[L.call.n++] = (span_t){ base, base + len };
}

/* From here on the park reads the call's buffers (program order on one
 * thread: the compiler must not sink the stores above past this one). */
static void call_open(void) {
  atomic_signal_fence(memory_order_seq_cst);
  L.state = LANDING_CALL;
}

void landing_begin(void *buf, size_t len) {
  begin();
  call_add((uintptr_t)buf, len);
  call_open();
}

void landing_begin_iov(const struct iovec *iov, size_t n) {
  begin();
  for (size_t i = 0; i < n && L.call.n < LANDING_SPANS; i++)
    call_add((uintptr_t)iov[i].iov_base, iov[i].iov_len);
  call_open();
}

void landing_begin_mmsg(const struct mmsghdr *v, unsigned n) {
  begin();
  L.call_msgs = true;
  for (unsigned i = 0; i < n && L.call.n < LANDING_SPANS; i++) {
    const struct msghdr *h = &v[i].msg_hdr;
    /* Message i's spans sit at index i (landing_end_mmsg reads them so),
     * an empty one where it has no buffer. */
    bool has = h->msg_iovlen > 0 && h->msg_iov != NULL;
    uintptr_t base = has ? (uintptr_t)h->msg_iov[0].iov_base : 0;
    L.call.s[L.call.n++] = (span_t){ base, has ? base + h->msg_iov[0].iov_len : 0 };
  }
  call_open();
}

/* got bytes (clipped) become the run, extending it if they follow its
 * last bytes; written to the idle copy, then flipped to. */
static void run_update(const landing_spans_t *got) {
  const landing_spans_t *old = &L.run[L.cur];
  landing_spans_t *next = &L.run[!L.cur];
  if (got->n == 1 && old->n > 0 && old->s[old->n - 1].hi == got->s[0].lo) {
    *next = *old;
    next->s[next->n - 1].hi = got->s[0].hi;
  } else {
    *next = *got;
  }
  keep_tail(next);
  atomic_signal_fence(memory_order_seq_cst);
  L.cur = !L.cur;
}

/* A receive's end: `got` (already clipped) is published for the park
 * before the run is rewritten, so either covers the bytes at any time. */
static void finish(const landing_spans_t *got, size_t r) {
  L.got = r;
  atomic_signal_fence(memory_order_seq_cst);
  L.state = LANDING_GOT;
  if (got->n > 0) run_update(got);
  atomic_signal_fence(memory_order_seq_cst);
  L.state = LANDING_IDLE;
}

void landing_end(ssize_t r) {
  if (r <= 0) {
    L.state = LANDING_IDLE;
    return;
  }
  landing_spans_t got;
  call_clip(&L.call, false, (size_t)r, &got);
  finish(&got, (size_t)r);
}

void landing_end_mmsg(const struct mmsghdr *v, int r) {
  if (r <= 0) {
    L.state = LANDING_IDLE;
    return;
  }
  landing_spans_t got = { .n = 0 };
  for (unsigned i = 0; i < L.call.n && i < (unsigned)r; i++) {
    span_t s = L.call.s[i];
    size_t len = v[i].msg_len;
    if (s.hi - s.lo > len) s.hi = s.lo + len;
    if (s.hi > s.lo) got.s[got.n++] = s;
  }
  finish(&got, (size_t)r);
}

/* ---- the park's side ---- */

/*
 * What a receive the thread was interrupted in has got: the system call's
 * return value when the thread stopped right after a system call
 * instruction, else nothing yet (it is blocked in the call, about to make
 * it, or past the wrapper's own bookkeeping).  Where the instruction
 * before the stop cannot be read safely (it would lie on the page below),
 * the return register is taken as it is: the clip to the call's buffers
 * bounds what a wrong guess costs.
 */
/* Whether the instruction of `len` bytes before pc is `insn` (code is
 * not aligned: read bytewise). */
static bool insn_before(uintptr_t pc, const void *insn, size_t len) {
  return memcmp((const void *)(pc - len), insn, len) == 0;
}

static size_t syscall_got(const ucontext_t *uc) {
#if defined(__x86_64__)
  static const unsigned char syscall_insn[] = { 0x0f, 0x05 };
  uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  long ret = (long)uc->uc_mcontext.gregs[REG_RAX];
  bool known = (pc & (PAGE_SIZE - 1)) >= sizeof syscall_insn;
  bool after = known && insn_before(pc, syscall_insn, sizeof syscall_insn);
#elif defined(__aarch64__)
  static const unsigned char svc_insn[] = { 0x01, 0x00, 0x00, 0xd4 };   /* svc #0 */
  uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
  long ret = (long)uc->uc_mcontext.regs[0];
  bool known = (pc & (PAGE_SIZE - 1)) >= sizeof svc_insn;
  bool after = known && insn_before(pc, svc_insn, sizeof svc_insn);
#else
  long ret = 0;
  bool known = true, after = false;
  (void)uc;
#endif
  return (after || !known) && ret > 0 ? (size_t)ret : 0;
}

static void capture(const landing_t *l, landed_t *out, const ucontext_t *uc) {
  const landing_spans_t *run = &l->run[l->cur];
  memcpy(out->s, run->s, run->n * sizeof *run->s);
  out->n = run->n;
  sig_atomic_t state = l->state;
  if (state == LANDING_IDLE) return;
  size_t got = state == LANDING_GOT ? l->got : uc != NULL ? syscall_got(uc) : 0;
  landing_spans_t call;
  call_clip(&l->call, l->call_msgs, got, &call);
  keep_tail(&call);
  memcpy(out->s + out->n, call.s, call.n * sizeof *call.s);
  out->n += call.n;
}

void landing_capture(landed_t *out, const ucontext_t *uc) { capture(&L, out, uc); }

void landing_copy(landed_t *out, const landing_t *l) { capture(l, out, NULL); }
