/* Every real-time signal stays the program's (issue 8, item 13).
 *
 * pacegc stops the world with a real-time signal of its own choosing; the
 * program must still be able to use every one of SIGRTMIN..SIGRTMAX as if
 * pacegc were not there.  Modes:
 *
 *   rtsignals [handlers]   For each real-time signal, while a thread forces
 *        cycles back to back (pacegc_collect, a millisecond apart) and
 *        another allocates and checks data (run it with gcstress too):
 *        - installs a handler: SA_SIGINFO (+SA_RESTART), a plain handler,
 *          SA_SIGINFO|SA_RESETHAND or SA_SIGINFO|SA_ONSTACK|SA_RESTART by
 *          turns, with the next signal in its sa_mask;
 *        - sigaction(sig, NULL, &old) must give back that handler, those
 *          flags and that mask;
 *        - sigqueue (with a value), raise and pthread_kill to itself, and
 *          a POSIX timer (timer_create SIGEV_SIGNAL with a sigev_value):
 *          the handler runs exactly once for each, on the main thread
 *          (the others block every real-time signal), with the right
 *          si_code, si_pid and value; SA_RESETHAND leaves SIG_DFL behind;
 *        - three sigqueues while the signal is blocked (pthread_sigmask)
 *          stay pending and arrive in order when it is unblocked;
 *        - sa_mask: the handler raises the next signal, which must stay
 *          pending until the handler returns and run right after;
 *        - then, every handler installed and nothing sent, QUIET_MS
 *          (300 ms) of cycles: no handler may run.
 *        All of it ROUNDS (3) times; the first problems of each signal
 *        are reported.
 *        Output: "SIGRTMIN+k: ok" or "SIGRTMIN+k: FAIL: ..." per signal,
 *        then the data check.
 *   rtsignals ignored      Sets every real-time signal to SIG_IGN with
 *        sigaction (as a shell's `trap '' RTMIN+28` does) and execs
 *        itself: ignored signals stay ignored across exec, so in the new
 *        image sigaction must report SIG_IGN for each, and each sent to
 *        itself must be dropped.  When preloaded, pacegc must still run
 *        cycles (pacegc_read_stats' num_gc grows with pacegc_collect and
 *        with gcstress allocations); a plain run prints the same.
 *   rtsignals ignored-raw  The same with the dispositions set by a raw
 *        rt_sigaction system call before the exec: the case of a parent
 *        that is not preloaded (`trap '' RTMIN+28; LD_PRELOAD=... prog`),
 *        where pacegc finds every real-time signal ignored at start-up.
 *   rtsignals process      For each real-time signal, a sigqueue to the
 *        process while the main thread blocks it and another thread does
 *        not must run the handler on the other thread; one sent while
 *        both block it must wait, and run on the other thread when that
 *        one unblocks it first (the kernel's shared queue).  Cycles run
 *        between the steps.
 *   rtsignals sigwait | signalfd
 *        Every real-time signal is blocked in every thread; a thread takes
 *        them with sigtimedwait (or reads them from a signalfd) while
 *        another forces cycles.  Three sigqueues of each, with values, must
 *        be received in order; any signal the program did not send
 *        (pacegc's stop signal stolen by the wait) counts as foreign.
 *        When preloaded, cycles must keep completing while the thread
 *        waits.  Exits 0 when everything arrived; 3 when exactly one
 *        signal never arrived and nothing else went wrong (the one signal
 *        pacegc may keep: tests/rtsignals_wait.sh then wants exactly one
 *        "pacegc:" line naming it); 1 otherwise.
 *
 * Deterministic output when nothing fails; the handlers, ignored and
 * ignored-raw modes print the same plain and preloaded (tests/compare.sh).
 * FAIL/CHECK exit 1.  A watchdog ends a run stuck for 20 s. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pacegc.h"
#include "testutil.h"

#define MAXSIG 65
#define ROUNDS 3
#define QUIET_MS 300
#define HUNG_MS 20000
#define STALL_MS 500

static pid_t main_tid;
static void (*read_stats)(pacegc_stats_t *);

static pid_t gettid_raw(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint32_t cycles_so_far(void)
{
	pacegc_stats_t s;
	if (!read_stats)
		return 0;
	read_stats(&s);
	return s.num_gc;
}

static void block_rt(int how)
{
	sigset_t s;
	sigemptyset(&s);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&s, sig);
	pthread_sigmask(how, &s, NULL);
}

/* ---- helper threads: cycles, allocation, watchdog ---- */

static _Atomic int stop_helpers;
static _Atomic long forced_cycles;   /* pacegc_collect calls that returned */
static _Atomic int stalled;          /* one took over STALL_MS */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Forces cycles a millisecond apart.  A cycle that cannot stop the world
 * waits out pacegc's timeout (2 s) with the other threads parked; after
 * one such cycle the cycler and the worker stop, so the rest of the run
 * still reports what it sees instead of crawling. */
static void *cycler(void *arg)
{
	(void)arg;
	block_rt(SIG_BLOCK);
	while (!atomic_load(&stop_helpers) && !atomic_load(&stalled)) {
		int64_t t0 = now_ms();
		tu_gc();
		if (now_ms() - t0 > STALL_MS)
			atomic_store(&stalled, 1);
		atomic_fetch_add(&forced_cycles, 1);
		tu_sleep_ms(1);
	}
	return NULL;
}

static _Atomic long worker_rounds;

/* Allocates and checks its own objects until told to stop. */
static void *worker(void *arg)
{
	(void)arg;
	block_rt(SIG_BLOCK);
	enum { N = 300 };
	unsigned char *p[N] = { 0 };
	size_t size[N];
	uint64_t seed[N], rng = 99;
	while (!atomic_load(&stop_helpers) && !atomic_load(&stalled)) {
		unsigned j = tu_next(&rng) % N;
		if (p[j]) {
			size_t bad = tu_check(p[j], size[j], seed[j]);
			if (bad != size[j])
				FAIL("worker: object of %zu bytes corrupted at byte %zu", size[j], bad);
			free(p[j]);
		}
		size[j] = 1 + tu_next(&rng) % 3000;
		seed[j] = tu_next(&rng);
		p[j] = malloc(size[j]);
		CHECK(p[j] != NULL, "malloc");
		tu_fill(p[j], size[j], seed[j]);
		atomic_fetch_add(&worker_rounds, 1);
	}
	for (int j = 0; j < N; j++) {
		if (p[j])
			CHECK(tu_check(p[j], size[j], seed[j]) == size[j], "worker: corrupted at end");
		free(p[j]);
	}
	return NULL;
}

static _Atomic int foreign;   /* sigwait/signalfd modes: signals nobody sent */
static const char *_Atomic stage = "start";
static _Atomic int64_t stage_since_ms;

static void set_stage(const char *s)
{
	atomic_store(&stage_since_ms, now_ms());
	atomic_store(&stage, s);
}

static void *watchdog(void *arg)
{
	(void)arg;
	block_rt(SIG_BLOCK);
	while (!atomic_load(&stop_helpers)) {
		tu_sleep_ms(100);
		if (now_ms() - atomic_load(&stage_since_ms) > HUNG_MS) {
			printf("FAIL: stuck for %d s in: %s (signals the program did not send: "
			       "%d)\n", HUNG_MS / 1000, atomic_load(&stage), atomic_load(&foreign));
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

static pthread_t helpers[3];
static int nhelpers;

/* The helpers block every real-time signal, so signals sent to the
 * process go to the main thread. */
static void start_helpers(int with_worker)
{
	set_stage("start");
	void *(*fns[3])(void *) = { watchdog, cycler, worker };
	for (int i = 0; i < 3; i++) {
		if ((i == 1 && !tu_collect_ptr) || (i == 2 && !with_worker))
			continue;
		CHECK(pthread_create(&helpers[nhelpers++], NULL, fns[i], NULL) == 0,
		      "pthread_create");
	}
}

static void stop_helpers_now(void)
{
	atomic_store(&stop_helpers, 1);
	for (int i = 0; i < nhelpers; i++)
		pthread_join(helpers[i], NULL);
	nhelpers = 0;
}

/* ---- handlers mode ---- */

enum { K_INFO, K_PLAIN, K_RESETHAND, K_ONSTACK };
#define CHECKED_FLAGS (SA_SIGINFO | SA_RESTART | SA_RESETHAND | SA_ONSTACK | SA_NODEFER)

static volatile sig_atomic_t count[MAXSIG], active[MAXSIG], off_main[MAXSIG];
static volatile sig_atomic_t last_code[MAXSIG], last_pid[MAXSIG];
static volatile int values[MAXSIG][4];    /* by count % 4 */
static volatile sig_atomic_t mask_test, mask_inside_ok[MAXSIG], mask_broken[MAXSIG];

static int kind_of(int sig)
{
	return (sig - SIGRTMIN) % 4;
}

static int partner(int sig)
{
	return sig == SIGRTMAX ? SIGRTMIN : sig + 1;
}

static int masker(int sig)       /* the signal whose sa_mask holds sig */
{
	return sig == SIGRTMIN ? SIGRTMAX : sig - 1;
}

static void handler_body(int sig, const siginfo_t *si)
{
	int saved = errno;
	active[sig] = 1;
	if (gettid_raw() != main_tid)
		off_main[sig]++;
	if (active[masker(sig)])
		mask_broken[sig]++;       /* ran inside a handler that masks it */
	if (si) {
		last_code[sig] = si->si_code;
		last_pid[sig] = si->si_pid;
		values[sig][count[sig] % 4] = si->si_value.sival_int;
	}
	count[sig]++;
	if (mask_test == sig) {
		mask_test = 0;
		int p = partner(sig);
		sig_atomic_t before = count[p];
		raise(p);
		mask_inside_ok[sig] = count[p] == before;
	}
	active[sig] = 0;
	errno = saved;
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	handler_body(sig, si);
}

static void on_plain(int sig)
{
	handler_body(sig, NULL);
}

static struct sigaction action_for(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, partner(sig));
	switch (kind_of(sig)) {
	case K_PLAIN:
		sa.sa_handler = on_plain;
		sa.sa_flags = SA_RESTART;
		break;
	case K_RESETHAND:
		sa.sa_sigaction = on_info;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
		break;
	case K_ONSTACK:
		sa.sa_sigaction = on_info;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		break;
	default:
		sa.sa_sigaction = on_info;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
	}
	return sa;
}

/* What went wrong for the current signal, "; "-separated. */
static char problems[2048];

#define PROBLEM(...)                                                                   \
	do {                                                                           \
		size_t used_ = strlen(problems);                                       \
		snprintf(problems + used_, sizeof problems - used_, "%s", used_ ? "; " : ""); \
		used_ = strlen(problems);                                              \
		snprintf(problems + used_, sizeof problems - used_, __VA_ARGS__);      \
	} while (0)

static void install(int sig)
{
	struct sigaction sa = action_for(sig);
	if (sigaction(sig, &sa, NULL) != 0)
		PROBLEM("sigaction failed: %s", strerror(errno));
}

static const char *code_name(int code)
{
	switch (code) {
	case SI_QUEUE: return "SI_QUEUE";
	case SI_TKILL: return "SI_TKILL";
	case SI_TIMER: return "SI_TIMER";
	case SI_USER: return "SI_USER";
	default: return "other";
	}
}

/* After one send: the handler ran once more, on the main thread, with
 * code and value (value < 0: not checked); SA_RESETHAND left SIG_DFL. */
static void expect_one(int sig, const char *how, sig_atomic_t before, int code, int value)
{
	int n = count[sig] - before;
	if (n != 1) {
		PROBLEM("%s: handler ran %d times, want 1", how, n);
		return;
	}
	if (kind_of(sig) != K_PLAIN) {
		if (last_code[sig] != code)
			PROBLEM("%s: si_code %s, want %s", how, code_name(last_code[sig]),
				code_name(code));
		if (code != SI_TIMER && last_pid[sig] != getpid())
			PROBLEM("%s: si_pid is not the process's", how);
		if (value >= 0 && values[sig][before % 4] != value)
			PROBLEM("%s: value %d, want %d", how, values[sig][before % 4], value);
	}
	if (kind_of(sig) == K_RESETHAND) {
		struct sigaction now;
		sigaction(sig, NULL, &now);
		if (now.sa_handler != SIG_DFL)
			PROBLEM("%s: SA_RESETHAND did not leave SIG_DFL", how);
		install(sig);
	}
}

static void check_signal(int sig)
{
	problems[0] = 0;
	int k = sig - SIGRTMIN;
	struct sigaction want = action_for(sig), got;

	/* 1. installed, and given back */
	install(sig);
	memset(&got, 0, sizeof got);
	if (sigaction(sig, NULL, &got) != 0)
		PROBLEM("sigaction(NULL, &old) failed");
	if ((void *)got.sa_handler != (void *)want.sa_handler)
		PROBLEM("sigaction gives back %s, not its handler",
			got.sa_handler == SIG_DFL ? "SIG_DFL" : got.sa_handler == SIG_IGN ? "SIG_IGN"
											     : "another function");
	if ((int)(got.sa_flags & CHECKED_FLAGS) != want.sa_flags)
		PROBLEM("sigaction gives back flags %#x, want %#x", (unsigned)(got.sa_flags & CHECKED_FLAGS),
			want.sa_flags);
	if (!sigismember(&got.sa_mask, partner(sig)) || sigismember(&got.sa_mask, sig))
		PROBLEM("sigaction gives back another sa_mask");

	/* 2. sigqueue, raise, pthread_kill */
	sig_atomic_t before = count[sig];
	union sigval v = { .sival_int = 1000 + k };
	if (sigqueue(getpid(), sig, v) != 0)
		PROBLEM("sigqueue failed: %s", strerror(errno));
	expect_one(sig, "sigqueue", before, SI_QUEUE, 1000 + k);
	before = count[sig];
	raise(sig);
	expect_one(sig, "raise", before, SI_TKILL, -1);
	before = count[sig];
	pthread_kill(pthread_self(), sig);
	expect_one(sig, "pthread_kill", before, SI_TKILL, -1);

	/* 3. a POSIX timer */
	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = sig,
				.sigev_value = { .sival_int = 2000 + k } };
	before = count[sig];
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
		PROBLEM("timer_create failed: %s", strerror(errno));
	} else {
		struct itimerspec its = { .it_value = { 0, 2000000 } };
		timer_settime(timer, 0, &its, NULL);
		for (int ms = 0; count[sig] == before && ms < 1000; ms++)
			tu_sleep_ms(1);
		timer_delete(timer);
		expect_one(sig, "timer", before, SI_TIMER, 2000 + k);
	}

	/* 4. blocked: queued, then delivered in order (one only with
	 * SA_RESETHAND: the second would meet SIG_DFL and end the process) */
	int queued = kind_of(sig) == K_RESETHAND ? 1 : 3;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	before = count[sig];
	for (int i = 0; i < queued; i++)
		sigqueue(getpid(), sig, (union sigval){ .sival_int = 3000 + 10 * k + i });
	int early = count[sig] - before;
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	if (early)
		PROBLEM("blocked: %d of %d delivered while blocked", early, queued);
	else if (count[sig] - before != queued)
		PROBLEM("blocked: %d of %d delivered after unblocking", (int)(count[sig] - before),
			queued);
	else if (kind_of(sig) != K_PLAIN)
		for (int i = 0; i < queued; i++)
			if (values[sig][(before + i) % 4] != 3000 + 10 * k + i)
				PROBLEM("blocked: value %d is %d, want %d (order)", i,
					values[sig][(before + i) % 4], 3000 + 10 * k + i);

	/* 5. sa_mask: the partner raised inside the handler waits for it */
	install(sig);
	install(partner(sig));
	int p = partner(sig);
	sig_atomic_t pbefore = count[p], pbroken = mask_broken[p];
	before = count[sig];
	mask_inside_ok[sig] = 0;
	mask_test = sig;
	raise(sig);
	mask_test = 0;
	if (count[sig] - before != 1)
		PROBLEM("sa_mask: handler ran %d times, want 1", (int)(count[sig] - before));
	else if (!mask_inside_ok[sig] || mask_broken[p] != pbroken)
		PROBLEM("sa_mask: SIGRTMIN+%d ran inside the handler", p - SIGRTMIN);
	else if (count[p] - pbefore != 1)
		PROBLEM("sa_mask: SIGRTMIN+%d ran %d times after the handler, want 1",
			p - SIGRTMIN, (int)(count[p] - pbefore));
	install(p);   /* both again: SA_RESETHAND */
	install(sig);

	if (off_main[sig])
		PROBLEM("%d handler runs on another thread (which blocks it)", (int)off_main[sig]);
}

static int handlers_mode(void)
{
	/* Data the main thread keeps across the whole run. */
	uint64_t rng = 7;
	struct node *list = NULL;
	enum { NODES = 2000 };
	for (int i = 0; i < NODES; i++) {
		struct node *n = tu_new_node(&rng, 16 + tu_next(&rng) % 400);
		n->next = list;
		list = n;
	}
	block_rt(SIG_BLOCK);
	start_helpers(1);
	block_rt(SIG_UNBLOCK);
	tu_sleep_ms(20);
	static char first_problems[MAXSIG][sizeof problems];
	int quiet_runs[MAXSIG] = { 0 };
	for (int round = 0; round < ROUNDS; round++) {
		for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
			set_stage("a signal's checks");
			check_signal(sig);
			if (problems[0] && !first_problems[sig][0])
				snprintf(first_problems[sig], sizeof first_problems[sig], "%s%s",
					 round ? "(in a later round) " : "", problems);
			/* more allocation between signals, for gcstress */
			struct node *n = tu_new_node(&rng, 64);
			n->next = list;
			list = n;
		}
		/* Every handler installed, nothing sent, cycles running: no
		 * handler may run (pacegc's own stop signals are not the
		 * program's). */
		set_stage("quiet");
		sig_atomic_t before[MAXSIG];
		for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
			before[sig] = count[sig];
		tu_sleep_ms(QUIET_MS);
		for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
			quiet_runs[sig] += count[sig] - before[sig];
	}
	set_stage("stopping");
	stop_helpers_now();
	int failed = 0;
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		problems[0] = 0;
		if (first_problems[sig][0])
			PROBLEM("%s", first_problems[sig]);
		if (quiet_runs[sig])
			PROBLEM("the handler ran %d times while nothing was sent", quiet_runs[sig]);
		if (problems[0])
			printf("SIGRTMIN+%d: FAIL: %s\n", sig - SIGRTMIN, problems);
		else
			printf("SIGRTMIN+%d: ok\n", sig - SIGRTMIN);
		failed += problems[0] != 0;
	}
	size_t nodes = 0;
	for (struct node *n = list; n; n = n->next, nodes++)
		CHECK(tu_check(n->data, n->size, n->seed) == n->size, "a node of the main "
		      "thread's list was corrupted");
	printf("data: %zu objects intact, worker checked its own\n", nodes);
	while (list) {
		struct node *n = list->next;
		free(list);
		list = n;
	}
	int total = SIGRTMAX - SIGRTMIN + 1;
	if (failed)
		printf("rtsignals: %d of %d real-time signals failed\n", failed, total);
	else
		printf("rtsignals: all %d real-time signals ok\n", total);
	return failed ? 1 : 0;
}

/* ---- ignored modes ---- */

struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static int ignored_parent(char **argv, int raw)
{
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		if (raw) {
			struct kernel_sigaction k = { .handler = SIG_IGN };
			CHECK(syscall(SYS_rt_sigaction, sig, &k, NULL, 8) == 0, "rt_sigaction");
		} else {
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_handler = SIG_IGN;
			CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction");
		}
	}
	fflush(stdout);
	char *args[] = { argv[0], "ignored-child", NULL };
	execv("/proc/self/exe", args);
	FAIL("execv: %s", strerror(errno));
}

static int ignored_child(void)
{
	int failed = 0;
	uint32_t cycles0 = cycles_so_far();
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		struct sigaction now;
		memset(&now, 0, sizeof now);
		sigaction(sig, NULL, &now);
		int ign = now.sa_handler == SIG_IGN && !(now.sa_flags & SA_SIGINFO);
		/* Sent to itself: dropped if ignored (else the process dies
		 * here, which the plain run would not). */
		sigqueue(getpid(), sig, (union sigval){ .sival_int = sig });
		raise(sig);
		if (ign) {
			printf("SIGRTMIN+%d: ignored after exec\n", sig - SIGRTMIN);
		} else {
			printf("SIGRTMIN+%d: FAIL: %s after exec, want SIG_IGN\n", sig - SIGRTMIN,
			       now.sa_handler == SIG_DFL ? "SIG_DFL" : "a handler");
			failed++;
		}
	}
	/* Cycles still run: forced ones, and with gcstress allocations. */
	tu_gc_cycles(3, 1);
	uint64_t rng = 3;
	for (int i = 0; i < 20000; i++) {
		struct node *n = tu_new_node(&rng, 100);
		CHECK(tu_check(n->data, n->size, n->seed) == n->size, "node");
		free(n);
	}
	uint32_t cycles = cycles_so_far() - cycles0;
	if (read_stats && cycles < 3) {
		fprintf(stderr, "FAIL: with every real-time signal ignored at start, pacegc "
			"completed %u cycles (3 forced, want at least 3)\n", cycles);
		failed++;
	}
	printf("rtsignals ignored: %s\n", failed ? "FAIL" : "every real-time signal stayed "
	       "ignored, the program ran on");
	return failed ? 1 : 0;
}

/* ---- sigwait / signalfd modes ---- */

#define SENDS 3
static _Atomic int got[MAXSIG], foreign_sig, foreign_code, foreign_own, out_of_order;
static _Atomic int waiter_done;

static void note(int sig, int code, int pid, int value)
{
	if (sig >= SIGRTMIN && sig <= SIGRTMAX && code == SI_QUEUE && pid == getpid() &&
	    value / 100 == sig && value % 100 < SENDS) {
		if (value % 100 != atomic_load(&got[sig]))
			atomic_fetch_add(&out_of_order, 1);
		atomic_fetch_add(&got[sig], 1);
		return;
	}
	if (atomic_fetch_add(&foreign, 1) == 0) {
		atomic_store(&foreign_sig, sig);
		atomic_store(&foreign_code, code);
		atomic_store(&foreign_own, pid == getpid());
	}
}

static sigset_t rt_set;

static void *waiter_sigwait(void *arg)
{
	(void)arg;
	while (!atomic_load(&waiter_done)) {
		siginfo_t si;
		struct timespec ts = { 0, 50000000 };
		int sig = sigtimedwait(&rt_set, &si, &ts);
		if (sig > 0)
			note(sig, si.si_code, si.si_pid, si.si_value.sival_int);
	}
	return NULL;
}

static void *waiter_signalfd(void *arg)
{
	int fd = (int)(intptr_t)arg;
	while (!atomic_load(&waiter_done)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		struct signalfd_siginfo si;
		if (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
			note((int)si.ssi_signo, si.ssi_code, (int)si.ssi_pid, si.ssi_int);
	}
	return NULL;
}

static int wait_mode(int use_fd)
{
	sigemptyset(&rt_set);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&rt_set, sig);
	pthread_sigmask(SIG_BLOCK, &rt_set, NULL);   /* every thread from here */
	int fd = -1;
	if (use_fd) {
		fd = signalfd(-1, &rt_set, SFD_CLOEXEC);
		CHECK(fd >= 0, "signalfd: %s", strerror(errno));
	}
	start_helpers(1);
	pthread_t w;
	CHECK(pthread_create(&w, NULL, use_fd ? waiter_signalfd : waiter_sigwait,
			     (void *)(intptr_t)fd) == 0, "pthread_create");
	tu_sleep_ms(50);

	/* Cycles while the thread waits and nothing is sent.  Counted as
	 * the cycler's calls that returned: pacegc_read_stats would wait for
	 * the cycle in progress, and a cycle that cannot stop the world
	 * takes its full timeout (2 s) before it gives up. */
	set_stage("cycles while a thread waits");
	long c0 = atomic_load(&forced_cycles);
	tu_sleep_ms(1000);
	long cycles = atomic_load(&forced_cycles) - c0;

	set_stage("sending");
	int missing = 0, missing_sig = 0, partial = 0;
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		for (int i = 0; i < SENDS; i++)
			sigqueue(getpid(), sig, (union sigval){ .sival_int = sig * 100 + i });
		for (int ms = 0; atomic_load(&got[sig]) < SENDS && ms < 500; ms++)
			tu_sleep_ms(1);
	}
	tu_sleep_ms(200);
	atomic_store(&waiter_done, 1);
	pthread_join(w, NULL);
	set_stage("stopping");
	stop_helpers_now();

	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		int n = atomic_load(&got[sig]);
		printf("SIGRTMIN+%d: %d of %d received\n", sig - SIGRTMIN, n, SENDS);
		if (n == 0)
			missing++, missing_sig = sig;
		else if (n != SENDS)
			partial++;
	}
	int f = atomic_load(&foreign);
	printf("signals the program did not send: %d", f);
	if (f)
		printf(" (first: SIGRTMIN+%d, %s from %s)", atomic_load(&foreign_sig) - SIGRTMIN,
		       code_name(atomic_load(&foreign_code)),
		       atomic_load(&foreign_own) ? "this process" : "elsewhere");
	printf("\n");
	if (atomic_load(&out_of_order))
		printf("out of order: %d\n", atomic_load(&out_of_order));
	int cycles_ok = !tu_collect_ptr || (cycles >= 10 && !atomic_load(&stalled));
	if (tu_collect_ptr && cycles_ok)
		printf("cycles while a thread waited: kept running\n");
	else if (tu_collect_ptr)
		printf("cycles while a thread waited: STALLED (%ld in the first second, "
		       "one took over %d ms)\n", cycles, STALL_MS);
	if (partial || f || atomic_load(&out_of_order) || !cycles_ok || missing > 1) {
		printf("rtsignals %s: FAIL\n", use_fd ? "signalfd" : "sigwait");
		return 1;
	}
	if (missing == 1) {
		printf("rtsignals %s: one signal never arrived: %d (SIGRTMIN+%d)\n",
		       use_fd ? "signalfd" : "sigwait", missing_sig, missing_sig - SIGRTMIN);
		return 3;
	}
	printf("rtsignals %s: every real-time signal received\n", use_fd ? "signalfd" : "sigwait");
	return 0;
}

/* ---- process mode ---- */

static _Atomic pid_t ran_on;
static _Atomic int proc_phase;   /* 1: the other thread runs open; 2: blocked; 3: unblock */

static void record_tid(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_store(&ran_on, gettid_raw());
}

static int wait_ran(int ms)
{
	for (int i = 0; i < ms && atomic_load(&ran_on) == 0; i++)
		tu_sleep_ms(1);
	return atomic_load(&ran_on) != 0;
}

static void *proc_other(void *arg)
{
	int sig = (int)(intptr_t)arg;
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	while (atomic_load(&proc_phase) == 1)
		tu_sleep_ms(1);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	atomic_store(&proc_phase, 2);
	while (atomic_load(&proc_phase) != 3)
		tu_sleep_ms(1);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	return NULL;
}

/* A signal sent to the process goes to a thread that does not block it,
 * whichever thread it first lands on; sent while every thread blocks it,
 * it waits for the process, and the first thread to unblock it runs its
 * handler.  For each real-time signal: the main thread blocks it while
 * another thread does not (the handler must run there, at once), then
 * both block it (nothing runs) and the other thread unblocks it first
 * (the handler must run there).  The second round uses
 * pacegc_collect's cycles between the steps. */
static int process_mode(void)
{
	int problems = 0;
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = record_tid;
		sa.sa_flags = SA_SIGINFO;
		CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction");
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		atomic_store(&proc_phase, 1);
		pthread_t t;
		CHECK(pthread_create(&t, NULL, proc_other, (void *)(intptr_t)sig) == 0,
		      "pthread_create");
		pthread_sigmask(SIG_BLOCK, &one, NULL);
		atomic_store(&ran_on, 0);
		tu_gc();
		sigqueue(getpid(), sig, (union sigval){ .sival_int = 1 });
		const char *what = NULL;
		if (!wait_ran(2000))
			what = "sent while the main thread blocks it, it never ran on the other";
		else if (atomic_load(&ran_on) == main_tid)
			what = "sent while the main thread blocks it, it ran on the main thread";
		atomic_store(&ran_on, 0);
		atomic_store(&proc_phase, 0);
		while (atomic_load(&proc_phase) != 2)
			tu_sleep_ms(1);
		sigqueue(getpid(), sig, (union sigval){ .sival_int = 2 });
		tu_gc();
		tu_sleep_ms(20);
		const char *what2 = NULL;
		if (atomic_load(&ran_on) != 0)
			what2 = "sent while every thread blocks it, it ran";
		atomic_store(&proc_phase, 3);
		pthread_join(t, NULL);
		if (!what2 && atomic_load(&ran_on) == 0)
			what2 = "sent while every thread blocked it, it never ran when one unblocked it";
		else if (!what2 && atomic_load(&ran_on) == main_tid)
			what2 = "sent while every thread blocked it, it ran on the main thread";
		/* Whatever is still pending goes now, to the handler. */
		pthread_sigmask(SIG_UNBLOCK, &one, NULL);
		sa.sa_handler = SIG_IGN;
		sa.sa_flags = 0;
		sigaction(sig, &sa, NULL);
		for (int i = 0; i < 2; i++) {
			const char *w = i ? what2 : what;
			if (w)
				printf("SIGRTMIN+%d: FAIL: %s\n", sig - SIGRTMIN, w);
		}
		problems += what || what2;
	}
	printf("rtsignals process: %d of %d real-time signals failed\n", problems,
	       SIGRTMAX - SIGRTMIN + 1);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	tu_gc_init();
	read_stats = (void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT, "pacegc_read_stats");
	main_tid = gettid_raw();
	CHECK(SIGRTMAX < MAXSIG, "SIGRTMAX %d", SIGRTMAX);
	const char *mode = argc > 1 ? argv[1] : "handlers";
	if (strcmp(mode, "handlers") == 0)
		return handlers_mode();
	if (strcmp(mode, "ignored") == 0)
		return ignored_parent(argv, 0);
	if (strcmp(mode, "ignored-raw") == 0)
		return ignored_parent(argv, 1);
	if (strcmp(mode, "ignored-child") == 0)
		return ignored_child();
	if (strcmp(mode, "sigwait") == 0)
		return wait_mode(0);
	if (strcmp(mode, "signalfd") == 0)
		return wait_mode(1);
	if (strcmp(mode, "process") == 0)
		return process_mode();
	FAIL("usage: rtsignals [handlers|ignored|ignored-raw|sigwait|signalfd|process]");
}
