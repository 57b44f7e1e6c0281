/*
 * The process layer: everything pacegc asks of the kernel and of glibc,
 * in one place (as mimalloc's prim.h).
 *
 *   - raw system calls.  pacegc exports wrappers of read, write, close,
 *     syscall and the like, and -Bsymbolic binds its own calls to its own
 *     definitions, so nothing inside pacegc may call those libc names:
 *     it calls os_* instead, which enter the kernel directly;
 *   - the descriptors pacegc keeps open on /proc/self files.  They are
 *     opened at start-up (before a program can sandbox itself), placed
 *     high in the descriptor table, and checked before every use: a fork
 *     leaves them describing the parent, and a program may close or reuse
 *     their numbers behind pacegc's back.  A stale one is reopened when
 *     that is safe (os_may_open);
 *   - clocks, glibc's own functions behind pacegc's wrappers, signal
 *     masks, and running a function on a stack of pacegc's own.
 *
 * Everything here is async-signal-safe and allocation-free unless said
 * otherwise, so it may run with the world stopped.
 */
#ifndef PACEGC_OS_H
#define PACEGC_OS_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util.h"

/* ---- system calls: return the result, or -errno; never touch errno ---- */

long os_syscall6(long n, long a, long b, long c, long d, long e, long f);
#define os_syscall0(n) os_syscall6((n), 0, 0, 0, 0, 0, 0)
#define os_syscall1(n, a) os_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define os_syscall2(n, a, b) os_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define os_syscall3(n, a, b, c) os_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define os_syscall4(n, a, b, c, d) \
  os_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define os_syscall5(n, a, b, c, d, e) \
  os_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

pid_t os_gettid(void);
pid_t os_getpid(void);

int os_open(const char *path, int flags);                     /* fd or -errno */
int os_openat(int dirfd, const char *path, int flags);
int os_close(int fd);
ssize_t os_read(int fd, void *buf, size_t n);
ssize_t os_pread(int fd, void *buf, size_t n, off_t off);
ssize_t os_write(int fd, const void *buf, size_t n);

/* The kernel's signal mask calls, with the kernel's sigset size. */
void os_sigmask(int how, const sigset_t *set, sigset_t *old);
/* Every signal blocked but the ones a fault raises (a fault with its
 * signal blocked kills the process outright); *old gets the mask before. */
void os_block_signals(sigset_t *old);
void os_restore_signals(const sigset_t *old);

/* A spin lock held with every signal blocked (os_block_signals): its
 * holder is never parked by a cycle or re-entered by a handler, so
 * neither can wait for it forever.  For a few instructions only. */
void os_spin_lock(atomic_flag *lock, sigset_t *old);
void os_spin_unlock(atomic_flag *lock, const sigset_t *old);

/* glibc's sigaction under its exported alias: glibc adds the restorer the
 * kernel needs, and pacegc's own sigaction wrapper is bypassed. */
int os_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* 0 or -errno.  os_sigqueue_self sends sig to thread tid of this process
 * with the given si_code and value (rt_tgsigqueueinfo). */
int os_tgkill(pid_t tid, int sig);
int os_sigqueue_thread(pid_t tid, int sig, int code, void *value);

/* 0, or -ETIMEDOUT, -EAGAIN, -EINTR.  timeout_ns < 0 waits without limit. */
int os_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t timeout_ns);
void os_futex_wake(_Atomic uint32_t *word, int n);

/* ---- clocks ---- */

uint64_t os_monotonic_ns(void);
uint64_t os_thread_cpu_ns(void);

int64_t os_process_cpu_ns(void);

/* ---- the /proc/self files pacegc keeps open ---- */

typedef enum os_proc {
  OS_PROC_MAPS,       /* /proc/self/maps: read with pread from 0 */
  OS_PROC_PAGEMAP,    /* /proc/self/pagemap: pread, and the PAGEMAP_SCAN ioctl */
  OS_PROC_TASK,       /* /proc/self/task: lseek to 0, getdents64 */
  OS_PROC_STAT,       /* /proc/self/stat: pread from 0 */
  OS_PROC_TIMERS,     /* /proc/self/timers: pread from 0 */
  OS_PROC_COUNT,
  OS_OWN_FDS_MAX = OS_PROC_COUNT + 2   /* with the trace and userfaultfd descriptors */
} os_proc_t;

/* Opens every file, once; at start-up, before the program runs. */
void os_init(void);

/*
 * A descriptor for `which` that is known to be this process's: checked
 * against the process it was opened in and its file's identity (device
 * and inode), reopened if stale and os_may_open() allows, else -1.  The
 * caller must not close it.  Not thread-safe: callers hold gc.c's lock.
 */
int os_proc_fd(os_proc_t which);

/* Calls fn for each line (without its newline) of the file fd, read from
 * offset 0 with pread into a buffer on the stack; stops early if fn
 * returns false.  False if the file could not be read whole (a read
 * failed, a line was longer than the buffer, or fn stopped). */
bool os_read_lines(int fd, bool (*fn)(void *arg, const char *line, size_t len), void *arg);

/* Reads /proc/self/task/<tid>/<name> into buf, NUL-terminated, through a
 * descriptor open only for the call; tasks_fd is os_proc_fd(OS_PROC_TASK).
 * False if it cannot be read, or when a seccomp filter the program turned
 * on since start-up might kill the process for the open. */
bool os_read_task_file(int tasks_fd, pid_t tid, const char *name, char *buf, size_t len);

/* Calls fn for each entry of the directory fd whose name is a number (a
 * thread of /proc/self/task, a descriptor of /proc/self/fd), from the
 * directory's start; returns the sum of fn's results, or -1 if fn
 * returned a negative one or the directory could not be read. */
long os_dir_numbers(int fd, long (*fn)(void *arg, long n), void *arg);

/*
 * The trace descriptor (PACEGC_TRACE, traceout.c), kept like the files
 * above against a program that closes every descriptor, but inherited by
 * a fork child as it is: the child writes to the same file.
 * os_keep_trace_fd takes fd over (moved to a high number, close-on-exec);
 * os_keep_trace_dup keeps a copy of the program's fd instead, which the
 * program keeps.  Both return false if no descriptor could be had.
 * os_trace_fd is the descriptor, or stderr's when there is none.
 */
bool os_keep_trace_fd(int fd);
bool os_keep_trace_dup(int fd);
int os_trace_fd(void);

/*
 * The userfaultfd of write tracking (wtrack.c), kept like the files above
 * but tied to this process: a fork child inherits a descriptor that acts
 * on its parent's memory, so there it is closed, and os_uffd_fd() is -1
 * until the child opens its own.  os_keep_uffd takes fd over (moved to a
 * high number, where it can be).
 */
void os_keep_uffd(int fd);
int os_uffd_fd(void);

/* Whether fd is one of the descriptors above (for the close wrappers). */
bool os_is_own_fd(int fd);
/* Those descriptors, in increasing order; returns how many (at most cap). */
size_t os_own_fds(int *out, size_t cap);

/* Moves pacegc's descriptor away from number fd, if it is one of them,
 * before the program's dup2/dup3 makes fd something else. */
void os_vacate_fd(int fd);

/*
 * Whether pacegc may open a file now.  Not when the program has turned on
 * a seccomp filter since start-up (os_note_seccomp, or a change of mode
 * that the wrappers missed): the filter may kill the process for an
 * open.  Filters already in place at start-up let pacegc's own opens
 * through, and stay the same in a child of fork.
 */
bool os_may_open(void);
void os_note_seccomp(void);

/* Whether a seccomp filter may judge pacegc's system calls: one was in
 * place at start-up or has been installed since.  A filter may kill the
 * process for a call the program itself never makes (userfaultfd,
 * process_vm_readv): pacegc then makes none it can do without. */
bool os_seccomp_filtered(void);

/* fork: the child's descriptors describe the parent until reopened (at
 * once in a privileged process, which may be about to give up its
 * privileges; lazily otherwise). */
void os_after_fork_child(void);

/* ---- glibc's own functions ---- */

/* The next definition of `name` after pacegc's (dlsym RTLD_NEXT); NULL
 * if none.  May allocate: not with the world stopped. */
void *os_libc(const char *name);

/* Declares `real`, glibc's fn, looked up once. */
#define OS_REAL(fn) \
  static __typeof__(fn) *real; \
  if (unlikely(real == NULL)) real = (__typeof__(fn) *)os_libc(#fn)

/* glibc's fn from the calling file's table `libc` (a struct of function
 * pointers, each named as its function), looked up on first use; the
 * wrapper files fill it at start-up so no lookup happens in a handler. */
#define LIBC(fn) \
  (likely(libc.fn != NULL) ? libc.fn : (libc.fn = (__typeof__(libc.fn))os_libc(#fn)))

/* ---- stacks ---- */

/* The calling thread's stack block [lo, hi), from glibc (which, for the
 * main thread, reads /proc/self/maps: it may allocate). */
bool os_thread_stack(uintptr_t *lo, uintptr_t *hi);

/* Stores the callee-saved registers into regs[OS_SAVED_REGS], as they
 * are, where a scan of the stack finds them: setjmp will not do, glibc
 * mangles the frame pointer it saves (PTR_MANGLE), and a caller may keep
 * its only copy of a pointer there. */
#if defined(__x86_64__)
#define OS_SAVED_REGS 6
#define OS_SAVE_REGISTERS(regs)                                              \
  __asm__ volatile("movq %%rbx, 0(%0)\n\tmovq %%rbp, 8(%0)\n\t"              \
                   "movq %%r12, 16(%0)\n\tmovq %%r13, 24(%0)\n\t"            \
                   "movq %%r14, 32(%0)\n\tmovq %%r15, 40(%0)"                 \
                   : : "r"(regs) : "memory")
#elif defined(__aarch64__)
#define OS_SAVED_REGS 12
#define OS_SAVE_REGISTERS(regs)                                              \
  __asm__ volatile("stp x19, x20, [%0, #0]\n\tstp x21, x22, [%0, #16]\n\t"   \
                   "stp x23, x24, [%0, #32]\n\tstp x25, x26, [%0, #48]\n\t"  \
                   "stp x27, x28, [%0, #64]\n\tstp x29, x30, [%0, #80]"       \
                   : : "r"(regs) : "memory")
#else
#error "OS_SAVE_REGISTERS: unsupported architecture"
#endif

/* Calls fn(arg) with the stack pointer at `top` (16-byte aligned), and
 * returns on the caller's stack.  Debuggers and unwinders see the
 * caller's frames above fn's. */
void os_call_on_stack(void *top, void (*fn)(void *), void *arg);

#endif
