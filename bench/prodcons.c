/* prodcons: P producer threads allocate messages and pass them through a
 * bounded queue (mutex + condvars) to C consumer threads, which read and
 * free them: every free is a free of memory allocated on another thread.
 *
 * Producers hand over messages in batches (as a real pipeline with a
 * batched queue would), so the allocator, not the queue lock, dominates.
 * Message sizes: mostly 16-512 B, 1/16 up to 8 KiB.  The checksum is a sum
 * over all messages, so it does not depend on which consumer got what.
 *
 * usage: prodcons [scale-percent [producers [consumers]]] */
#include "bench_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define MSGS_PER_PCT 240000L /* 100% = 24M messages */
#define QCAP 4096u
#define BATCH 32u

struct msg {
	uint64_t producer;
	uint64_t seq;
	uint32_t size; /* whole allocation, header included */
	uint32_t pad;
	unsigned char payload[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct msg *ring[QCAP];
	size_t head, count;
	int producers_left;
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
};

static long per_producer;

struct worker {
	pthread_t tid;
	uint64_t id;
	uint64_t sum;
	uint64_t count;
};

static size_t pick_size(uint64_t r)
{
	if ((r & 15) == 0)
		return 512 + (size_t)((r >> 8) % (8192 - 512));
	uint64_t a = (r >> 8) % 497, b = (r >> 24) % 497;
	return sizeof(struct msg) + a * b / 496; /* 24 .. 520, skewed low */
}

static uint64_t payload_byte(uint64_t producer, uint64_t seq, size_t i)
{
	return (producer * 131 + seq * 7 + i) & 0xff;
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	uint64_t seed = 0xfeed0000ULL + w->id;
	struct msg *batch[BATCH];
	long seq = 0;

	while (seq < per_producer) {
		unsigned n = 0;
		while (n < BATCH && seq < per_producer) {
			size_t sz = pick_size(bench_rng(&seed));
			struct msg *m = malloc(sz);
			if (!m)
				bench_xmalloc_fail("malloc", sz);
			m->producer = w->id;
			m->seq = (uint64_t)seq;
			m->size = (uint32_t)sz;
			size_t plen = sz - sizeof(struct msg);
			if (plen) {
				memset(m->payload, (int)payload_byte(w->id, (uint64_t)seq, 0), plen);
				m->payload[plen - 1] = (unsigned char)payload_byte(w->id, (uint64_t)seq, plen - 1);
			}
			batch[n++] = m;
			seq++;
		}
		unsigned done = 0;
		pthread_mutex_lock(&q.lock);
		while (done < n) {
			while (q.count == QCAP)
				pthread_cond_wait(&q.not_full, &q.lock);
			while (done < n && q.count < QCAP) {
				q.ring[(q.head + q.count) % QCAP] = batch[done++];
				q.count++;
			}
			pthread_cond_signal(&q.not_empty);
		}
		pthread_mutex_unlock(&q.lock);
	}
	pthread_mutex_lock(&q.lock);
	q.producers_left--;
	pthread_cond_broadcast(&q.not_empty);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct msg *batch[BATCH];

	for (;;) {
		unsigned n = 0;
		pthread_mutex_lock(&q.lock);
		while (q.count == 0 && q.producers_left > 0)
			pthread_cond_wait(&q.not_empty, &q.lock);
		if (q.count == 0) {
			pthread_mutex_unlock(&q.lock);
			break;
		}
		while (n < BATCH && q.count > 0) {
			batch[n++] = q.ring[q.head];
			q.head = (q.head + 1) % QCAP;
			q.count--;
		}
		pthread_cond_broadcast(&q.not_full);
		pthread_mutex_unlock(&q.lock);

		for (unsigned i = 0; i < n; i++) {
			struct msg *m = batch[i];
			size_t plen = m->size - sizeof(struct msg);
			uint64_t h = bench_mix(m->producer, m->seq) ^ m->size;
			if (plen) {
				if (m->payload[0] != payload_byte(m->producer, m->seq, 0) ||
				    m->payload[plen - 1] != payload_byte(m->producer, m->seq, plen - 1)) {
					fprintf(stderr, "corrupt message %llu/%llu\n",
					        (unsigned long long)m->producer,
					        (unsigned long long)m->seq);
					exit(1);
				}
				h += m->payload[plen / 2];
			}
			w->sum += h;
			w->count++;
			free(m);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long scale = bench_scale(argc, argv);
	int np = argc > 2 ? atoi(argv[2]) : 2;
	int nc = argc > 3 ? atoi(argv[3]) : 2;
	if (np < 1 || nc < 1 || np > 64 || nc > 64) {
		fprintf(stderr, "bad thread counts\n");
		return 2;
	}
	long total = scale * MSGS_PER_PCT;
	per_producer = total / np;
	q.producers_left = np;

	struct worker ps[64], cs[64];
	memset(ps, 0, sizeof ps);
	memset(cs, 0, sizeof cs);
	for (int i = 0; i < nc; i++) {
		cs[i].id = (uint64_t)i;
		if (pthread_create(&cs[i].tid, NULL, consumer, &cs[i]))
			return 1;
	}
	for (int i = 0; i < np; i++) {
		ps[i].id = (uint64_t)i;
		if (pthread_create(&ps[i].tid, NULL, producer, &ps[i]))
			return 1;
	}
	for (int i = 0; i < np; i++)
		pthread_join(ps[i].tid, NULL);
	uint64_t sum = 0, count = 0;
	for (int i = 0; i < nc; i++) {
		pthread_join(cs[i].tid, NULL);
		sum += cs[i].sum;
		count += cs[i].count;
	}
	printf("prodcons producers=%d consumers=%d messages=%llu checksum=%016llx\n",
	       np, nc, (unsigned long long)count, (unsigned long long)sum);
	return count == (uint64_t)(per_producer * np) ? 0 : 1;
}
