/* Pointers kept only in epoll registrations.
 *
 * NREG eventfds are registered with an epoll instance, each with
 * epoll_event.data.ptr = a malloc'd, pattern-filled struct; the program
 * keeps no copy of the pointer (only the fd numbers).  Many cycles run,
 * with allocation churn that would reuse any memory reclaimed wrongly.
 * Then every eventfd is written, epoll_wait hands the pointers back, and
 * each struct is checked.  Then:
 *   - EPOLL_CTL_MOD replaces half of the pointers with new structs (the
 *     old ones are freed); cycles; fire; check;
 *   - some fds are dup'd and the original closed: the registration lives
 *     on while the duplicate keeps the file open (epoll(7)), so its
 *     pointer must stay alive too; cycles; fire through the duplicate;
 *     check;
 *   - EPOLL_CTL_DEL for the rest (the dup'd ones go with their last
 *     duplicate's close), then free.
 * Any corruption, or a pointer coming back that does not match, exits 1;
 * pacegc's report of a bad free shows up on stderr.  Deterministic output
 * (events are handled in fd order).  Usage: epoll [rounds] */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "testutil.h"

#define NREG 256

struct reg {
	struct reg *self;
	int fd;          /* the fd the event is expected on */
	int generation;
	uint64_t seed;
	size_t size;     /* of data[] */
	unsigned char data[];
};

static int efd[NREG];     /* eventfds; -1 when closed */
static int fire_fd[NREG]; /* what to write to: efd, or its duplicate */
static int epfd;
static uint64_t rng = 555;

static struct reg *reg_new(int i, int generation)
{
	size_t size = 8 + tu_next(&rng) % (i % 16 == 0 ? 20000 : 300);
	struct reg *r = malloc(sizeof *r + size);
	CHECK(r != NULL, "malloc");
	r->self = r;
	r->fd = i;
	r->generation = generation;
	r->seed = tu_next(&rng);
	r->size = size;
	tu_fill(r->data, size, r->seed);
	return r;
}

static void reg_check(const struct reg *r, int i, int generation)
{
	if (r->self != r || r->fd != i || r->generation != generation)
		FAIL("registration %d: data.ptr %p came back with a bad header "
		     "(self %p, id %d, generation %d, want %d): it was "
		     "reclaimed while only epoll held it", i, (const void *)r,
		     (const void *)r->self, r->fd, r->generation, generation);
	size_t bad = tu_check(r->data, r->size, r->seed);
	if (bad != r->size)
		FAIL("registration %d: struct corrupted at byte %zu", i, bad);
}

/* Registers fd for slot i with a new struct and forgets the pointer. */
static __attribute__((noinline)) void add(int i, int op, int generation)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = reg_new(i, generation);
	CHECK(epoll_ctl(epfd, op, efd[i] >= 0 ? efd[i] : fire_fd[i], &ev) == 0,
	      "epoll_ctl: %s", strerror(errno));
	*(void *volatile *)&ev.data.ptr = NULL;
}

/* Churn memory and run cycles well apart: anything reclaimed wrongly is
 * likely handed out again and overwritten here. */
static void cycles_and_churn(void)
{
	for (int k = 0; k < 4; k++) {
		for (int n = 0; n < 3000; n++) {
			size_t size = 8 + tu_next(&rng) % (n % 50 ? 400 : 20000);
			unsigned char *p = malloc(size);
			CHECK(p != NULL, "malloc");
			memset(p, 0xee, size);
			free(p);
		}
		tu_gc_cycles(2, 15);
	}
}

/* Fires the listed slots, collects their events, checks each struct and
 * returns them indexed by slot. */
static void fire(const int *slots, int n, int generation,
		 struct reg **got)
{
	for (int k = 0; k < n; k++) {
		uint64_t one = 1;
		CHECK(write(fire_fd[slots[k]], &one, sizeof one) == sizeof one,
		      "write eventfd: %s", strerror(errno));
	}
	int seen = 0;
	struct epoll_event evs[64];
	while (seen < n) {
		int m = epoll_wait(epfd, evs, 64, 10000);
		if (m < 0 && errno == EINTR)
			continue;
		CHECK(m > 0, "epoll_wait: %s", m < 0 ? strerror(errno) : "timeout");
		for (int e = 0; e < m; e++) {
			struct reg *r = evs[e].data.ptr;
			int i = r->fd;
			CHECK(i >= 0 && i < NREG && got[i] == NULL,
			      "event with a bad or repeated slot %d", i);
			reg_check(r, i, generation);
			uint64_t v;
			CHECK(read(fire_fd[i], &v, sizeof v) == sizeof v && v == 1,
			      "read eventfd");
			got[i] = r;
			seen++;
		}
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 3;
	tu_gc_init();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epfd >= 0, "epoll_create1: %s", strerror(errno));
	static struct reg *got[NREG];
	int all[NREG];
	for (int i = 0; i < NREG; i++)
		all[i] = i;

	for (int round = 0; round < rounds; round++) {
		int gen = round * 10;
		for (int i = 0; i < NREG; i++) {
			efd[i] = fire_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			CHECK(efd[i] >= 0, "eventfd: %s", strerror(errno));
			add(i, EPOLL_CTL_ADD, gen);
		}
		cycles_and_churn();
		memset(got, 0, sizeof got);
		fire(all, NREG, gen, got);

		/* MOD: new structs for the even slots. */
		int even[NREG / 2], odd[NREG / 2];
		for (int k = 0; k < NREG / 2; k++) {
			even[k] = 2 * k;
			odd[k] = 2 * k + 1;
			free(got[2 * k]);
			add(2 * k, EPOLL_CTL_MOD, gen + 1);
		}
		memset(got, 0, sizeof got);
		cycles_and_churn();
		fire(even, NREG / 2, gen + 1, got);
		fire(odd, NREG / 2, gen, got);

		/* dup and close: one slot in 4 lives on through a duplicate. */
		int quarter[NREG / 4];
		for (int k = 0; k < NREG / 4; k++) {
			int i = quarter[k] = 4 * k;
			fire_fd[i] = dup(efd[i]);
			CHECK(fire_fd[i] >= 0, "dup: %s", strerror(errno));
			CHECK(close(efd[i]) == 0, "close");
			efd[i] = -1;
		}
		memset(got, 0, sizeof got);
		cycles_and_churn();
		fire(quarter, NREG / 4, gen + 1, got);

		/* DEL, close, free. */
		for (int i = 0; i < NREG; i++) {
			if (!got[i]) { /* not fired last: fire it alone */
				int one[1] = { i };
				fire(one, 1, i % 2 ? gen : gen + 1, got);
			}
			if (efd[i] >= 0) {
				CHECK(epoll_ctl(epfd, EPOLL_CTL_DEL, efd[i],
						NULL) == 0,
				      "EPOLL_CTL_DEL: %s", strerror(errno));
				close(efd[i]);
			} else {
				/* Registered under the closed fd number: it
				 * goes when its last duplicate is closed. */
				close(fire_fd[i]);
			}
			free(got[i]);
		}
		printf("epoll round %d: %d registrations kept their data through "
		       "cycles (added, modified, dup'd and closed, deleted)\n",
		       round, NREG);
	}
	close(epfd);
	return 0;
}
