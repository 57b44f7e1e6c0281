/* mutate: the torture test of a concurrent mark.  Threads keep moving the
 * only reference to their objects between places of every kind while
 * cycles run back to back, and check every object each time they touch
 * it.  A collector that misses a move (a reference put where the mark has
 * already looked, and taken from where it had not looked yet) frees a
 * live object: its memory is zeroed by the sweep or reused, and the next
 * check fails.
 *
 * usage: mutate [seconds [threads]]      (defaults 3 and 4)
 *
 * The places a reference moves between:
 *   - a global array (.bss), each thread its own part;
 *   - heap holders: objects reached from a global pointer to a heap
 *     array, each thread its own holders;
 *   - the inbox of another thread (a heap array under a lock), from which
 *     that thread takes it into its own places;
 *   - the thread's own stack (an array in its frame), and, for a moment,
 *     only a register or a local variable;
 *   - a heap object of a chain hanging off another object (depth).
 * Each move clears the old place after writing the new one, or before it
 * (the reference then lives only in the thread's registers or stack while
 * it allocates garbage: a cycle may run right then).  Garbage allocated
 * between moves (never freed) keeps cycles coming under gcstress.
 *
 * Output (stdout): "mutate: N objects intact", the same under any
 * allocator; any damaged or missing object is a FAIL on stderr and exit 1. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "watchdog.h"

#define THREADS_MAX 8
#define PER_THREAD 1024            /* objects each thread owns */
#define GLOBAL_SLOTS 512           /* per thread */
#define HOLDERS 64                 /* per thread */
#define HOLDER_SLOTS 16
#define STACK_SLOTS 256
#define INBOX_SLOTS (PER_THREAD * 3 / 2)
#define MAGIC 0x6d7574617465ull    /* "mutate" */

typedef struct obj {
	uint64_t magic;
	uint64_t id;
	uint64_t check;            /* magic ^ id, spelled out */
	struct obj *child;         /* a chain: moved along with its head */
	uint64_t payload[4];
} obj_t;

typedef struct holder {
	obj_t *slot[HOLDER_SLOTS];
} holder_t;

typedef struct inbox {
	pthread_mutex_t lock;
	obj_t **slot;              /* heap array of INBOX_SLOTS */
	size_t n;
} inbox_t;

static obj_t *globals[THREADS_MAX][GLOBAL_SLOTS];
static holder_t **holders;         /* heap: THREADS_MAX * HOLDERS holders */
static inbox_t inboxes[THREADS_MAX];
static int nthreads;
static uint64_t stop_at_ns;
static atomic_long total_found;
/* Objects in a thread's places and inbox: senders keep it below
 * OWNED_MAX, so that a receiver always finds free places. */
#define OWNED_MAX (PER_THREAD * 3 / 2)
static atomic_long owned[THREADS_MAX];

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void check_obj(const obj_t *o, const char *where)
{
	CHECK(o->magic == MAGIC && o->check == (MAGIC ^ o->id) &&
	      o->payload[3] == o->id * 7,
	      "object %p damaged (taken from %s): magic %llx id %llx check %llx", (void *)o,
	      where, (unsigned long long)o->magic, (unsigned long long)o->id,
	      (unsigned long long)o->check);
	if (o->child) {
		const obj_t *c = o->child;
		CHECK(c->magic == MAGIC && c->check == (MAGIC ^ c->id) && c->id == o->id + (1ull << 40),
		      "child %p of object %llx damaged (taken from %s)", (void *)c,
		      (unsigned long long)o->id, where);
	}
}

static obj_t *new_obj(uint64_t id)
{
	obj_t *o = malloc(sizeof *o);
	obj_t *c = malloc(sizeof *c);
	CHECK(o && c, "out of memory");
	*c = (obj_t){MAGIC, id + (1ull << 40), MAGIC ^ (id + (1ull << 40)), NULL, {0, 0, 0, 0}};
	*o = (obj_t){MAGIC, id, MAGIC ^ id, c, {1, 2, 3, id * 7}};
	return o;
}

/* Garbage, with bytes that look like no address: freed, but one in 16
 * dropped (what the collector reclaims, but with PACEGC_FREE=defer). */
static void churn(uint64_t *rng, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t r = tu_next(rng);
		size_t size = 16 + r % 200;
		unsigned char *g = malloc(size);
		CHECK(g, "out of memory");
		memset(g, 0x5a, size);
		if ((r >> 32) % 16 != 0) free(g);
	}
}

typedef struct places {
	int self;
	obj_t **stack;             /* the thread's frame */
} places_t;

/* The slot a random place of this thread is: a global, a holder's slot or
 * a stack slot.  Holders are reached through the heap. */
static obj_t **pick(const places_t *p, uint64_t r)
{
	switch (r % 3) {
	case 0: return &globals[p->self][(r >> 8) % GLOBAL_SLOTS];
	case 1: {
		holder_t *h = holders[p->self * HOLDERS + (r >> 8) % HOLDERS];
		return &h->slot[(r >> 20) % HOLDER_SLOTS];
	}
	default: return &p->stack[(r >> 8) % STACK_SLOTS];
	}
}

/* Gives o to thread `to`, unless it holds enough; false then. */
static bool send(int from, int to, obj_t *o)
{
	if (atomic_fetch_add(&owned[to], 1) >= OWNED_MAX) {
		atomic_fetch_sub(&owned[to], 1);
		return false;
	}
	atomic_fetch_sub(&owned[from], 1);
	inbox_t *b = &inboxes[to];
	pthread_mutex_lock(&b->lock);
	bool room = b->n < INBOX_SLOTS;
	if (room) b->slot[b->n++] = o;
	pthread_mutex_unlock(&b->lock);
	CHECK(room, "inbox %d full", to);
	return true;
}

/* Moves what this thread was sent into free places of its own. */
static void receive(const places_t *p, uint64_t *rng)
{
	inbox_t *b = &inboxes[p->self];
	for (;;) {
		pthread_mutex_lock(&b->lock);
		obj_t *o = b->n ? b->slot[--b->n] : NULL;
		if (o) b->slot[b->n] = NULL;
		pthread_mutex_unlock(&b->lock);
		if (!o) return;
		check_obj(o, "an inbox");
		obj_t **to;
		do to = pick(p, tu_next(rng));
		while (*to != NULL);
		*to = o;
	}
}

static pthread_barrier_t done;

/* Checks and counts the objects in this thread's places. */
static long count_places(const places_t *p)
{
	long n = 0;
	for (int i = 0; i < GLOBAL_SLOTS; i++)
		if (globals[p->self][i]) {
			check_obj(globals[p->self][i], "a global at the end");
			n++;
		}
	for (int h = 0; h < HOLDERS; h++)
		for (int i = 0; i < HOLDER_SLOTS; i++)
			if (holders[p->self * HOLDERS + h]->slot[i]) {
				check_obj(holders[p->self * HOLDERS + h]->slot[i], "a holder at the end");
				n++;
			}
	for (int i = 0; i < STACK_SLOTS; i++)
		if (p->stack[i]) {
			check_obj(p->stack[i], "the stack at the end");
			n++;
		}
	return n;
}

static void *worker(void *arg)
{
	obj_t *stack[STACK_SLOTS];
	memset(stack, 0, sizeof stack);
	places_t p = { (int)(intptr_t)arg, stack };
	uint64_t rng = 0x1234 + (uint64_t)p.self;
	for (int i = 0; i < PER_THREAD; i++) {
		obj_t **to;
		do to = pick(&p, tu_next(&rng));
		while (*to != NULL);
		*to = new_obj(((uint64_t)p.self << 32) | (uint64_t)i);
	}
	while (now_ns() < stop_at_ns) {
		uint64_t r = tu_next(&rng);
		obj_t **from = pick(&p, r);
		obj_t *o = *from;
		if (o == NULL) continue;
		check_obj(o, "a place");
		switch ((r >> 32) % 4) {
		case 0: {                        /* write the new place first */
			obj_t **to = pick(&p, tu_next(&rng));
			if (*to != NULL) break;
			*to = o;
			*from = NULL;
			break;
		}
		case 1: {                        /* only in this frame a while */
			*from = NULL;
			churn(&rng, 8);
			__asm__ volatile("" : "+r"(o) : : "memory");
			check_obj(o, "a register");
			obj_t **to;
			do to = pick(&p, tu_next(&rng));
			while (*to != NULL && to != from);
			*to = o;
			break;
		}
		case 2:                          /* to another thread */
			if (nthreads > 1) {
				*from = NULL;
				int to = (p.self + 1 + (int)((r >> 40) % (uint64_t)(nthreads - 1))) % nthreads;
				if (!send(p.self, to, o)) *from = o;
			}
			break;
		default: {                       /* the chain turned round */
			obj_t *c = o->child;
			c->child = o;            /* c -> o: o only in c, c only here */
			o->child = NULL;
			*from = c;
			churn(&rng, 2);
			o->child = c;            /* and back: o -> c */
			c->child = NULL;
			*from = o;
			check_obj(o, "a chain turned round");
			break;
		}
		}
		churn(&rng, 4);
		receive(&p, &rng);
	}
	/* Nothing is sent once every thread is here. */
	pthread_barrier_wait(&done);
	receive(&p, &rng);
	atomic_fetch_add(&total_found, count_places(&p));
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	nthreads = argc > 2 ? atoi(argv[2]) : 4;
	if (seconds <= 0 || nthreads < 1 || nthreads > THREADS_MAX) {
		fprintf(stderr, "usage: mutate [seconds [threads]]\n");
		return 2;
	}
	tu_watchdog("mutate", (unsigned)seconds + 120);
	holders = malloc((size_t)nthreads * HOLDERS * sizeof *holders);
	CHECK(holders, "out of memory");
	for (int i = 0; i < nthreads * HOLDERS; i++) {
		holders[i] = calloc(1, sizeof(holder_t));
		CHECK(holders[i], "out of memory");
	}
	for (int t = 0; t < nthreads; t++) {
		pthread_mutex_init(&inboxes[t].lock, NULL);
		inboxes[t].slot = calloc(INBOX_SLOTS, sizeof(obj_t *));
		CHECK(inboxes[t].slot, "out of memory");
		atomic_store(&owned[t], PER_THREAD);   /* before anyone sends */
	}
	stop_at_ns = now_ns() + (uint64_t)(seconds * 1e9);
	pthread_barrier_init(&done, NULL, (unsigned)nthreads);
	pthread_t th[THREADS_MAX];
	for (int t = 0; t < nthreads; t++)
		CHECK(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) == 0, "pthread_create");
	for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
	long want = (long)nthreads * PER_THREAD;
	CHECK(atomic_load(&total_found) == want, "%ld objects found at the end, not %ld",
	      atomic_load(&total_found), want);
	printf("mutate: %ld objects intact\n", want);
	return 0;
}
