/* A program that sandboxes itself with seccomp after start-up (issue 8,
 * item 7).
 *
 * Sandboxes (browsers' renderers, sshd's privilege separation, systemd
 * services with SystemCallFilter=, container runtimes) forbid opening files
 * once start-up is done, then keep working.  Under pacegc the program must
 * keep running with the same output, and its leaks must still be
 * collected: whatever pacegc needs from /proc it must have before, or get
 * without open.
 *
 * The program builds a live set (64 lists of pattern-filled nodes, about
 * 4 MiB) and leaks 16 MiB, with a helper thread allocating alongside; then
 * it installs a filter for every thread (seccomp(2) with
 * SECCOMP_FILTER_FLAG_TSYNC, raw BPF, after PR_SET_NO_NEW_PRIVS) that
 * refuses open, openat and openat2 (and userfaultfd, which the program
 * never calls and pacegc's concurrent marking would: it must then mark
 * with the world stopped, tests/concurrent.sh), and leaks 96 MiB more in
 * small and medium objects while replacing part of the live set; at the end it
 * checks every live node and prints a checksum of the live set.
 *
 *   seccomp ACTION [closeall] [fork]
 *     ACTION    errno  the calls fail with EPERM (checked: the program
 *                      opens /dev/null once and expects EPERM);
 *               kill   SECCOMP_RET_KILL_PROCESS: the process dies with
 *                      SIGSYS;
 *               trap   SECCOMP_RET_TRAP: SIGSYS, which the program does
 *                      not handle (so it dies of it);
 *               none   no sandbox: the control, everything else the same;
 *     closeall  before sandboxing, close every descriptor above 2 with
 *               close_range(3, ~0U, 0), as daemons do;
 *     fork      stop the helper thread, sandbox, then fork: the child
 *               (whose /proc/self is not its parent's) does the leaking
 *               and checking while the parent only waits for it.
 *
 * Preloaded, the program also checks pacegc through pacegc_read_stats
 * (include/pacegc.h, found with dlsym; a plain run skips this): at least
 * 4 cycles completed while the 96 MiB were leaked after the sandbox, and
 * (unless PACEGC_FREE=defer, where leaks are not reclaimed) at most 64 MiB
 * of the heap is allocated at the end.  These checks print nothing when
 * they pass, so the output is the same plain and preloaded.  Not in the
 * child of fork: it was born in the sandbox, so pacegc can open none of
 * its /proc files, collects nothing there and says so in one line
 * (meson runs the fork variants with compare.sh --told); the child's data
 * is checked all the same.
 *
 * Failure: exit status 1 with a FAIL line (no cycles, memory not bounded,
 * corrupted data, a child that failed), death by SIGSYS (status 159 from
 * a shell), or the watchdog's SIGKILL after 60 s.  Run through
 * tests/compare.sh, which also fails on any "pacegc:" line.
 *
 * Usage: seccomp errno|kill|trap|none [closeall] [fork] */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pacegc.h"
#include "testutil.h"
#include "watchdog.h"

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp.c: add the AUDIT_ARCH of this architecture"
#endif

#ifndef __NR_openat2
#define __NR_openat2 437
#endif

#define MiB ((size_t)1 << 20)
#define LISTS 64
#define LIVE_BYTES (4 * MiB)
#define BEFORE_BYTES (16 * MiB)
#define AFTER_BYTES (96 * MiB)
#define ROUNDS 32
#define MIN_CYCLES 4
#define MAX_ALLOCATED (64 * MiB)

static struct node *lists[LISTS];
static void (*read_stats)(pacegc_stats_t *);
static const char *name;
static atomic_int helper_stop;

/* ---- the live set and the garbage ---- */

static size_t node_size(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	return r % 16 ? 16 + (r >> 8) % 480 : 1024 + (r >> 8) % 8192;
}

static void build_live(uint64_t *rng)
{
	struct node *tail[LISTS] = { 0 };
	size_t have = 0;
	for (unsigned count = 0; have < LIVE_BYTES; count++) {
		struct node *n = tu_new_node(rng, node_size(rng));
		unsigned l = count % LISTS;
		if (tail[l])
			tail[l]->next = n;
		else
			lists[l] = n;
		tail[l] = n;
		have += sizeof *n + n->size;
	}
}

/* Replaces one live node in 32; the old one is leaked. */
static void churn_live(uint64_t *rng)
{
	for (int l = 0; l < LISTS; l++)
		for (struct node **link = &lists[l]; *link; link = &(*link)->next)
			if (tu_next(rng) % 32 == 0) {
				struct node *n = tu_new_node(rng, node_size(rng));
				n->next = (*link)->next;
				*link = n;
			}
}

static uint64_t check_live(void)
{
	uint64_t h = 0x6a09e667f3bcc908ULL;
	for (int l = 0; l < LISTS; l++)
		for (struct node *n = lists[l]; n; n = n->next) {
			size_t bad = tu_check(n->data, n->size, n->seed);
			if (bad != n->size)
				FAIL("%s: live node %p (list %d, %zu bytes) "
				     "corrupted at byte %zu", name, (void *)n, l,
				     n->size, bad);
			h = (h ^ n->seed) * 0x100000001b3ULL;
		}
	return h;
}

/* About `bytes` of written, dropped objects (16 B to 64 KiB). */
static void leak(uint64_t *rng, size_t bytes)
{
	for (size_t have = 0; have < bytes;) {
		uint64_t r = tu_next(rng);
		size_t size = r % 64 ? 16 + (r >> 8) % 1008 : 4096 + (r >> 8) % 61440;
		unsigned char *p = malloc(size);
		CHECK(p != NULL, "malloc(%zu)", size);
		memset(p, (int)(r >> 56), size);
		tu_launder(p);
		have += size;
	}
}

/* ---- a thread that allocates alongside until told to stop ---- */

static void *helper(void *arg)
{
	(void)arg;
	uint64_t rng = 99;
	enum { N = 64 };
	struct node *pool[N] = { 0 };
	for (unsigned long i = 1; !atomic_load(&helper_stop); i++) {
		if (i % 64 == 0)
			tu_sleep_ms(1);
		unsigned j = tu_next(&rng) % N;
		if (pool[j]) {
			CHECK(tu_check(pool[j]->data, pool[j]->size, pool[j]->seed) ==
				      pool[j]->size,
			      "%s: helper's node corrupted", name);
			free(pool[j]);
		}
		pool[j] = tu_new_node(&rng, 16 + tu_next(&rng) % 2000);
	}
	for (unsigned j = 0; j < N; j++)
		free(pool[j]);
	return NULL;
}

/* ---- the sandbox ---- */

static void sandbox(uint32_t deny)
{
	struct sock_filter f[16];
	unsigned n = 0;
	static const unsigned nrs[] = {
#ifdef __NR_open
		__NR_open,
#endif
		__NR_openat, __NR_openat2,
		/* What the program never calls, pacegc might (write tracking
		 * for concurrent marking): a filter may forbid it too. */
		__NR_userfaultfd,
	};
	const unsigned nnrs = sizeof nrs / sizeof nrs[0];
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	/* Another architecture's calls: allowed (this is not a security test). */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	/* One JEQ per number, jumping over the rest and the ALLOW to DENY. */
	for (unsigned i = 0; i < nnrs; i++)
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      nrs[i], (uint8_t)(nnrs - i), 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, deny);
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %s",
	      strerror(errno));
	CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
		      &prog) == 0,
	      "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %s", strerror(errno));
}

/* ---- the work after the sandbox, in the process or the fork child ---- */

static uint32_t cycles_now(pacegc_stats_t *s)
{
	read_stats(s);
	return s->num_gc;
}

static int work(uint64_t *rng, bool collected)
{
	pacegc_stats_t s;
	uint32_t before = read_stats ? cycles_now(&s) : 0;
	for (int round = 0; round < ROUNDS; round++) {
		leak(rng, AFTER_BYTES / ROUNDS);
		if (round % 4 == 3)
			churn_live(rng);
	}
	uint64_t h = check_live();
	printf("%s: leaked %zu MiB after start-up; live set intact, "
	       "checksum %016llx\n", name, AFTER_BYTES / MiB,
	       (unsigned long long)h);
	if (read_stats && collected) {
		uint32_t after = cycles_now(&s);
		CHECK(after >= before + MIN_CYCLES,
		      "%s: %u cycles completed while %zu MiB were leaked in the "
		      "sandbox, want at least %d: collection stopped",
		      name, after - before, AFTER_BYTES / MiB, MIN_CYCLES);
		const char *mode = getenv("PACEGC_FREE");
		if (!mode || strcmp(mode, "defer") != 0)
			CHECK(s.heap_allocated <= MAX_ALLOCATED,
			      "%s: %zu MiB allocated after %zu MiB leaked in the "
			      "sandbox (bound %zu MiB): leaks not reclaimed",
			      name, s.heap_allocated / MiB, AFTER_BYTES / MiB,
			      MAX_ALLOCATED / MiB);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char namebuf[64];
	CHECK(argc >= 2, "usage: seccomp errno|kill|trap|none [closeall] [fork]");
	uint32_t deny;
	if (strcmp(argv[1], "errno") == 0)
		deny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
	else if (strcmp(argv[1], "kill") == 0)
		deny = SECCOMP_RET_KILL_PROCESS;
	else if (strcmp(argv[1], "trap") == 0)
		deny = SECCOMP_RET_TRAP;
	else if (strcmp(argv[1], "none") == 0)
		deny = 0;
	else
		FAIL("unknown action %s", argv[1]);
	bool closeall = false, do_fork = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "closeall") == 0)
			closeall = true;
		else if (strcmp(argv[i], "fork") == 0)
			do_fork = true;
		else
			FAIL("unknown option %s", argv[i]);
	}
	snprintf(namebuf, sizeof namebuf, "seccomp %s%s%s", argv[1],
		 closeall ? " closeall" : "", do_fork ? " fork" : "");
	name = namebuf;

	tu_watchdog(name, 60);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* One glibc arena: when glibc shrinks a thread arena's heap it reads
	 * /proc/sys/vm/overcommit_memory, once, at a moment nobody chooses;
	 * a sandbox that forbids open would kill the plain run then. */
	CHECK(mallopt(M_ARENA_MAX, 1) == 1, "mallopt(M_ARENA_MAX, 1)");
	read_stats = (void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT, "pacegc_read_stats");

	/* Start-up: a live set, some garbage, a helper thread. */
	uint64_t rng = 2024;
	build_live(&rng);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, helper, NULL) == 0, "pthread_create");
	leak(&rng, BEFORE_BYTES);
	printf("%s: started, live set built\n", name);
	if (do_fork) {
		atomic_store(&helper_stop, 1);
		CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	}

	if (closeall)
		CHECK(syscall(SYS_close_range, 3, ~0U, 0) == 0, "close_range: %s",
		      strerror(errno));
	if (deny)
		sandbox(deny);
	if (deny != 0 && deny != SECCOMP_RET_KILL_PROCESS && deny != SECCOMP_RET_TRAP) {
		errno = 0;
		int fd = open("/dev/null", O_RDONLY);
		CHECK(fd < 0 && errno == EPERM, "open after the sandbox: fd %d, %s",
		      fd, strerror(errno));
	}
	if (deny)
		printf("%s: sandboxed: open, openat and openat2 refused\n", name);

	if (do_fork) {
		pid_t pid = fork();
		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			work(&rng, false);
			fflush(stdout);
			_exit(0);
		}
		int status;
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
		if (WIFSIGNALED(status))
			FAIL("%s: the child was killed by signal %d", name, WTERMSIG(status));
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: the child exited with status %d", name, WEXITSTATUS(status));
		uint64_t h = check_live();
		printf("%s: child done; parent's live set intact, checksum %016llx\n",
		       name, (unsigned long long)h);
		return 0;
	}
	work(&rng, true);
	atomic_store(&helper_stop, 1);
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	printf("%s: done\n", name);
	return 0;
}
