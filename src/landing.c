/* Bytes a thread has just received: see landing.h. */
#include "landing.h"

#include <limits.h>
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
  out->fd = call->fd;
  for (unsigned i = 0; i < call->n && got > 0; i++) {
    span_t s = call->s[i];
    size_t len = s.hi - s.lo;
    if (msgs) got--;
    else if (len > got) s.hi = s.lo + got, got = 0;
    else got -= len;
    if (s.hi > s.lo) out->s[out->n++] = s;
  }
}

static void begin(int fd) {
  L.state = LANDING_IDLE;
  atomic_signal_fence(memory_order_seq_cst);
  L.call.n = 0;
  L.call.fd = fd;
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

void landing_begin(int fd, void *buf, size_t len) {
  begin(fd);
  call_add((uintptr_t)buf, len);
  call_open();
}

void landing_begin_iov(int fd, const struct iovec *iov, size_t n) {
  begin(fd);
  for (size_t i = 0; i < n && L.call.n < LANDING_SPANS; i++)
    call_add((uintptr_t)iov[i].iov_base, iov[i].iov_len);
  call_open();
}

void landing_begin_mmsg(int fd, const struct mmsghdr *v, unsigned n) {
  begin(fd);
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
    next->fd = got->fd;
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
  landing_spans_t got = { .n = 0, .fd = L.call.fd };
  for (unsigned i = 0; i < L.call.n && i < (unsigned)r; i++) {
    span_t s = L.call.s[i];
    size_t len = v[i].msg_len;
    if (s.hi - s.lo > len) s.hi = s.lo + len;
    if (s.hi > s.lo) got.s[got.n++] = s;
  }
  finish(&got, (size_t)r);
}

/* ---- the park's side ---- */

/* Whether the `len` bytes of code at `at` are `insn` (code is not
 * aligned: read bytewise). */
static bool insn_at(uintptr_t at, const void *insn, size_t len) {
  return memcmp((const void *)at, insn, len) == 0;
}

/* syscall_got's answer when the thread may be past the call's return but
 * short of landing_end's record of it. */
#define GOT_UNKNOWN SIZE_MAX

/*
 * What a receive the thread was interrupted in has got, from where it
 * stopped:
 *   - right after a system call instruction: the call's return value
 *     (a signal that comes while a thread is in a system call is taken at
 *     the call's return);
 *   - on one: nothing yet (the thread is about to make the call, or the
 *     kernel restarted it for the handler: SA_RESTART moves the pc back
 *     onto the instruction);
 *   - anywhere else: GOT_UNKNOWN.  The thread may be in the code between
 *     the call's return and landing_end (glibc's epilogue, the wrapper),
 *     the bytes in its buffer and their count in no register the park
 *     can name: a stop signalled from another CPU lands there.
 * Where the instruction before the stop cannot be read safely (it would
 * lie on the page below), the return register is taken as it is: the clip
 * to the call's buffers bounds what a wrong guess costs.  Elsewhere the
 * code is read where the thread is about to run it, so it is mapped.
 */
static size_t syscall_got(const ucontext_t *uc) {
#if defined(__x86_64__)
  static const unsigned char insn[] = { 0x0f, 0x05 };   /* syscall */
  uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  long ret = (long)uc->uc_mcontext.gregs[REG_RAX];
#elif defined(__aarch64__)
  static const unsigned char insn[] = { 0x01, 0x00, 0x00, 0xd4 };   /* svc #0 */
  uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
  long ret = (long)uc->uc_mcontext.regs[0];
#else
  (void)uc;
  return GOT_UNKNOWN;
#endif
#if defined(__x86_64__) || defined(__aarch64__)
  uintptr_t in_page = pc & (PAGE_SIZE - 1);
  bool known = in_page >= sizeof insn;
  if (!known || insn_at(pc - sizeof insn, insn, sizeof insn)) return ret > 0 ? (size_t)ret : 0;
  /* The bytes at pc are read only on pc's page: the next one may be
   * unmapped where a shorter instruction ends the code. */
  bool fits = in_page <= PAGE_SIZE - sizeof insn;
  return fits && insn_at(pc, insn, sizeof insn) ? 0 : GOT_UNKNOWN;
#endif
}

/* Appends spans to out; from `open` on if the receive's end is not
 * known. */
static void append(landed_t *out, const landing_spans_t *from, bool open) {
  if (from->n == 0) return;
  if (open) out->open = out->n;
  memcpy(out->s + out->n, from->s, from->n * sizeof *from->s);
  out->n += from->n;
  out->fd = from->fd;
}

static void capture(const landing_t *l, landed_t *out, const ucontext_t *uc) {
  out->n = 0;
  out->open = UINT_MAX;
  out->fd = -1;
  append(out, &l->run[l->cur], false);
  sig_atomic_t state = l->state;
  if (state != LANDING_IDLE) {
    size_t got = state == LANDING_GOT ? l->got : uc != NULL ? syscall_got(uc) : 0;
    landing_spans_t call;
    if (got == GOT_UNKNOWN) {
      /* Received bytes fill the buffers from their front. */
      call_clip(&l->call, false, LANDING_KEEP, &call);
    } else {
      call_clip(&l->call, l->call_msgs, got, &call);
      keep_tail(&call);
    }
    /* Per-message buffers are whole here: where the last ended is not
     * known either. */
    append(out, &call, got == GOT_UNKNOWN || l->call_msgs);
  }
  if (out->open > out->n) out->open = out->n;
}

void landing_capture(landed_t *out, const ucontext_t *uc) { capture(&L, out, uc); }

void landing_copy(landed_t *out, const landing_t *l) { capture(l, out, NULL); }
