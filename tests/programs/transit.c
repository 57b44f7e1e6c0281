/* Pointers whose only copy is held by the kernel or in shared memory.
 *
 * A writer thread allocates a pattern-filled message, puts its address
 * into a channel and overwrites its own copy; a reader thread takes the
 * address out, checks that it is the message it expects (channel and
 * number), intact, and frees it.  While in the channel the address is
 * nowhere a scan of the process's private memory finds it.  KIND:
 *   pipe       bytes queued in a pipe;
 *   stream, dgram, seqpacket
 *              bytes queued in an AF_UNIX socketpair of that type;
 *   tcp        bytes queued in a loopback TCP connection whose two ends
 *              are both in this process;
 *   timer      a POSIX timer's sigev_value (SIGEV_SIGNAL, a real-time
 *              signal every thread blocks and the reader takes with
 *              sigtimedwait): in the timer from timer_create until it
 *              fires, in the queued signal after;
 *   memfd      a ring in a MAP_SHARED mapping of a memfd, which the
 *              reader reads through a second mapping of it;
 *   shared     a ring in a MAP_SHARED|MAP_ANONYMOUS mapping.
 * Through pipes and sockets each address follows a header of 1 to 8
 * bytes, so it sits at every offset of the byte stream.  MODE:
 *   busy (default)  PAIRS writer/reader pairs, at most INFLIGHT messages
 *        in each channel, every thread replacing objects of a pool of
 *        live ones at random (the load of pipes.c: 12 busy threads); run
 *        with PACEGC_GODEBUG=gcstress=N so cycles happen throughout;
 *   hold  HOLD_MSGS messages stay in one channel for HOLD_MS while
 *        another thread allocates and frees, forcing a cycle every
 *        100 ms; the writer has exited, nothing but the channel holds
 *        them.
 * A collector that does not read the channel as a root reclaims messages
 * in it (with PACEGC_GODEBUG=reclaimdelay=0 at the first cycle, in hold
 * mode with any delay under HOLD_MS): the reader then finds one zeroed or
 * reused, a bad header, pattern, channel or number (exit 1), or pacegc
 * reports a bad free.  Fixed amount of work; deterministic output.
 * Usage: transit KIND [busy|hold] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "testutil.h"

#define PAIRS 6
#define INFLIGHT 8
#define POOL 128
/* An AF_UNIX datagram socket queues at most net.unix.max_dgram_qlen (10
 * by default) datagrams: more would block the hold writer for good. */
#define HOLD_MSGS 8
#define HOLD_MS 2000
#define TIMER_NS 1000000L   /* busy: how long a timer holds its message */
#define WAIT_S 10           /* a timer's signal not there by then is lost */
#define REC_MAX 16          /* a record: 1 to 8 header bytes, an address */
#define RING_BYTES 4096

_Static_assert(HOLD_MSGS <= INFLIGHT, "the hold writer must not wait");

enum kind { PIPE, STREAM, DGRAM, SEQPACKET, TCP, TIMER, MEMFD, SHARED };
#define NKINDS (SHARED + 1)

static const struct {
	const char *name;
	long msgs; /* busy: messages through each channel */
} kinds[NKINDS] = {
	[PIPE] = { "pipe", 30000 },
	[STREAM] = { "stream", 30000 },
	[DGRAM] = { "dgram", 30000 },
	[SEQPACKET] = { "seqpacket", 30000 },
	[TCP] = { "tcp", 30000 },
	[TIMER] = { "timer", 10000 },
	[MEMFD] = { "memfd", 30000 },
	[SHARED] = { "shared", 30000 },
};

static enum kind kind;
static long msgs; /* through each channel */

struct msg {
	uint64_t seed;
	size_t size;          /* of data[] */
	struct msg *self;     /* the message's own address, checked too */
	int chan;             /* its channel and number there; -1 in a pool */
	long seq;
	timer_t timer;        /* kind timer: the timer that carries it */
	unsigned char data[];
};

static struct msg *msg_new(uint64_t *rng, int chan, long seq)
{
	uint64_t r = tu_next(rng);
	size_t size = r % 64 == 0 ? 4096 + (r >> 8) % 60000 : 1 + (r >> 8) % 300;
	struct msg *m = malloc(sizeof *m + size);
	CHECK(m != NULL, "malloc(%zu)", sizeof *m + size);
	m->seed = tu_next(rng);
	m->size = size;
	m->self = m;
	m->chan = chan;
	m->seq = seq;
	tu_fill(m->data, size, m->seed);
	return m;
}

static void msg_check(const struct msg *m, const char *who)
{
	if (m->self != m || m->size > 70000)
		FAIL("%s: message %p has a bad header (self %p, size %zu): "
		     "it was freed while still in use", who,
		     (const void *)m, (const void *)m->self, m->size);
	size_t bad = tu_check(m->data, m->size, m->seed);
	if (bad != m->size)
		FAIL("%s: message %p (%zu bytes) corrupted at byte %zu", who,
		     (const void *)m, m->size, bad);
}

/* A pool of live objects a thread churns between messages. */
struct pool {
	struct msg *m[POOL];
};

static void pool_init(struct pool *p, uint64_t *rng)
{
	for (int i = 0; i < POOL; i++)
		p->m[i] = msg_new(rng, -1, -1);
}

static void pool_churn(struct pool *p, uint64_t *rng, const char *who)
{
	unsigned j = tu_next(rng) % POOL;
	msg_check(p->m[j], who);
	free(p->m[j]);
	p->m[j] = msg_new(rng, -1, -1);
}

static void pool_free(struct pool *p, const char *who)
{
	for (int i = 0; i < POOL; i++) {
		msg_check(p->m[i], who);
		free(p->m[i]);
	}
}

static struct chan {
	int id;
	int rfd, wfd;             /* pipe, sockets: read end, write end */
	int sig;                  /* timer */
	uintptr_t *wring, *rring; /* memfd, shared: the writer's, reader's view */
	unsigned whead, rtail;    /* next ring slot to write, to read */
	long sent, received;
	unsigned char *seen;      /* timer: which messages came (by number) */
	sem_t slots;              /* messages that may still be put in flight */
	sem_t ready;              /* memfd, shared: messages in the ring */
} chans[PAIRS];

static void sem_take(sem_t *s)
{
	while (sem_wait(s) != 0)
		CHECK(errno == EINTR, "sem_wait: %s", strerror(errno));
}

/* Overwrites n bytes, stores the compiler must not drop as dead. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = 0;
}

/* ---- pipes and sockets: records ---- */

/* h header bytes (the first holds h, 1 to 8, the others filler), then
 * the address: at an offset of the stream that changes every record. */
static void put_record(struct chan *c, const uintptr_t *word, uint64_t *rng)
{
	unsigned char rec[REC_MAX];
	size_t h = 1 + tu_next(rng) % 8;
	rec[0] = (unsigned char)h;
	memset(rec + 1, 0xa5, h - 1);
	memcpy(rec + h, word, sizeof *word);
	tu_write_all(c->wfd, rec, h + sizeof *word);
	wipe(rec, sizeof rec);
}

static uintptr_t get_record(struct chan *c)
{
	unsigned char rec[REC_MAX];
	size_t n;
	if (kind == DGRAM || kind == SEQPACKET) {
		ssize_t r;
		while ((r = read(c->rfd, rec, sizeof rec)) < 0 && errno == EINTR)
			;
		CHECK(r > 0, "read: %s", r == 0 ? "end of file" : strerror(errno));
		n = (size_t)r;
	} else {
		CHECK(tu_read_all(c->rfd, rec, 1), "read: end of file");
		n = rec[0] + sizeof(uintptr_t);
		CHECK(n <= REC_MAX, "channel %d: header of %u bytes", c->id, rec[0]);
		CHECK(tu_read_all(c->rfd, rec + 1, n - 1), "read: end of file");
	}
	CHECK(rec[0] >= 1 && n == rec[0] + sizeof(uintptr_t),
	      "channel %d: a record of %zu bytes, header %u", c->id, n, rec[0]);
	uintptr_t word;
	memcpy(&word, rec + rec[0], sizeof word);
	return word;
}

/* A loopback TCP connection through listener.  No Nagle: it keeps
 * records in the writer's send queue behind any unacknowledged one, where
 * no peek reaches, and a cycle that finds bytes there reclaims nothing
 * (src/transit.c); with Nagle most cycles here would, and this program is
 * about the receive queue.  The kernel may still keep a record there a
 * moment (autocorking, a full congestion window): those cycles show it. */
static void tcp_pair(int listener, struct chan *c)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	CHECK(getsockname(listener, (struct sockaddr *)&a, &len) == 0,
	      "getsockname: %s", strerror(errno));
	c->wfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c->wfd >= 0, "socket: %s", strerror(errno));
	CHECK(connect(c->wfd, (struct sockaddr *)&a, len) == 0, "connect: %s",
	      strerror(errno));
	int one = 1;
	CHECK(setsockopt(c->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0,
	      "TCP_NODELAY: %s", strerror(errno));
	c->rfd = accept(listener, NULL, NULL);
	CHECK(c->rfd >= 0, "accept: %s", strerror(errno));
}

static int tcp_listener(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s",
	      strerror(errno));
	CHECK(listen(fd, PAIRS) == 0, "listen: %s", strerror(errno));
	return fd;
}

/* ---- timers ---- */

/* A timer that sends c's signal with the address after delay_ns; the
 * reader deletes it. */
static void put_timer(struct chan *c, const uintptr_t *word, long delay_ns)
{
	struct msg *m = (struct msg *)*word;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = c->sig,
				.sigev_value.sival_ptr = m };
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &m->timer) == 0,
	      "timer_create: %s", strerror(errno));
	struct itimerspec its = { .it_value = { delay_ns / 1000000000L,
						delay_ns % 1000000000L } };
	CHECK(timer_settime(m->timer, 0, &its, NULL) == 0, "timer_settime: %s",
	      strerror(errno));
	wipe(&sev, sizeof sev);
}

static uintptr_t get_timer(struct chan *c)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, c->sig);
	struct timespec ts = { WAIT_S, 0 };
	siginfo_t si;
	int s;
	while ((s = sigtimedwait(&set, &si, &ts)) < 0 && errno == EINTR)
		;
	CHECK(s == c->sig, "channel %d: sigtimedwait: %s", c->id,
	      s < 0 ? strerror(errno) : "another signal");
	CHECK(si.si_code == SI_TIMER, "channel %d: si_code %d", c->id, si.si_code);
	return (uintptr_t)si.si_value.sival_ptr;
}

/* ---- shared memory: rings ---- */

static uintptr_t *ring_map(int fd)
{
	void *p = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

static void put_ring(struct chan *c, const uintptr_t *word)
{
	c->wring[c->whead++ % INFLIGHT] = *word;
	CHECK(sem_post(&c->ready) == 0, "sem_post");
}

static uintptr_t get_ring(struct chan *c)
{
	sem_take(&c->ready);
	uintptr_t *slot = &c->rring[c->rtail++ % INFLIGHT];
	uintptr_t word = *slot;
	*slot = 0;
	return word;
}

/* ---- the channels ---- */

static void chan_open(struct chan *c, int id, int listener)
{
	c->id = id;
	CHECK(sem_init(&c->slots, 0, INFLIGHT) == 0, "sem_init");
	CHECK(sem_init(&c->ready, 0, 0) == 0, "sem_init");
	int fd[2];
	switch (kind) {
	case PIPE:
		CHECK(pipe(fd) == 0, "pipe: %s", strerror(errno));
		c->rfd = fd[0];
		c->wfd = fd[1];
		break;
	case STREAM:
	case DGRAM:
	case SEQPACKET:
		CHECK(socketpair(AF_UNIX, kind == STREAM ? SOCK_STREAM :
			       kind == DGRAM ? SOCK_DGRAM : SOCK_SEQPACKET, 0, fd) == 0,
		      "socketpair: %s", strerror(errno));
		c->rfd = fd[0];
		c->wfd = fd[1];
		break;
	case TCP:
		tcp_pair(listener, c);
		break;
	case TIMER:
		c->sig = SIGRTMIN + id;
		c->seen = calloc((size_t)msgs, 1);
		CHECK(c->seen != NULL, "calloc");
		break;
	case MEMFD:
		fd[0] = memfd_create("transit", MFD_CLOEXEC);
		CHECK(fd[0] >= 0, "memfd_create: %s", strerror(errno));
		CHECK(ftruncate(fd[0], RING_BYTES) == 0, "ftruncate: %s", strerror(errno));
		c->wring = ring_map(fd[0]);
		c->rring = ring_map(fd[0]);
		close(fd[0]);
		break;
	case SHARED:
		c->wring = c->rring = ring_map(-1);
		break;
	}
}

/* Waits for room in c, makes c's next message and puts its address in c:
 * after this the channel holds the only copy.  Not inlined, so the
 * caller's frame holds none.  timer_ns: how long a timer holds it. */
static __attribute__((noinline)) void send_hidden(struct chan *c, uint64_t *rng,
						  long timer_ns)
{
	sem_take(&c->slots);
	uintptr_t word = (uintptr_t)msg_new(rng, c->id, c->sent++);
	switch (kind) {
	case TIMER:
		put_timer(c, &word, timer_ns);
		break;
	case MEMFD:
	case SHARED:
		put_ring(c, &word);
		break;
	default:
		put_record(c, &word, rng);
		break;
	}
	*(volatile uintptr_t *)&word = 0;
}

/* Whether m is a message c may give now: the next one, or for timers
 * one not given yet (timers armed on different CPUs may fire out of
 * order). */
static int expected(struct chan *c, const struct msg *m)
{
	if (m->chan != c->id)
		return 0;
	if (kind != TIMER)
		return m->seq == c->received;
	if (m->seq < 0 || m->seq >= msgs || c->seen[m->seq])
		return 0;
	c->seen[m->seq] = 1;
	return 1;
}

/* Takes a message out of c, checks it is one c may give and intact, and
 * frees it. */
static void take(struct chan *c, const char *who)
{
	uintptr_t word = kind == TIMER ? get_timer(c) :
			 kind == MEMFD || kind == SHARED ? get_ring(c) : get_record(c);
	struct msg *m = (struct msg *)word;
	msg_check(m, who);
	if (!expected(c, m))
		FAIL("%s: after %ld messages channel %d gave message %ld of channel "
		     "%d again or out of turn: it was freed and reused while in "
		     "transit", who, c->received, c->id, m->seq, m->chan);
	if (kind == TIMER)
		CHECK(timer_delete(m->timer) == 0, "timer_delete: %s", strerror(errno));
	free(m);
	c->received++;
	CHECK(sem_post(&c->slots) == 0, "sem_post");
}

/* ---- busy ---- */

static void *writer(void *arg)
{
	struct chan *c = arg;
	uint64_t rng = 300 + c->id;
	struct pool pool;
	pool_init(&pool, &rng);
	while (c->sent < msgs) {
		send_hidden(c, &rng, TIMER_NS);
		pool_churn(&pool, &rng, "writer");
	}
	pool_free(&pool, "writer");
	return NULL;
}

static void *reader(void *arg)
{
	struct chan *c = arg;
	uint64_t rng = 400 + c->id;
	struct pool pool;
	pool_init(&pool, &rng);
	while (c->received < msgs) {
		take(c, "reader");
		pool_churn(&pool, &rng, "reader");
	}
	pool_free(&pool, "reader");
	return NULL;
}

/* ---- hold ---- */

/* The timers fire one after the other during the hold: each message
 * waits first in its timer, then in the signal queue. */
static void *hold_writer(void *arg)
{
	uint64_t rng = 500;
	for (long i = 1; i <= msgs; i++)
		send_hidden(arg, &rng, HOLD_MS * 1000000L / (msgs + 1) * i);
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *hold_churn(void *arg)
{
	(void)arg;
	uint64_t rng = 600;
	struct pool pool;
	pool_init(&pool, &rng);
	for (int tick = 0; tick < HOLD_MS / 100; tick++) {
		uint64_t end = now_ns() + 100000000u;
		while (now_ns() < end)
			pool_churn(&pool, &rng, "churn");
		tu_gc();
	}
	pool_free(&pool, "churn");
	return NULL;
}

static void *hold_reader(void *arg)
{
	struct chan *c = arg;
	while (c->received < msgs)
		take(c, "reader");
	return NULL;
}

/* One thread at a time: each phase starts when the one before is over. */
static void run(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, fn, arg) == 0, "pthread_create");
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	int k = 0;
	while (k < NKINDS && (argc < 2 || strcmp(argv[1], kinds[k].name) != 0))
		k++;
	int hold = argc == 3 && strcmp(argv[2], "hold") == 0;
	if (k == NKINDS || argc > 3 || (argc == 3 && !hold && strcmp(argv[2], "busy") != 0)) {
		fprintf(stderr, "usage: transit pipe|stream|dgram|seqpacket|tcp|timer|"
			"memfd|shared [busy|hold]\n");
		return 2;
	}
	kind = (enum kind)k;
	msgs = hold ? HOLD_MSGS : kinds[kind].msgs;
	tu_gc_init();
	int pairs = hold ? 1 : PAIRS;
	if (kind == TIMER) {
		/* Blocked here, so in every thread: only sigtimedwait takes them. */
		sigset_t set;
		sigemptyset(&set);
		for (int i = 0; i < pairs; i++)
			sigaddset(&set, SIGRTMIN + i);
		CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "pthread_sigmask");
	}
	int listener = kind == TCP ? tcp_listener() : -1;
	for (int i = 0; i < pairs; i++)
		chan_open(&chans[i], i, listener);

	if (hold) {
		run(hold_writer, &chans[0]);
		run(hold_churn, NULL);
		run(hold_reader, &chans[0]);
		printf("transit %s hold: %ld messages held %d ms in transit, all "
		       "intact\n", kinds[kind].name, msgs, HOLD_MS);
		return 0;
	}
	pthread_t t[2 * PAIRS];
	for (int i = 0; i < PAIRS; i++) {
		CHECK(pthread_create(&t[2 * i], NULL, reader, &chans[i]) == 0,
		      "pthread_create");
		CHECK(pthread_create(&t[2 * i + 1], NULL, writer, &chans[i]) == 0,
		      "pthread_create");
	}
	for (int i = 0; i < 2 * PAIRS; i++)
		pthread_join(t[i], NULL);
	printf("transit %s: %d channels, %ld messages through each, all intact\n",
	       kinds[kind].name, PAIRS, msgs);
	return 0;
}
