/* User-facing messages: see report.h. */
#include "report.h"
#include "checks.h"
#include "meta.h"
#include "os.h"
#include "stderr.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define REPORT_LINE_MAX 512
#define REPORT_FRAMES 24

static _Atomic unsigned long reports_with_stack;

/* A report can call malloc (dladdr, libunwind) which can report again. */
static __thread int in_report;

static void vreport(const char *fmt, va_list ap) {
  CHECK_NOT_STOPPED();
  char line[REPORT_LINE_MAX];
  int n = snprintf(line, sizeof line, "pacegc: ");
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  stderr_write(line, len);
}

/* Reports never change errno: free() must not (glibc 2.33+), and the
 * program may be reading it around a call pacegc complains about. */
void report(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap);
  va_end(ap);
  errno = saved;
}

/* libpacegc.so's loaded segments, found once.  Not with dladdr: it takes
 * the loader's lock, which a thread inside dlopen holds while it runs
 * constructors that may wait for a lock held by the thread allocating
 * here (the heap profile takes stacks inside malloc). */
static _Atomic uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t me = (uintptr_t)arg, lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo) lo = a;
    if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
  }
  if (me < lo || me >= hi) return 0;
  atomic_store(&self_lo, lo);
  atomic_store(&self_hi, hi);
  return 1;
}

/* True for addresses inside libpacegc.so itself. */
static bool in_pacegc(void *ip) {
  if (atomic_load_explicit(&self_hi, memory_order_relaxed) == 0)
    dl_iterate_phdr(find_self, (void *)(uintptr_t)in_pacegc);
  uintptr_t a = (uintptr_t)ip;
  return a >= atomic_load_explicit(&self_lo, memory_order_relaxed) &&
         a < atomic_load_explicit(&self_hi, memory_order_relaxed);
}

static void write_frame(int i, void *ip) {
  char line[REPORT_LINE_MAX];
  Dl_info info;
  int n;
  if (dladdr(ip, &info) && info.dli_fname) {
    if (info.dli_sname)
      n = snprintf(line, sizeof line, "    #%d %p in %s+0x%lx (%s)\n", i, ip,
                   info.dli_sname, (unsigned long)((char *)ip - (char *)info.dli_saddr),
                   info.dli_fname);
    else
      n = snprintf(line, sizeof line, "    #%d %p in %s+0x%lx\n", i, ip,
                   info.dli_fname, (unsigned long)((char *)ip - (char *)info.dli_fbase));
  } else {
    n = snprintf(line, sizeof line, "    #%d %p\n", i, ip);
  }
  if (n > 0) stderr_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void report_frames(const char *heading, void *const *ips, int n) {
  int saved = errno;
  char line[REPORT_LINE_MAX];
  int len = snprintf(line, sizeof line, "  %s:\n", heading);
  if (len > 0) stderr_write(line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
  for (int i = 0; i < n && ips[i]; i++) write_frame(i, ips[i]);
  errno = saved;
}

/* libunwind walks a stack with several KiB of frames of its own: more
 * than a thread on a 16 KiB stack (PTHREAD_STACK_MIN) has left inside
 * malloc, where the heap profile takes its samples (measured: a sample
 * in a new thread's first calloc overflowed one).  It runs on this stack
 * of pacegc's instead, one thread at a time, every signal blocked while
 * it does (a thread stopped here would have its stack pointer off its
 * stack); os_call_on_stack's unwind information leads it back to the
 * caller's frames. */
#define UNWIND_STACK_SIZE ((size_t)64 << 10)

static struct {
  atomic_flag busy;
  char *stack;            /* bookkeeping memory, UNWIND_STACK_SIZE */
} unwind = { .busy = ATOMIC_FLAG_INIT };

typedef struct unwind_job {
  void **all;
  int want, got;
} unwind_job_t;

static void unwind_here(void *arg) {
  unwind_job_t *j = arg;
  j->got = unw_backtrace(j->all, j->want);
}

/* Waits for the stack with signals open (a stop may park the thread
 * meanwhile), and holds it with them blocked: only for the walk. */
static int backtrace_on_own_stack(void **all, int want) {
  unwind_job_t job = { all, want, 0 };
  sigset_t old;
  for (;;) {
    os_block_signals(&old);
    if (!atomic_flag_test_and_set_explicit(&unwind.busy, memory_order_acquire)) break;
    os_restore_signals(&old);
    sched_yield();
  }
  if (unwind.stack == NULL) unwind.stack = meta_map(UNWIND_STACK_SIZE, "pacegc-unwind-stack");
  if (unwind.stack != NULL) os_call_on_stack(unwind.stack + UNWIND_STACK_SIZE, unwind_here, &job);
  atomic_flag_clear_explicit(&unwind.busy, memory_order_release);
  os_restore_signals(&old);
  return job.got;
}

void report_after_fork_child(void) { atomic_flag_clear(&unwind.busy); }

int report_backtrace(void **ips, int max) {
  void *all[64];
  int n = backtrace_on_own_stack(all, max + 16 < 64 ? max + 16 : 64);
  int first = 0;
  while (first < n && in_pacegc(all[first])) first++;
  int k = 0;
  for (int i = first; i < n && k < max; i++) ips[k++] = all[i];
  for (int i = k; i < max; i++) ips[i] = NULL;
  return k;
}

static void write_stack(void) {
  void *ips[REPORT_FRAMES];
  int n = report_backtrace(ips, REPORT_FRAMES);
  for (int i = 0; i < n; i++) write_frame(i, ips[i]);
}

bool report_stack_allowed(void) {
  unsigned long k = atomic_fetch_add(&reports_with_stack, 1);
  if (k == REPORT_STACK_LIMIT)
    report("%d reports printed; further ones are not shown", REPORT_STACK_LIMIT);
  return k < REPORT_STACK_LIMIT;
}

void report_with_stack(const char *fmt, ...) {
  if (in_report) return;
  int saved = errno;
  in_report = 1;
  if (report_stack_allowed()) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    write_stack();
  }
  in_report = 0;
  errno = saved;
}
