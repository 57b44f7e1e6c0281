/* setjmp/longjmp across frames that hold the only pointers to objects.
 *
 * Each round, a frame calls setjmp, allocates objects whose only pointers
 * are its own locals, and descends DEPTH frames; every frame allocates an
 * object held only by its local variable (the frames register the address
 * of that local, a stack address, so the deepest frame can check them).
 * At the bottom cycles run and memory is churned; every frame's object is
 * checked; then longjmp unwinds all DEPTH frames at once.  Their objects
 * are now leaked (nothing points to them; pacegc reclaims them), while the
 * setjmp frame's objects must survive further cycles and are checked.
 * Also siglongjmp out of a signal handler whose frame held the only
 * pointer to an object, and a longjmp through a frame whose pointer was
 * in a callee-saved register variable only.  Deterministic output; any
 * corruption exits 1. */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define ROUNDS 60
#define DEPTH 40

struct held {
	unsigned char *volatile *slot; /* address of a frame's local */
	size_t size;
	uint64_t seed;
};

static struct held frames[DEPTH];
static uint64_t rng = 2024;
static long leaked;

static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		size_t size = 1 + tu_next(&rng) % 3000;
		unsigned char *p = malloc(size);
		CHECK(p != NULL, "malloc");
		memset(p, 0xab, size);
		free(p);
	}
}

static void check_frames(int depth, const char *when)
{
	for (int d = 0; d < depth; d++) {
		unsigned char *p = *frames[d].slot;
		size_t bad = tu_check(p, frames[d].size, frames[d].seed);
		if (bad != frames[d].size)
			FAIL("%s: the object held only by frame %d's local "
			     "corrupted at byte %zu", when, d, bad);
	}
}

/* noipa: not known to the compiler as noreturn, so that descend() has a
 * path that returns (it never takes it). */
static __attribute__((noipa)) void bottom(jmp_buf *env)
{
	churn(2000);
	tu_gc_cycles(2, 15);
	churn(2000);
	check_frames(DEPTH, "at the bottom");
	longjmp(*env, 1);
}

static __attribute__((noinline)) void descend(int d, jmp_buf *env)
{
	unsigned char *volatile mine;
	size_t size = 8 + tu_next(&rng) % (d % 8 == 0 ? 50000 : 400);
	uint64_t seed = tu_next(&rng);
	mine = malloc(size);
	CHECK(mine != NULL, "malloc");
	tu_fill(mine, size, seed);
	frames[d] = (struct held){ &mine, size, seed };
	leaked += (long)size;
	if (d + 1 < DEPTH)
		descend(d + 1, env);
	else
		bottom(env);
	/* Not reached; round_trip() fails if it is. */
}

/* The setjmp frame's own objects, in locals modified after setjmp
 * (volatile, so their values after longjmp are defined). */
static void round_trip(int round)
{
	jmp_buf env;
	unsigned char *volatile a = malloc(1000);
	unsigned char *volatile b = NULL;
	CHECK(a != NULL, "malloc");
	tu_fill(a, 1000, round);
	if (setjmp(env) == 0) {
		b = malloc(70000); /* after setjmp */
		CHECK(b != NULL, "malloc");
		tu_fill(b, 70000, round + 1);
		descend(0, &env);
		FAIL("descend returned");
	}
	churn(2000);
	tu_gc_cycles(2, 15);
	churn(2000);
	CHECK(tu_check(a, 1000, round) == 1000,
	      "setjmp frame's object (set before setjmp) corrupted");
	CHECK(tu_check(b, 70000, round + 1) == 70000,
	      "setjmp frame's object (set after setjmp) corrupted");
	free(a);
	free(b);
	/* The frames' locals are gone; forget their addresses. */
	memset(frames, 0, sizeof frames);
}

/* ---- siglongjmp out of a handler ---- */

static sigjmp_buf sig_env;
static volatile sig_atomic_t in_handler;

static void on_usr2(int sig)
{
	(void)sig;
	unsigned char *volatile only = malloc(5000);
	if (!only)
		FAIL("malloc");
	tu_fill(only, 5000, 77);
	in_handler = 1;
	churn(500);
	tu_gc_cycles(2, 15);
	if (tu_check(only, 5000, 77) != 5000)
		FAIL("object held only by the handler's frame corrupted");
	leaked += 5000;
	siglongjmp(sig_env, 1); /* `only` is leaked */
}

static void signal_jumps(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
	for (int i = 0; i < 10; i++) {
		unsigned char *volatile keep = malloc(300);
		CHECK(keep != NULL, "malloc");
		tu_fill(keep, 300, i);
		in_handler = 0;
		if (sigsetjmp(sig_env, 1) == 0) {
			raise(SIGUSR2);
			FAIL("raise returned");
		}
		CHECK(in_handler, "the handler did not run");
		churn(500);
		tu_gc_cycles(2, 15);
		CHECK(tu_check(keep, 300, i) == 300,
		      "object of the sigsetjmp frame corrupted");
		free(keep);
	}
	/* The signal mask was restored: SIGUSR2 is deliverable again. */
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	CHECK(!sigismember(&now, SIGUSR2), "SIGUSR2 still blocked");
}

/* ---- a pointer only in a callee-saved register across longjmp ---- */
#if defined(__x86_64__)

static jmp_buf reg_env;

static __attribute__((noinline)) void jump_back(void)
{
	churn(1000);
	tu_gc_cycles(2, 15);
	longjmp(reg_env, 1);
}

/* r is not volatile on purpose: it lives in rbx, which longjmp restores
 * from reg_env; -Wclobbered warns about exactly that. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
static __attribute__((noinline)) void register_held(void)
{
	for (int i = 0; i < 10; i++) {
		/* rbx is callee-saved: setjmp stores it in reg_env, the
		 * calls below save it on their stacks. */
		register unsigned char *r __asm__("rbx") = malloc(4000);
		CHECK(r != NULL, "malloc");
		tu_fill(r, 4000, 500 + i);
		__asm__ volatile("" : "+r"(r));
		if (setjmp(reg_env) == 0)
			jump_back();
		__asm__ volatile("" : "+r"(r));
		CHECK(tu_check(r, 4000, 500 + i) == 4000,
		      "object held in a callee-saved register corrupted");
		free(r);
	}
}
#pragma GCC diagnostic pop
#endif

int main(void)
{
	tu_gc_init();
	for (int round = 0; round < ROUNDS; round++)
		round_trip(round);
	signal_jumps();
#if defined(__x86_64__)
	register_held();
#endif
	printf("longjmp: %d rounds over %d frames, %d signal jumps; %ld bytes "
	       "left behind by longjmp, every held object intact\n", ROUNDS,
	       DEPTH, 10, leaked);
	return 0;
}
