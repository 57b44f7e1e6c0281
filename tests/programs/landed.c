/* Addresses whose only copy is in bytes a thread has just received.
 *
 * The program writes RECORDS records into an AF_UNIX stream socketpair,
 * each a header of h bytes (1 to 8, the first holding h) and then the
 * address of a message nothing else references, so the addresses sit at
 * odd offsets of the stream.  It reads them back, runs a cycle while the
 * addresses are only in its receive buffer, refills the heap with
 * objects of the messages' size, and only then copies each address out
 * and checks its message.  The scan reads aligned words; pacegc reads
 * what each thread received last at every offset (src/landing.h).
 * MODE:
 *   piece     each record read in two pieces that split its address;
 *   batch     the whole queue read 5 bytes at a time into one buffer,
 *             until EAGAIN;
 *   unmapped  a record read into a page mapped for it, its address
 *             copied out, the page unmapped (then, for a second record, a
 *             page made PROT_NONE) before the cycle: the thread's record
 *             names memory that can no longer be read, and the cycle must
 *             not read it.
 * A collector that does not read them reclaims the messages of piece and
 * batch at the first cycle: the refill then overwrites them (exit 1).
 * Deterministic output.  Usage: landed MODE */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "testutil.h"

#define RECORDS 64
#define REC_MAX (8 + sizeof(uintptr_t))
#define MSG_WORDS 8
#define REFILL (4 * RECORDS)
#define RACE_RECORDS 100000
#define RACE_INFLIGHT 8

struct msg {
	uintptr_t self;
	uint64_t seq;
	uint64_t pattern[MSG_WORDS];
};

static int fds[2];

static struct msg *msg_new(uint64_t seq)
{
	struct msg *m = malloc(sizeof *m);
	CHECK(m != NULL, "malloc");
	m->self = (uintptr_t)m;
	m->seq = seq;
	for (int i = 0; i < MSG_WORDS; i++)
		m->pattern[i] = seq * 0x9e3779b97f4a7c15ULL + (uint64_t)i;
	return m;
}

/* Makes message seq and writes its record; its address is left nowhere
 * in this frame, which is gone when the next call reuses it. */
static __attribute__((noinline)) void send_one(uint64_t seq, uint64_t *rng)
{
	struct msg *m = msg_new(seq);
	unsigned char rec[REC_MAX];
	size_t h = 1 + tu_next(rng) % 8;
	rec[0] = (unsigned char)h;
	memset(rec + 1, 0xa5, h - 1);
	memcpy(rec + h, &m, sizeof m);
	tu_write_all(fds[1], rec, h + sizeof m);
	memset(rec, 0, sizeof rec);
	m = tu_launder(NULL);
}

/* Dead stack below the caller cleared: no stale copy of an address. */
static __attribute__((noinline)) void scrub(void)
{
	volatile unsigned char junk[16384];
	memset((void *)junk, 0, sizeof junk);
}

/* A cycle, then the heap refilled with messages' worth of other bytes:
 * a message the cycle took is overwritten. */
static void cycle_and_refill(void **refill)
{
	scrub();
	tu_gc();
	for (int i = 0; i < REFILL; i++) {
		refill[i] = malloc(sizeof(struct msg));
		CHECK(refill[i] != NULL, "malloc");
		memset(refill[i], 0x5a, sizeof(struct msg));
	}
}

static void check_msg(struct msg *m, uint64_t seq)
{
	CHECK(m->self == (uintptr_t)m && m->seq == seq,
	      "message %lu at %p reads self %#lx seq %lu: it was reclaimed while in a receive "
	      "buffer", (unsigned long)seq, (void *)m, (unsigned long)m->self,
	      (unsigned long)m->seq);
	for (int i = 0; i < MSG_WORDS; i++)
		CHECK(m->pattern[i] == seq * 0x9e3779b97f4a7c15ULL + (uint64_t)i,
		      "message %lu: word %d overwritten", (unsigned long)seq, i);
	free(m);
}

/* The address in record rec of n bytes. */
static struct msg *record_msg(const unsigned char *rec, size_t n, uint64_t seq)
{
	size_t h = rec[0];
	CHECK(h >= 1 && h <= 8 && n == h + sizeof(uintptr_t), "record %lu: %zu bytes, header %zu",
	      (unsigned long)seq, n, h);
	struct msg *m;
	memcpy(&m, rec + h, sizeof m);
	return m;
}

static void read_exactly(unsigned char *at, size_t n)
{
	CHECK(tu_read_all(fds[0], at, n), "read: end of file");
}

/* ---- race ---- */

/* Records of RACE_REC bytes: h, filler, the address at offset h (1 to
 * 8), filler; written with one write each. */
#define RACE_REC 16

static sem_t race_slots;
static atomic_int race_done;
static size_t race_split;   /* 0: one read per record; else the first read's bytes */

/* The writer's copy of the address stays in an aligned word until the
 * write has returned (the bytes are queued then): before it, an address
 * only at an odd offset of a buffer the program is about to send is the
 * program's own hazard, not a transit (README). */
static void *race_writer(void *arg)
{
	static uintptr_t held;
	uint64_t rng = 7;
	(void)arg;
	for (uint64_t i = 0; i < RACE_RECORDS; i++) {
		while (sem_wait(&race_slots) != 0)
			CHECK(errno == EINTR, "sem_wait: %s", strerror(errno));
		struct msg *m = msg_new(i);
		*(volatile uintptr_t *)&held = (uintptr_t)m;
		unsigned char rec[RACE_REC];
		size_t h = 1 + tu_next(&rng) % 8;
		memset(rec, 0xa5, sizeof rec);
		rec[0] = (unsigned char)h;
		memcpy(rec + h, &m, sizeof m);
		tu_write_all(fds[1], rec, sizeof rec);
		*(volatile uintptr_t *)&held = 0;
	}
	return NULL;
}

/* Takes each record with one read (the writer queued it whole), or in two
 * that split its address (race_split bytes, then the rest), and only then
 * copies the address out. */
static void *race_reader(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < RACE_RECORDS; i++) {
		unsigned char rec[RACE_REC];
		if (race_split) {
			read_exactly(rec, race_split);
			read_exactly(rec + race_split, RACE_REC - race_split);
		} else {
			read_exactly(rec, RACE_REC);
		}
		CHECK(rec[0] >= 1 && rec[0] <= 8, "record %lu: header %u", (unsigned long)i, rec[0]);
		check_msg(record_msg(rec, rec[0] + sizeof(uintptr_t), i), i);
		CHECK(sem_post(&race_slots) == 0, "sem_post");
	}
	atomic_store(&race_done, 1);
	return NULL;
}

/* Runs the writer and the reader under cycles back to back. */
static long race(void)
{
	CHECK(sem_init(&race_slots, 0, RACE_INFLIGHT) == 0, "sem_init");
	pthread_t w, r;
	CHECK(pthread_create(&w, NULL, race_writer, NULL) == 0, "pthread_create");
	CHECK(pthread_create(&r, NULL, race_reader, NULL) == 0, "pthread_create");
	long cycles = 0;
	while (tu_collect_ptr != NULL && !atomic_load(&race_done)) {
		tu_gc();
		cycles++;
	}
	CHECK(pthread_join(w, NULL) == 0, "pthread_join");
	CHECK(pthread_join(r, NULL) == 0, "pthread_join");
	return cycles;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "batch";
	tu_gc_init();
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair: %s", strerror(errno));
	uint64_t rng = 1;
	static void *refill[REFILL];
	if (!strcmp(mode, "piece")) {
		/* One record at a time: its address split between two reads,
		 * the thread's latest two. */
		for (uint64_t i = 0; i < RECORDS; i++) {
			send_one(i, &rng);
			unsigned char rec[REC_MAX];
			read_exactly(rec, 1);
			size_t h = rec[0];
			read_exactly(rec + 1, h - 1 + 3);
			read_exactly(rec + h + 3, sizeof(uintptr_t) - 3);
			cycle_and_refill(refill);
			check_msg(record_msg(rec, h + sizeof(uintptr_t), i), i);
			for (int j = 0; j < REFILL; j++)
				free(refill[j]);
		}
	} else if (!strcmp(mode, "batch")) {
		for (uint64_t i = 0; i < RECORDS; i++)
			send_one(i, &rng);
		CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
		static unsigned char buf[RECORDS * REC_MAX];
		size_t got = 0;
		for (;;) {
			ssize_t r = read(fds[0], buf + got, 5);
			if (r > 0) {
				got += (size_t)r;
				continue;
			}
			CHECK(r < 0 && errno == EAGAIN, "read: %s", r == 0 ? "end of file" : strerror(errno));
			break;
		}
		cycle_and_refill(refill);
		size_t at = 0;
		for (uint64_t i = 0; i < RECORDS; i++) {
			size_t n = buf[at] + sizeof(uintptr_t);
			CHECK(at + n <= got, "record %lu cut short", (unsigned long)i);
			check_msg(record_msg(buf + at, n, i), i);
			at += n;
		}
		CHECK(at == got, "%zu bytes after the last record", got - at);
		for (int j = 0; j < REFILL; j++)
			free(refill[j]);
	} else if (!strcmp(mode, "unmapped")) {
		for (int way = 0; way < 2; way++) {
			send_one((uint64_t)way, &rng);
			unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
						   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			CHECK(page != MAP_FAILED, "mmap: %s", strerror(errno));
			read_exactly(page, 1);
			read_exactly(page + 1, page[0] - 1 + sizeof(uintptr_t));
			/* Copied out to an aligned word, which the scan sees. */
			static struct msg *kept;
			kept = record_msg(page, page[0] + sizeof(uintptr_t), (uint64_t)way);
			if (way == 0)
				CHECK(munmap(page, 4096) == 0, "munmap: %s", strerror(errno));
			else
				CHECK(mprotect(page, 4096, PROT_NONE) == 0, "mprotect: %s",
				      strerror(errno));
			cycle_and_refill(refill);
			check_msg(kept, (uint64_t)way);
			for (int j = 0; j < REFILL; j++)
				free(refill[j]);
		}
	} else if (!strcmp(mode, "race") || !strcmp(mode, "race-split")) {
		/* 5 bytes first: the address (at 1 to 8) is cut after 4 to
		 * no bytes, then read whole after a cut of 1 to 4 bytes. */
		race_split = strcmp(mode, "race") ? 5 : 0;
		long cycles = race();
		if (getenv("LANDED_CYCLES"))
			fprintf(stderr, "landed %s: %ld cycles\n", mode, cycles);
		printf("landed %s: %d records, every message intact\n", mode, RACE_RECORDS);
		return 0;
	} else {
		FAIL("usage: landed piece|batch|unmapped|race|race-split");
	}
	printf("landed %s: %d records, every message intact\n", mode,
	       strcmp(mode, "unmapped") ? RECORDS : 2);
	return 0;
}
