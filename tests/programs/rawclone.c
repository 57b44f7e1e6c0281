/* A raw clone() thread that shares its creator's TLS (issue 8, item 10).
 *
 * Some runtimes and sandboxes make helper threads with clone() and no
 * CLONE_SETTLS: a thread that only makes raw system calls needs no TLS of
 * its own.  It runs with its creator's thread pointer, so every __thread
 * variable it would touch is its creator's; it sticks to raw system calls
 * and its own memory, and the program works.
 * pacegc must still stop it (it is in /proc/self/task), and a stop signal
 * handled on it must not be confused with one handled on its creator.
 *
 * The main thread clone()s a thread with CLONE_VM | CLONE_FS |
 * CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM (plus
 * CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, to know when it is gone),
 * on a 64 KiB stack of its own from mmap and without CLONE_SETTLS.  The
 * clone touches no TLS and calls no libc function: it loops in raw futex
 * waits (10 ms timeouts, interrupted by signals) on a volatile flag, counts
 * its rounds, and leaves with a raw SYS_exit.  Meanwhile the main thread
 * and three pthreads build lists of pattern-filled nodes, leak garbage and
 * ask for cycles (tu_gc) every 2000 allocations, 40 cycles each; then the
 * main thread stops the clone, waits for the kernel to clear its tid,
 * unmaps its stack, and every thread checks its list.
 *
 * The work must take at most MAX_S seconds (default 10; plain it takes
 * about 1 s on two busy CPUs, preloaded without the clone 2 to 4 s, and
 * every cycle ought to take milliseconds).  Run plain
 * and preloaded through tests/compare.sh, also with PACEGC_GODEBUG=
 * gcstress=N.  Deterministic output.  Failure: exit status 1 with a FAIL
 * line ("took more than MAX_S s", or corrupted data), or the watchdog's
 * SIGKILL after 30 s when the program hangs.
 *
 * "rawclone none" is the control: the same work without the clone.
 *
 * Usage: rawclone clone|none [MAX_S] */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "watchdog.h"

#define NWORKERS 3
#define CYCLES_PER_THREAD 40
#define GC_EVERY 2000
#define CLONE_STACK (64 << 10)

/* ---- raw system calls: the clone must not touch errno (TLS) ---- */

static inline long raw_syscall4(long n, long a, long b, long c, long d)
{
	long ret;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
			 : "memory");
	ret = x0;
#else
#error "rawclone.c: add a raw system call for this architecture"
#endif
	return ret;
}

static volatile uint32_t clone_stop;
static volatile unsigned long clone_rounds;
static volatile pid_t clone_tid;     /* set by the kernel, cleared at exit */

static __attribute__((noreturn)) void raw_exit(int status)
{
	for (;;)
		raw_syscall4(SYS_exit, status, 0, 0, 0);
}

/* Runs on the clone with its creator's TLS: raw system calls and
 * volatile memory only. */
static int clone_main(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	while (!clone_stop) {
		raw_syscall4(SYS_futex, (long)&clone_stop, FUTEX_WAIT_PRIVATE, 0,
			     (long)&ts);
		clone_rounds = clone_rounds + 1;
	}
	raw_exit(0);
}

/* ---- the allocating threads ---- */

static double t0, max_s;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 5150 + id;
	struct node *head = NULL;
	size_t nodes = 0;
	for (long i = 0; i < (long)CYCLES_PER_THREAD * GC_EVERY; i++) {
		struct node *n = tu_new_node(&rng, 16 + tu_next(&rng) % 300);
		if (i % 8 == 0) {
			n->next = head;
			head = n;
			nodes++;
		}
		if (i % GC_EVERY == GC_EVERY - 1) {
			tu_gc();
			if (now() - t0 > max_s)
				FAIL("rawclone: thread %lu: took more than %.1f s; "
				     "%ld of %d cycles done", (unsigned long)id,
				     max_s, i / GC_EVERY, CYCLES_PER_THREAD);
		}
	}
	size_t count = 0;
	while (head) {
		struct node *next = head->next;
		CHECK(tu_check(head->data, head->size, head->seed) == head->size,
		      "thread %lu: node %zu corrupted", (unsigned long)id, count);
		free(head);
		head = next;
		count++;
	}
	CHECK(count == nodes, "thread %lu: %zu nodes, want %zu", (unsigned long)id,
	      count, nodes);
	return NULL;
}

int main(int argc, char **argv)
{
	CHECK((argc == 2 || argc == 3) &&
		      (strcmp(argv[1], "clone") == 0 || strcmp(argv[1], "none") == 0),
	      "usage: rawclone clone|none [MAX_S]");
	int with_clone = strcmp(argv[1], "clone") == 0;
	max_s = argc == 3 ? atof(argv[2]) : 10;
	tu_watchdog("rawclone", 30);
	tu_gc_init();
	setvbuf(stdout, NULL, _IOLBF, 0);

	void *stack = NULL;
	if (with_clone) {
		stack = mmap(NULL, CLONE_STACK, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		CHECK(stack != MAP_FAILED, "mmap: %s", strerror(errno));
		int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
			    CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID |
			    CLONE_CHILD_CLEARTID;
		int tid = clone(clone_main, (char *)stack + CLONE_STACK, flags, NULL,
				&clone_tid, NULL, &clone_tid);
		CHECK(tid > 0, "clone: %s", strerror(errno));
		while (clone_rounds == 0)
			tu_sleep_ms(1);
		printf("rawclone: a clone() thread sharing the main thread's TLS "
		       "runs\n");
	}

	t0 = now();
	pthread_t t[NWORKERS];
	for (uintptr_t i = 0; i < NWORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, work, (void *)(i + 1)) == 0,
		      "pthread_create");
	work((void *)0);
	for (int i = 0; i < NWORKERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");

	if (with_clone) {
		clone_stop = 1;
		syscall(SYS_futex, &clone_stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		for (pid_t v; (v = clone_tid) != 0;)
			syscall(SYS_futex, &clone_tid, FUTEX_WAIT, v, NULL, NULL, 0);
		CHECK(munmap(stack, CLONE_STACK) == 0, "munmap");
	}
	printf("rawclone %s: %d threads ran %d cycles each and checked their "
	       "lists\n", argv[1], NWORKERS + 1, CYCLES_PER_THREAD);
	return 0;
}
