/* Pointers passed between threads where a collector may not see them.
 *
 * - queue pairs: producers allocate pattern-filled messages and hand them
 *   through a mutex-protected ring to consumers, which check and free
 *   them (the pointer is always in the ring or a thread's frame);
 * - pipe pairs: writers allocate a message, write its address (8 bytes)
 *   into a pipe and overwrite their own copy; readers read the address
 *   back, check the message and free it.  While in the pipe the pointer is
 *   in the kernel only: no scan of memory sees it, and only pacegc's
 *   reading of the pipe at each cycle (src/transit.c) protects it (the
 *   library before it, at reclaimdelay=0, lost a message within seconds
 *   in every run).  A semaphore
 *   keeps at most PIPE_INFLIGHT messages in each pipe, as a real program
 *   with a reader keeping up would;
 * - every thread also keeps a pool of live objects it replaces at random.
 * Meant to run with PACEGC_GODEBUG=gcstress=N so cycles happen throughout.
 * A message that was reclaimed under the pipe shows up as a bad pattern
 * (exit 1) or as pacegc's report of a bad free.  Fixed amount of work;
 * deterministic output.  Usage: pipes [scale] */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define QPAIRS 3
#define PPAIRS 3
#define QCAP 256
#define PIPE_INFLIGHT 16
#define POOL 128
#define MSGS 15000

static int scale = 1;

struct msg {
	uint64_t seed;
	size_t size;          /* of data[] */
	struct msg *self;     /* the message's own address, checked too */
	unsigned char data[];
};

static struct msg *msg_new(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	size_t size = r % 64 == 0 ? 4096 + (r >> 8) % 60000 : 1 + (r >> 8) % 300;
	struct msg *m = malloc(sizeof *m + size);
	CHECK(m != NULL, "malloc(%zu)", sizeof *m + size);
	m->seed = tu_next(rng);
	m->size = size;
	m->self = m;
	tu_fill(m->data, size, m->seed);
	return m;
}

static void msg_check(const struct msg *m, const char *who)
{
	if (m->self != m || m->size > 70000)
		FAIL("%s: message %p has a bad header (self %p, size %zu): "
		     "it was freed and reused while in transit", who,
		     (const void *)m, (const void *)m->self, m->size);
	size_t bad = tu_check(m->data, m->size, m->seed);
	if (bad != m->size)
		FAIL("%s: message %p (%zu bytes) corrupted at byte %zu", who,
		     (const void *)m, m->size, bad);
}

/* A pool of live objects each thread churns between messages. */
struct pool {
	struct msg *m[POOL];
};

static void pool_init(struct pool *p, uint64_t *rng)
{
	for (int i = 0; i < POOL; i++)
		p->m[i] = msg_new(rng);
}

static void pool_churn(struct pool *p, uint64_t *rng, const char *who)
{
	unsigned j = tu_next(rng) % POOL;
	msg_check(p->m[j], who);
	free(p->m[j]);
	p->m[j] = msg_new(rng);
}

static void pool_free(struct pool *p, const char *who)
{
	for (int i = 0; i < POOL; i++) {
		msg_check(p->m[i], who);
		free(p->m[i]);
	}
}

/* ---- queue pairs ---- */

static struct queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct msg *ring[QCAP];
	size_t head, count;
} queues[QPAIRS];

static void q_put(struct queue *q, struct msg *m)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == QCAP)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->ring[(q->head + q->count) % QCAP] = m;
	q->count++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

static struct msg *q_get(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	struct msg *m = q->ring[q->head];
	q->ring[q->head] = NULL;
	q->head = (q->head + 1) % QCAP;
	q->count--;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return m;
}

static void *q_producer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 100 + id;
	struct pool pool;
	pool_init(&pool, &rng);
	for (long i = 0; i < MSGS * scale; i++) {
		q_put(&queues[id], msg_new(&rng));
		pool_churn(&pool, &rng, "queue producer");
	}
	q_put(&queues[id], NULL);
	pool_free(&pool, "queue producer");
	return NULL;
}

static long q_received[QPAIRS];

static void *q_consumer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 200 + id;
	struct pool pool;
	pool_init(&pool, &rng);
	for (;;) {
		struct msg *m = q_get(&queues[id]);
		if (!m)
			break;
		msg_check(m, "queue consumer");
		free(m);
		q_received[id]++;
		pool_churn(&pool, &rng, "queue consumer");
	}
	pool_free(&pool, "queue consumer");
	return NULL;
}

/* ---- pipe pairs ---- */

static struct pipe_pair {
	int fd[2];
	sem_t slots; /* messages that may still be put in flight */
} pipes[PPAIRS];

/* Writes the message's address and forgets it: after this the only copy
 * is in the pipe.  Not inlined, so the caller's frame holds no copy. */
static __attribute__((noinline)) void send_hidden(int fd, uint64_t *rng)
{
	uintptr_t word = (uintptr_t)msg_new(rng);
	tu_write_all(fd, &word, sizeof word);
	*(volatile uintptr_t *)&word = 0;
}

static void *p_writer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 300 + id;
	struct pool pool;
	pool_init(&pool, &rng);
	for (long i = 0; i < MSGS * scale; i++) {
		while (sem_wait(&pipes[id].slots) != 0)
			CHECK(errno == EINTR, "sem_wait");
		send_hidden(pipes[id].fd[1], &rng);
		pool_churn(&pool, &rng, "pipe writer");
	}
	close(pipes[id].fd[1]);
	pool_free(&pool, "pipe writer");
	return NULL;
}

static long p_received[PPAIRS];

static void *p_reader(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t rng = 400 + id;
	struct pool pool;
	pool_init(&pool, &rng);
	uintptr_t word;
	while (tu_read_all(pipes[id].fd[0], &word, sizeof word)) {
		struct msg *m = (struct msg *)word;
		msg_check(m, "pipe reader");
		free(m);
		CHECK(sem_post(&pipes[id].slots) == 0, "sem_post");
		p_received[id]++;
		pool_churn(&pool, &rng, "pipe reader");
	}
	pool_free(&pool, "pipe reader");
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		scale = atoi(argv[1]);
	if (scale < 1)
		scale = 1;
	pthread_t t[2 * (QPAIRS + PPAIRS)];
	int n = 0;
	for (uintptr_t i = 0; i < QPAIRS; i++) {
		pthread_mutex_init(&queues[i].lock, NULL);
		pthread_cond_init(&queues[i].not_empty, NULL);
		pthread_cond_init(&queues[i].not_full, NULL);
		CHECK(pthread_create(&t[n++], NULL, q_consumer, (void *)i) == 0,
		      "pthread_create");
		CHECK(pthread_create(&t[n++], NULL, q_producer, (void *)i) == 0,
		      "pthread_create");
	}
	for (uintptr_t i = 0; i < PPAIRS; i++) {
		CHECK(pipe(pipes[i].fd) == 0, "pipe: %s", strerror(errno));
		CHECK(sem_init(&pipes[i].slots, 0, PIPE_INFLIGHT) == 0,
		      "sem_init");
		CHECK(pthread_create(&t[n++], NULL, p_reader, (void *)i) == 0,
		      "pthread_create");
		CHECK(pthread_create(&t[n++], NULL, p_writer, (void *)i) == 0,
		      "pthread_create");
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < QPAIRS; i++)
		CHECK(q_received[i] == MSGS * scale, "queue %d: %ld received", i,
		      q_received[i]);
	for (int i = 0; i < PPAIRS; i++) {
		CHECK(p_received[i] == MSGS * scale, "pipe %d: %ld received", i,
		      p_received[i]);
		close(pipes[i].fd[0]);
	}
	printf("pipes: %d messages through queues and %d through pipes, all "
	       "intact\n", QPAIRS * MSGS * scale, PPAIRS * MSGS * scale);
	return 0;
}
