/* The process layer: see os.h. */
#include "os.h"

#include "checks.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

/* ---- system calls ---- */

long os_syscall6(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
#else
#error "os_syscall6: unsupported architecture"
#endif
}

pid_t os_gettid(void) { return (pid_t)os_syscall0(SYS_gettid); }
pid_t os_getpid(void) { return (pid_t)os_syscall0(SYS_getpid); }

int os_openat(int dirfd, const char *path, int flags) {
  return (int)os_syscall4(SYS_openat, dirfd, path, flags | O_CLOEXEC, 0);
}

int os_open(const char *path, int flags) { return os_openat(AT_FDCWD, path, flags); }
int os_close(int fd) { return (int)os_syscall1(SYS_close, fd); }
ssize_t os_read(int fd, void *buf, size_t n) { return os_syscall3(SYS_read, fd, buf, n); }
ssize_t os_pread(int fd, void *buf, size_t n, off_t off) {
  return os_syscall4(SYS_pread64, fd, buf, n, off);
}
ssize_t os_write(int fd, const void *buf, size_t n) { return os_syscall3(SYS_write, fd, buf, n); }

#define KERNEL_SIGSET_BYTES (_NSIG / 8)

void os_sigmask(int how, const sigset_t *set, sigset_t *old) {
  os_syscall4(SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_BYTES);
}

void os_block_signals(sigset_t *old) {
  sigset_t all;
  sigfillset(&all);
  static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&all, faults[i]);
  os_sigmask(SIG_BLOCK, &all, old);
}

void os_restore_signals(const sigset_t *old) { os_sigmask(SIG_SETMASK, old, NULL); }

extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

int os_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  return __sigaction(sig, act, old);
}

void os_spin_lock(atomic_flag *lock, sigset_t *old) {
  os_block_signals(old);
  while (atomic_flag_test_and_set_explicit(lock, memory_order_acquire)) {}
}

void os_spin_unlock(atomic_flag *lock, const sigset_t *old) {
  atomic_flag_clear_explicit(lock, memory_order_release);
  os_restore_signals(old);
}

int os_tgkill(pid_t tid, int sig) { return (int)os_syscall3(SYS_tgkill, os_getpid(), tid, sig); }

int os_sigqueue_thread(pid_t tid, int sig, int code, void *value) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = code;
  si.si_pid = os_getpid();
  si.si_uid = (uid_t)os_syscall0(SYS_getuid);
  si.si_value.sival_ptr = value;
  return (int)os_syscall4(SYS_rt_tgsigqueueinfo, si.si_pid, tid, sig, &si);
}

int os_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
  long r = os_syscall6(SYS_futex, (long)word, FUTEX_WAIT_PRIVATE, expected,
                       timeout_ns < 0 ? 0 : (long)&ts, 0, 0);
  return r < 0 ? (int)r : 0;
}

void os_futex_wake(_Atomic uint32_t *word, int n) {
  os_syscall6(SYS_futex, (long)word, FUTEX_WAKE_PRIVATE, n, 0, 0, 0);
}

/* ---- clocks (the vDSO: no system call, errno untouched on success) ---- */

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t os_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t os_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

int64_t os_process_cpu_ns(void) { return (int64_t)clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

/* ---- the /proc/self files ---- */

/* Kept descriptors go this far below the soft RLIMIT_NOFILE (at most
 * 1024, so a huge limit does not make the kernel grow the table to it):
 * far from the low numbers programs expect open() to return in order. */
#define FD_HEADROOM 24
#define FD_TOP_MAX 1024

typedef struct proc_file {
  const char *path;
  int flags;
  int fd;           /* -1 when none */
  pid_t pid;        /* the process it was opened in */
  dev_t dev;        /* the identity of what it was opened on */
  ino_t ino;
} proc_file_t;

static struct {
  proc_file_t files[OS_PROC_COUNT];
  int seccomp_mode0;              /* PR_GET_SECCOMP at start-up */
  _Atomic bool seccomp_changed;   /* the program installed a filter since */
  atomic_flag lock;               /* guards files[].fd against os_vacate_fd */
  _Atomic int trace_fd;           /* os_keep_trace_fd; -1: none */
  _Atomic int uffd;               /* os_keep_uffd; -1: none */
  pid_t uffd_pid;                 /* the process it acts on */
} os = {
  .files = {
    [OS_PROC_MAPS] = { "/proc/self/maps", O_RDONLY, -1, 0, 0, 0 },
    [OS_PROC_PAGEMAP] = { "/proc/self/pagemap", O_RDONLY, -1, 0, 0, 0 },
    [OS_PROC_TASK] = { "/proc/self/task", O_RDONLY | O_DIRECTORY, -1, 0, 0, 0 },
    [OS_PROC_STAT] = { "/proc/self/stat", O_RDONLY, -1, 0, 0, 0 },
    [OS_PROC_TIMERS] = { "/proc/self/timers", O_RDONLY, -1, 0, 0, 0 },
  },
  .lock = ATOMIC_FLAG_INIT,
  .trace_fd = -1,
  .uffd = -1,
};

static bool fd_stat(int fd, dev_t *dev, ino_t *ino) {
  struct stat st;
  if (os_syscall2(SYS_fstat, fd, &st) != 0) return false;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return true;
}

/* Whether fd still holds what f was opened on. */
static bool fd_is(const proc_file_t *f, int fd) {
  dev_t dev;
  ino_t ino;
  return fd_stat(fd, &dev, &ino) && dev == f->dev && ino == f->ino;
}

/* The lowest free number at or above the headroom under the limit. */
static int fd_high_base(void) {
  struct rlimit rl;
  if (os_syscall4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) != 0) return 3;
  rlim_t top = rl.rlim_cur < FD_TOP_MAX ? rl.rlim_cur : FD_TOP_MAX;
  return top > 2 * FD_HEADROOM ? (int)(top - FD_HEADROOM) : 3;
}

/* Moves fd to a high number (close-on-exec); returns the number it has. */
static int fd_move_high(int fd, int avoid) {
  int base = fd_high_base();
  if (fd >= base && fd != avoid) return fd;
  int high = (int)os_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base);
  if (high == avoid && high >= 0) {
    int again = (int)os_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, avoid + 1);
    os_close(high);
    high = again;
  }
  if (high < 0) return fd;
  os_close(fd);
  return high;
}

static bool proc_open(proc_file_t *f) {
  int fd = os_open(f->path, f->flags);
  if (fd < 0) return false;
  fd = fd_move_high(fd, -1);
  if (!fd_stat(fd, &f->dev, &f->ino)) {
    os_close(fd);
    return false;
  }
  f->pid = os_getpid();
  f->fd = fd;
  return true;
}

void os_init(void) {
  long mode = os_syscall1(SYS_prctl, PR_GET_SECCOMP);
  os.seccomp_mode0 = mode < 0 ? 0 : (int)mode;
  for (int i = 0; i < OS_PROC_COUNT; i++)
    if (os.files[i].fd < 0) proc_open(&os.files[i]);
}

void os_note_seccomp(void) { atomic_store(&os.seccomp_changed, true); }

bool os_may_open(void) {
  if (atomic_load(&os.seccomp_changed)) return false;
  long mode = os_syscall1(SYS_prctl, PR_GET_SECCOMP);
  return (mode < 0 ? 0 : mode) == os.seccomp_mode0;
}

bool os_seccomp_filtered(void) { return os.seccomp_mode0 != 0 || !os_may_open(); }

/* The descriptor of a file opened in another process (the parent of a
 * fork) is closed, if the number still holds it; one that now holds
 * something else is the program's and is left alone. */
static void proc_drop(proc_file_t *f) {
  if (f->fd >= 0 && f->pid != os_getpid() && fd_is(f, f->fd)) os_close(f->fd);
  f->fd = -1;
}

int os_proc_fd(os_proc_t which) {
  proc_file_t *f = &os.files[which];
  if (f->fd >= 0 && f->pid == os_getpid() && fd_is(f, f->fd)) return f->fd;
  sigset_t old;
  os_spin_lock(&os.lock, &old);
  proc_drop(f);
  bool ok = os_may_open() && proc_open(f);
  os_spin_unlock(&os.lock, &old);
  return ok ? f->fd : -1;
}

#define LINES_BUF 8192

bool os_read_lines(int fd, bool (*fn)(void *arg, const char *line, size_t len), void *arg) {
  char buf[LINES_BUF];
  size_t have = 0;
  off_t off = 0;
  for (;;) {
    ssize_t got = os_pread(fd, buf + have, sizeof buf - have, off);
    if (got < 0) return false;
    off += got;
    have += (size_t)got;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      if (!fn(arg, buf + start, i - start)) return false;
      start = i + 1;
    }
    if (got == 0) return have == start;
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == sizeof buf) return false;   /* a line longer than the buffer */
  }
}

bool os_read_task_file(int tasks_fd, pid_t tid, const char *name, char *buf, size_t len) {
  if (tasks_fd < 0 || len == 0 || !os_may_open()) return false;
  char path[32], digits[12];
  size_t nd = 0, p = 0;
  for (unsigned v = (unsigned)tid; nd == 0 || v != 0; v /= 10) digits[nd++] = (char)('0' + v % 10);
  while (nd > 0) path[p++] = digits[--nd];
  path[p++] = '/';
  for (const char *s = name; *s && p < sizeof path - 1; s++) path[p++] = *s;
  path[p] = 0;
  int fd = os_openat(tasks_fd, path, O_RDONLY);
  if (fd < 0) return false;
  ssize_t n = os_read(fd, buf, len - 1);
  os_close(fd);
  if (n < 0) return false;
  buf[n] = 0;
  return true;
}

struct dirent64_raw {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static long parse_number(const char *s) {
  long v = 0;
  if (*s == 0) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

long os_dir_numbers(int fd, long (*fn)(void *arg, long n), void *arg) {
  if (os_syscall3(SYS_lseek, fd, 0, SEEK_SET) != 0) return -1;
  char buf[2048] __attribute__((aligned(8)));
  long sum = 0;
  for (;;) {
    long n = os_syscall3(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) return n == 0 ? sum : -1;
    for (long off = 0; off < n;) {
      const struct dirent64_raw *d = (const struct dirent64_raw *)(buf + off);
      long number = parse_number(d->d_name);
      long r = number >= 0 ? fn(arg, number) : 0;
      if (r < 0) return -1;
      sum += r;
      off += d->d_reclen;
    }
  }
}

bool os_keep_trace_fd(int fd) {
  if (fd < 0) return false;
  atomic_store(&os.trace_fd, fd_move_high(fd, -1));
  return true;
}

bool os_keep_trace_dup(int fd) {
  int high = (int)os_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd_high_base());
  if (high < 0) return false;
  atomic_store(&os.trace_fd, high);
  return true;
}

int os_trace_fd(void) {
  int fd = atomic_load_explicit(&os.trace_fd, memory_order_relaxed);
  return fd >= 0 ? fd : STDERR_FILENO;
}

void os_keep_uffd(int fd) {
  os.uffd_pid = os_getpid();
  atomic_store(&os.uffd, fd_move_high(fd, -1));
}

int os_uffd_fd(void) {
  int fd = atomic_load_explicit(&os.uffd, memory_order_relaxed);
  return fd >= 0 && os.uffd_pid == os_getpid() ? fd : -1;
}

bool os_is_own_fd(int fd) {
  if (fd < 0) return false;
  if (fd == atomic_load(&os.trace_fd) || fd == os_uffd_fd()) return true;
  for (int i = 0; i < OS_PROC_COUNT; i++)
    if (os.files[i].fd == fd) return os.files[i].pid == os_getpid();
  return false;
}

static size_t insert_sorted(int *out, size_t n, int fd) {
  size_t j = n;
  for (; j > 0 && out[j - 1] > fd; j--) out[j] = out[j - 1];
  out[j] = fd;
  return n + 1;
}

size_t os_own_fds(int *out, size_t cap) {
  pid_t pid = os_getpid();
  size_t n = 0;
  for (int i = 0; i < OS_PROC_COUNT && n < cap; i++) {
    int fd = os.files[i].fd;
    if (fd >= 0 && os.files[i].pid == pid) n = insert_sorted(out, n, fd);
  }
  int trace = atomic_load(&os.trace_fd), uffd = os_uffd_fd();
  if (trace >= 0 && n < cap) n = insert_sorted(out, n, trace);
  if (uffd >= 0 && n < cap) n = insert_sorted(out, n, uffd);
  return n;
}

void os_vacate_fd(int fd) {
  if (!os_is_own_fd(fd)) return;
  sigset_t old;
  os_spin_lock(&os.lock, &old);
  for (int i = 0; i < OS_PROC_COUNT; i++) {
    proc_file_t *f = &os.files[i];
    if (f->fd == fd && f->pid == os_getpid()) f->fd = fd_move_high(fd, fd);
  }
  if (atomic_load(&os.trace_fd) == fd) atomic_store(&os.trace_fd, fd_move_high(fd, fd));
  if (os_uffd_fd() == fd) atomic_store(&os.uffd, fd_move_high(fd, fd));
  os_spin_unlock(&os.lock, &old);
}

/* The child's descriptors are reopened when first used, except in a
 * privileged process: a server that forks as root and then changes user
 * (nginx's workers) could no longer open its own pagemap, which only the
 * owner of a process may read. */
void os_after_fork_child(void) {
  atomic_flag_clear(&os.lock);
  int uffd = atomic_exchange(&os.uffd, -1);
  if (uffd >= 0) os_close(uffd);
  if (os_syscall0(SYS_geteuid) != 0) return;
  for (int i = 0; i < OS_PROC_COUNT; i++) os_proc_fd((os_proc_t)i);
}

/* ---- internal checks (checks.h) ---- */

#ifdef PACEGC_CHECKS
void check_fail(const char *file, int line, const char *what) {
  char text[512];
  int n = snprintf(text, sizeof text, "pacegc: internal check failed at %s:%d: %s\n", file, line,
                   what);
  os_write(2, text, n > 0 && (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
  abort();
}
#endif

/* ---- glibc's own functions ---- */

void *os_libc(const char *name) {
  CHECK_NOT_STOPPED();
  return dlsym(RTLD_NEXT, name);
}

/* ---- stacks ---- */

/* The caller's frame pointer is kept in a callee-saved register, and the
 * call frame information says the canonical frame address is found
 * through it, so an unwinder walks from fn back onto the caller's stack. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl os_call_on_stack\n"
        ".hidden os_call_on_stack\n"
        ".type os_call_on_stack, @function\n"
        "os_call_on_stack:\n"
        ".cfi_startproc\n"
        "  pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "  movq %rdi, %rsp\n"
        "  movq %rsi, %rax\n"
        "  movq %rdx, %rdi\n"
        "  callq *%rax\n"
        "  movq %rbp, %rsp\n"
        "  popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size os_call_on_stack, .-os_call_on_stack\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl os_call_on_stack\n"
        ".hidden os_call_on_stack\n"
        ".type os_call_on_stack, %function\n"
        "os_call_on_stack:\n"
        ".cfi_startproc\n"
        "  stp x29, x30, [sp, -16]!\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset x29, -16\n"
        ".cfi_offset x30, -8\n"
        "  mov x29, sp\n"
        ".cfi_def_cfa_register x29\n"
        "  mov sp, x0\n"
        "  mov x0, x2\n"
        "  blr x1\n"
        "  mov sp, x29\n"
        "  ldp x29, x30, [sp], 16\n"
        ".cfi_def_cfa sp, 0\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size os_call_on_stack, .-os_call_on_stack\n");
#else
#error "os_call_on_stack: unsupported architecture"
#endif

bool os_thread_stack(uintptr_t *lo, uintptr_t *hi) {
  pthread_attr_t a;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &a) != 0) return false;
  int r = pthread_attr_getstack(&a, &addr, &size);
  pthread_attr_destroy(&a);
  if (r != 0 || size == 0) return false;
  *lo = (uintptr_t)addr;
  *hi = (uintptr_t)addr + size;
  return true;
}
