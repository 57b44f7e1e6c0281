/* Pointers held only by asynchronous I/O requests in the kernel.
 *
 * Each mode puts 3 * NREQ pattern-filled heap messages into requests and
 * keeps no copy of their addresses: the message is the request's
 * user_data (io_uring) or aio_data (Linux AIO), and a buffer inside it is
 * what the request reads into or writes from.  The requests stay in
 * flight, or their completions stay unreaped in the shared ring, for
 * HOLD_MS while another thread churns allocations of the messages' size
 * and forces collection cycles.  Then the program lets the requests
 * finish, takes every message back from its completion, checks it and
 * frees it.
 *   uring  liburing, io_uring_queue_init() defaults: NREQ reads from
 *          pipes nothing is written to until the hold is over, NREQ
 *          writes into pipes kept full until then, NREQ NOPs whose
 *          completions wait in the CQ ring;
 *   aio    io_setup/io_submit/io_getevents (raw system calls,
 *          <linux/aio_abi.h>), each iocb a heap object of its own: NREQ
 *          IOCB_CMD_POLL on eventfds signalled after the hold, NREQ reads
 *          and NREQ writes of a file in $TMPDIR (O_DIRECT if the file
 *          system takes it), whose events wait in the [aio] ring.
 * Nothing but the kernel (or the shared ring, which no scan reads) holds
 * a message or an iocb while it waits, so a collector that reclaims
 * leaks must not run for such a process.  A message reclaimed in flight
 * shows up (FAIL, exit 1) as a bad header or pattern when its completion
 * brings it back, as bytes a write put in its pipe or file that are not
 * the message's, as an iocb that no longer matches its event, or as a
 * churn object the kernel wrote into; or as pacegc's report of a bad
 * free.  Deterministic output.  On a kernel without io_uring or
 * IOCB_CMD_POLL it fails plain too.  Usage: kernio uring|aio */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "watchdog.h"

#define NREQ 32          /* requests of each kind */
#define HOLD_MS 1500     /* how long they stay in flight */
#define GC_EVERY_MS 20   /* the churn thread's forced cycles */
#define CHURN_PER_MS 4   /* and its allocations */
#define MSG_ALIGN 4096   /* messages are page-aligned ... */
#define MSG_BYTES 8192   /* ... and of one size: header and data[] in the
			    first page, the I/O buffer in the second */
#define IOLEN 4096       /* file I/O: a multiple of any logical block */
#define PIPELEN 512      /* pipe I/O: under PIPE_BUF, taken whole */
#define POOL 256

enum kind { K_PIPE_READ, K_PIPE_WRITE, K_NOP, K_POLL, K_FILE_READ,
	    K_FILE_WRITE, K_MAX };
static const char *const kind_name[K_MAX] = {
	"pipe read", "pipe write", "nop", "poll", "file read", "file write",
};

struct msg {
	struct msg *self;  /* the message's own address, checked too */
	unsigned kind, index;
	size_t len;        /* bytes of the buffer the request uses */
	uint64_t seed;     /* of data[] */
	size_t size;       /* of data[] */
	unsigned char data[];
};

static unsigned char *msg_io(struct msg *m)
{
	return (unsigned char *)m + MSG_ALIGN;
}

static uint64_t seed_of(unsigned kind, unsigned index, unsigned part)
{
	uint64_t s = ((uint64_t)kind << 40) ^ ((uint64_t)index << 8) ^ part;
	return tu_next(&s);
}

/* The bytes the buffer of request (kind, index) ends up holding. */
static uint64_t io_seed(unsigned kind, unsigned index)
{
	return seed_of(kind, index, 2);
}

/* A message for request (kind, index) using len bytes of its buffer.  A
 * request that reads leaves the buffer zero for the kernel to fill; the
 * others fill it now. */
static struct msg *msg_new(unsigned kind, unsigned index, size_t len)
{
	void *p = NULL;
	CHECK(posix_memalign(&p, MSG_ALIGN, MSG_BYTES) == 0 && p != NULL,
	      "posix_memalign(%d, %d)", MSG_ALIGN, MSG_BYTES);
	struct msg *m = p;
	m->self = m;
	m->kind = kind;
	m->index = index;
	m->len = len;
	m->seed = seed_of(kind, index, 1);
	m->size = MSG_ALIGN - sizeof *m;
	tu_fill(m->data, m->size, m->seed);
	memset(msg_io(m), 0, MSG_BYTES - MSG_ALIGN);
	if (kind != K_PIPE_READ && kind != K_FILE_READ)
		tu_fill(msg_io(m), len, io_seed(kind, index));
	return m;
}

/* The result each kind of request completes with. */
static const long long want_res[K_MAX] = {
	PIPELEN, PIPELEN, 0, POLLIN, IOLEN, IOLEN,
};

static unsigned seen[K_MAX][NREQ];

/* A message back from a completion with result res: checks it, counts
 * it and frees it. */
static void msg_done(struct msg *m, long long res)
{
	if (m == NULL || m->self != m || m->kind >= K_MAX ||
	    m->index >= NREQ || m->size != MSG_ALIGN - sizeof *m)
		FAIL("a completion brought back message %p with a bad header "
		     "(self %p): it was reclaimed while the kernel held it",
		     (void *)m, m ? (void *)m->self : NULL);
	const char *what = kind_name[m->kind];
	if (seen[m->kind][m->index]++)
		FAIL("%s %u: message %p came back twice", what, m->index,
		     (void *)m);
	size_t bad = tu_check(m->data, m->size, m->seed);
	if (bad != m->size)
		FAIL("%s %u: message %p corrupted at byte %zu: it was "
		     "reclaimed and reused while the kernel held it", what,
		     m->index, (void *)m, bad);
	if (res != want_res[m->kind])
		FAIL("%s %u: result %lld, want %lld", what, m->index, res,
		     want_res[m->kind]);
	unsigned char *io = msg_io(m);
	bad = tu_check(io, m->len, io_seed(m->kind, m->index));
	if (bad != m->len || !tu_all_zero(io + m->len, MSG_BYTES - MSG_ALIGN - m->len))
		FAIL("%s %u: the I/O buffer of message %p is not what the "
		     "request left there (first bad byte %zu)", what, m->index,
		     (void *)m, bad);
	free(m);
}

/* Clears the stack below the caller's frame, where the frames that made
 * and submitted the messages were. */
static __attribute__((noinline)) void scrub_stack(void)
{
	unsigned char pad[32768];
	explicit_bzero(pad, sizeof pad);
	__asm__ volatile("" : : "r"(pad) : "memory");
}

/* ---- the churn thread ---- */

static atomic_int stop;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct node *churn_node(uint64_t *rng)
{
	uint64_t r = tu_next(rng);
	/* Half in the messages' size class, where a message reclaimed too
	 * early is soon reused. */
	size_t size = r % 2 ? MSG_BYTES - sizeof(struct node) - (r >> 8) % 512
			    : 16 + (r >> 8) % 1000;
	return tu_new_node(rng, size);
}

static void churn_check(const struct node *n)
{
	size_t bad = tu_check(n->data, n->size, n->seed);
	if (bad != n->size)
		FAIL("churn: object %p (%zu bytes) corrupted at byte %zu: the "
		     "kernel wrote into memory reclaimed from a request in "
		     "flight", (const void *)n, n->size, bad);
}

/* Replaces objects of a pool at random, CHURN_PER_MS at a time, and
 * forces a cycle every GC_EVERY_MS (pacegc_collect, none in a plain run),
 * until told to stop.  Paced: once pacegc stops reclaiming leaks, in
 * PACEGC_FREE=ignore every object this makes stays (some 20 MB). */
static void *churn(void *arg)
{
	(void)arg;
	uint64_t rng = 12345;
	struct node *pool[POOL];
	for (int i = 0; i < POOL; i++)
		pool[i] = churn_node(&rng);
	double last_gc = now_ms();
	while (!atomic_load(&stop)) {
		for (int i = 0; i < CHURN_PER_MS; i++) {
			unsigned j = tu_next(&rng) % POOL;
			churn_check(pool[j]);
			free(pool[j]);
			pool[j] = churn_node(&rng);
		}
		if (now_ms() - last_gc >= GC_EVERY_MS) {
			tu_gc();
			last_gc = now_ms();
		}
		tu_sleep_ms(1);
	}
	for (int i = 0; i < POOL; i++) {
		churn_check(pool[i]);
		free(pool[i]);
	}
	return NULL;
}

/* ---- io_uring ---- */

static struct io_uring ring;
static int rpipe[NREQ][2];  /* read by the ring, written after the hold */
static int wpipe[NREQ][2];  /* written by the ring, full until the hold ends */
static size_t filler[NREQ]; /* bytes in wpipe[i] before the ring's write */

/* Makes the pipes; fills each wpipe so that a write has to wait. */
static void uring_pipes(void)
{
	static const char fill[4096];
	for (int i = 0; i < NREQ; i++) {
		CHECK(pipe(rpipe[i]) == 0, "pipe: %s", strerror(errno));
		CHECK(pipe2(wpipe[i], O_NONBLOCK) == 0, "pipe2: %s",
		      strerror(errno));
		(void)fcntl(wpipe[i][1], F_SETPIPE_SZ, 4096);
		for (;;) {
			ssize_t w = write(wpipe[i][1], fill, sizeof fill);
			if (w < 0 && errno == EAGAIN)
				break;
			CHECK(w > 0, "write: %s", strerror(errno));
			filler[i] += (size_t)w;
		}
		/* Blocking again: io_uring then waits for room instead of
		 * completing with -EAGAIN. */
		CHECK(fcntl(wpipe[i][0], F_SETFL, 0) == 0 &&
		      fcntl(wpipe[i][1], F_SETFL, 0) == 0, "fcntl: %s",
		      strerror(errno));
	}
}

/* Makes the messages and submits their requests.  Not inlined: its frame
 * with the last message's address is gone when it returns. */
static __attribute__((noinline)) void uring_submit(void)
{
	for (unsigned kind = K_PIPE_READ; kind <= K_NOP; kind++) {
		for (unsigned i = 0; i < NREQ; i++) {
			size_t len = kind == K_NOP ? IOLEN : PIPELEN;
			struct msg *m = msg_new(kind, i, len);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			CHECK(sqe != NULL, "io_uring_get_sqe: ring full");
			if (kind == K_PIPE_READ)
				io_uring_prep_read(sqe, rpipe[i][0], msg_io(m),
						   PIPELEN, 0);
			else if (kind == K_PIPE_WRITE)
				io_uring_prep_write(sqe, wpipe[i][1], msg_io(m),
						    PIPELEN, 0);
			else
				io_uring_prep_nop(sqe);
			io_uring_sqe_set_data(sqe, m);
			*(struct msg *volatile *)&m = NULL;
		}
	}
	int r = io_uring_submit(&ring);
	CHECK(r == 3 * NREQ, "io_uring_submit: %d (%s)", r,
	      r < 0 ? strerror(-r) : "short");
}

static void run_uring(void)
{
	/* Room for every request at once (and the CQ ring is twice this). */
	int r = io_uring_queue_init(4 * NREQ, &ring, 0);
	CHECK(r == 0, "io_uring_queue_init: %s", strerror(-r));
	uring_pipes();
	uring_submit();
	scrub_stack();

	tu_sleep_ms(HOLD_MS);

	/* Let the reads and writes finish. */
	unsigned char buf[PIPELEN];
	for (unsigned i = 0; i < NREQ; i++) {
		tu_fill(buf, PIPELEN, io_seed(K_PIPE_READ, i));
		tu_write_all(rpipe[i][1], buf, PIPELEN);
	}
	static unsigned char sink[1 << 16];
	for (unsigned i = 0; i < NREQ; i++) {
		for (size_t left = filler[i]; left > 0;) {
			size_t n = left < sizeof sink ? left : sizeof sink;
			CHECK(tu_read_all(wpipe[i][0], sink, n), "read: end of file");
			left -= n;
		}
		CHECK(tu_read_all(wpipe[i][0], buf, PIPELEN), "read: end of file");
		size_t bad = tu_check(buf, PIPELEN, io_seed(K_PIPE_WRITE, i));
		if (bad != PIPELEN)
			FAIL("pipe write %u: the pipe got other bytes than the "
			     "message's (first bad byte %zu): its buffer was "
			     "reclaimed and reused while the write waited", i,
			     bad);
	}

	for (int n = 0; n < 3 * NREQ; n++) {
		struct io_uring_cqe *cqe;
		do
			r = io_uring_wait_cqe(&ring, &cqe);
		while (r == -EINTR);
		CHECK(r == 0, "io_uring_wait_cqe: %s", strerror(-r));
		struct msg *m = io_uring_cqe_get_data(cqe);
		long long res = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		msg_done(m, res);
	}
	io_uring_queue_exit(&ring);
	for (int i = 0; i < NREQ; i++) {
		close(rpipe[i][0]);
		close(rpipe[i][1]);
		close(wpipe[i][0]);
		close(wpipe[i][1]);
	}
	printf("kernio uring: %d pipe reads, %d pipe writes and %d nops held "
	       "%d ms in flight, all intact\n", NREQ, NREQ, NREQ, HOLD_MS);
}

/* ---- Linux AIO ---- */

static aio_context_t ctx;
static int efd[NREQ];
static int file_fd;

static long sys_io_setup(unsigned nr, aio_context_t *c)
{
	return syscall(SYS_io_setup, nr, c);
}

static long sys_io_submit(aio_context_t c, long n, struct iocb **cbs)
{
	return syscall(SYS_io_submit, c, n, cbs);
}

static long sys_io_getevents(aio_context_t c, long min, long max,
			     struct io_event *ev)
{
	return syscall(SYS_io_getevents, c, min, max, ev, NULL);
}

static long sys_io_destroy(aio_context_t c)
{
	return syscall(SYS_io_destroy, c);
}

/* A file of 2 * NREQ blocks in $TMPDIR, unlinked: the first NREQ hold
 * what the reads must bring back, the rest is where the writes go.  Opened
 * O_DIRECT if the file system allows (the requests then go to the device
 * instead of completing inside io_submit). */
static void aio_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/kernio.XXXXXX",
		 dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	unsigned char block[IOLEN];
	for (unsigned i = 0; i < NREQ; i++) {
		tu_fill(block, IOLEN, io_seed(K_FILE_READ, i));
		tu_write_all(fd, block, IOLEN);
	}
	CHECK(ftruncate(fd, 2 * NREQ * IOLEN) == 0, "ftruncate: %s",
	      strerror(errno));
	CHECK(fsync(fd) == 0, "fsync: %s", strerror(errno));
	file_fd = open(path, O_RDWR | O_DIRECT);
	if (file_fd < 0)
		file_fd = open(path, O_RDWR);
	CHECK(file_fd >= 0, "open %s: %s", path, strerror(errno));
	close(fd);
	unlink(path);
}

/* Makes a message and an iocb for request (kind, i) and submits it; the
 * iocb pointer and the message pointer stay with the kernel only. */
static __attribute__((noinline)) void aio_submit_one(unsigned kind, unsigned i)
{
	struct msg *m = msg_new(kind, i, IOLEN);
	struct iocb *cb = calloc(1, sizeof *cb);
	CHECK(cb != NULL, "calloc");
	cb->aio_data = (uintptr_t)m;
	if (kind == K_POLL) {
		cb->aio_lio_opcode = IOCB_CMD_POLL;
		cb->aio_fildes = (uint32_t)efd[i];
		cb->aio_buf = POLLIN;
	} else {
		cb->aio_lio_opcode = kind == K_FILE_READ ? IOCB_CMD_PREAD
							 : IOCB_CMD_PWRITE;
		cb->aio_fildes = (uint32_t)file_fd;
		cb->aio_buf = (uintptr_t)msg_io(m);
		cb->aio_nbytes = IOLEN;
		cb->aio_offset = (int64_t)((kind == K_FILE_READ ? i : NREQ + i) *
					   (uint64_t)IOLEN);
	}
	struct iocb *list[1] = { cb };
	long r = sys_io_submit(ctx, 1, list);
	CHECK(r == 1, "io_submit (%s %u): %s", kind_name[kind], i,
	      r < 0 ? strerror(errno) : "not taken");
	*(struct iocb *volatile *)&list[0] = NULL;
	*(struct iocb *volatile *)&cb = NULL;
	*(struct msg *volatile *)&m = NULL;
}

static __attribute__((noinline)) void aio_submit(void)
{
	for (unsigned kind = K_POLL; kind <= K_FILE_WRITE; kind++)
		for (unsigned i = 0; i < NREQ; i++)
			aio_submit_one(kind, i);
}

/* An event's iocb: checked against the event, then freed. */
static void iocb_done(struct iocb *cb, const struct io_event *ev)
{
	if (cb == NULL || cb->aio_data != ev->data ||
	    cb->aio_lio_opcode > IOCB_CMD_POLL)
		FAIL("an event brought back iocb %p with other contents "
		     "(aio_data %#llx, event's %#llx): it was reclaimed while "
		     "the kernel held it", (void *)cb,
		     cb ? (unsigned long long)cb->aio_data : 0ULL,
		     (unsigned long long)ev->data);
	free(cb);
}

static void run_aio(void)
{
	CHECK(sys_io_setup(4 * NREQ, &ctx) == 0, "io_setup: %s",
	      strerror(errno));
	for (int i = 0; i < NREQ; i++) {
		efd[i] = eventfd(0, 0);
		CHECK(efd[i] >= 0, "eventfd: %s", strerror(errno));
	}
	aio_file();
	aio_submit();
	scrub_stack();

	tu_sleep_ms(HOLD_MS);

	/* Let the polls finish. */
	for (int i = 0; i < NREQ; i++) {
		uint64_t one = 1;
		tu_write_all(efd[i], &one, sizeof one);
	}

	static struct io_event ev[3 * NREQ];
	int got = 0;
	while (got < 3 * NREQ) {
		long r = sys_io_getevents(ctx, 1, 3 * NREQ - got, ev + got);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0, "io_getevents: %s", strerror(errno));
		got += (int)r;
	}
	for (int n = 0; n < got; n++) {
		iocb_done((struct iocb *)(uintptr_t)ev[n].obj, &ev[n]);
		msg_done((struct msg *)(uintptr_t)ev[n].data, ev[n].res);
	}
	memset(ev, 0, sizeof ev);
	CHECK(sys_io_destroy(ctx) == 0, "io_destroy: %s", strerror(errno));

	/* What the writes put in the file. */
	void *block = NULL;
	CHECK(posix_memalign(&block, MSG_ALIGN, IOLEN) == 0, "posix_memalign");
	for (unsigned i = 0; i < NREQ; i++) {
		ssize_t r = pread(file_fd, block, IOLEN,
				  (off_t)(NREQ + i) * IOLEN);
		CHECK(r == IOLEN, "pread: %s", r < 0 ? strerror(errno) : "short");
		size_t bad = tu_check(block, IOLEN, io_seed(K_FILE_WRITE, i));
		if (bad != IOLEN)
			FAIL("file write %u: the file got other bytes than the "
			     "message's (first bad byte %zu): its buffer was "
			     "reclaimed and reused while the write waited", i,
			     bad);
	}
	free(block);
	close(file_fd);
	for (int i = 0; i < NREQ; i++) {
		uint64_t v = 0;
		CHECK(tu_read_all(efd[i], &v, sizeof v), "read: end of file");
		CHECK(v == 1, "eventfd %d: %llu", i, (unsigned long long)v);
		close(efd[i]);
	}
	printf("kernio aio: %d polls, %d file reads and %d file writes held "
	       "%d ms in flight, all intact\n", NREQ, NREQ, NREQ, HOLD_MS);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "uring") && strcmp(argv[1], "aio"))) {
		fprintf(stderr, "usage: kernio uring|aio\n");
		return 2;
	}
	tu_watchdog("kernio", 60);
	tu_gc_init();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, churn, NULL) == 0, "pthread_create");
	int uring = strcmp(argv[1], "uring") == 0;
	if (uring)
		run_uring();
	else
		run_aio();
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	for (int k = 0; k < K_MAX; k++) {
		unsigned want = uring == (k <= K_NOP);
		for (int i = 0; i < NREQ; i++)
			CHECK(seen[k][i] == want, "%s %d: came back %u times, "
			      "want %u", kind_name[k], i, seen[k][i], want);
	}
	return 0;
}
