/* No call fails with EINTR because of a cycle (issue 8, item 12).
 *
 * The program installs no signal handler that could run during the calls
 * below, so none of them may ever fail with EINTR (signal(7),
 * "Interruption of system calls and library functions by signal
 * handlers": these are the calls the kernel never restarts after a
 * handler, SA_RESTART or not, plus library functions built on them).
 * Under pacegc a helper thread forces cycles back to back (pacegc_collect
 * via tu_gc, a millisecond apart), so every call below is interrupted by
 * the suspend signal many times; in a plain run the helper does nothing.
 *
 * Two kinds of call, each run on the main thread:
 *   timed     the call waits T_MS (20 ms) for something that never
 *             happens, ITER (10) times: each must end with its timeout
 *             result (0, EAGAIN or ETIMEDOUT as the call reports a
 *             timeout), not EINTR, not before its timeout (less a jiffy
 *             for the socket timeouts, which the kernel counts in jiffies)
 *             and not LATE_MS (3 s) after it.  A wrapper that began the
 *             whole timeout again after each park would never end (the
 *             watchdog catches it); a call can be held up to a stop's
 *             deadline (2 s, gc.c) when a thread is slow to park, and on
 *             a loaded 2-core CI machine that happens: at 1 s one call in
 *             500 ended late in about one CI run in three, plain runs too.
 *   released  the call waits without a timeout; another thread ends the
 *             wait after HOLD_MS (150 ms), ROUNDS (2) times: the call must
 *             return only then, with its success result.  An EINTR before
 *             is counted and the call made again, as a program that
 *             retries would.  pause, sigsuspend and sigpause can only end
 *             with a handler: the release is SIGUSR1 sent to the main
 *             thread, and the EINTR that follows the release is the one
 *             EINTR allowed.
 * Some calls are here as regressions only: the wrapped sleeps and fd
 * waits, and sigwait, sem_wait, mq_timed*, pthread_cond_timedwait and
 * pthread_mutex_timedlock (glibc retries, or the kernel restarts them).
 *
 * The calls (see `calls[]`; `eintr list` prints them):
 *   sleeps        nanosleep, clock_nanosleep (relative and TIMER_ABSTIME),
 *                 usleep, sleep (one second, once), thrd_sleep
 *   fd waits      poll, ppoll, select, pselect, epoll_wait, epoll_pwait,
 *                 epoll_pwait2 on a pipe nobody writes to; the fortified
 *                 __poll_chk and __ppoll_chk (this file is built with -O2
 *                 -D_FORTIFY_SOURCE=2, so poll() with an array of known
 *                 size and a count not known at compile time calls them)
 *   signal waits  pause, sigsuspend, sigpause (XSI; released with
 *                 SIGUSR1); sigwaitinfo, sigwait (released with SIGUSR2,
 *                 blocked); sigtimedwait
 *   System V IPC  msgrcv (released by a msgsnd), msgsnd on a full queue
 *                 (released by a msgrcv), semop (released by semop +1),
 *                 semtimedop
 *   sockets       AF_UNIX, SO_RCVTIMEO / SO_SNDTIMEO = T_MS: recv,
 *                 recvfrom, recvmsg, recvmmsg, read, readv and the
 *                 fortified __recv_chk, __recvfrom_chk, __read_chk on an
 *                 empty socket; send, sendto, sendmsg, sendmmsg, write,
 *                 writev on a full one; accept and accept4 on a listener
 *                 nobody connects to; connect to a listener whose backlog
 *                 is full
 *   POSIX / C11   sem_timedwait, sem_clockwait, sem_wait (released by
 *                 sem_post), mq_timedreceive (empty queue), mq_timedsend
 *                 (full queue), pthread_cond_timedwait,
 *                 pthread_mutex_timedlock (POSIX: never EINTR)
 *   alone         aio_suspend with a timeout on a read from an empty pipe:
 *                 glibc waits on a futex with a timeout and passes EINTR
 *                 on.  Not in the default run but checked like the others
 *                 when named (`eintr aio_suspend`): glibc's AIO helper
 *                 thread blocks every signal, so under pacegc every cycle
 *                 also waits out the stop timeout while the request is
 *                 queued (2 s, and a "pacegc:" message), another bug.
 *   limitation    futex: FUTEX_WAIT with a timeout through syscall(); not
 *                 in the default run (a raw system call cannot be wrapped),
 *                 run it by name to see what happens: it prints its EINTR
 *                 count and exits 0 whatever it is.
 *
 * Output: one line per call, "NAME: ok" or "NAME: FAIL: ..." with the
 * counts (EINTR, early, late, other results); then a summary.  Identical
 * plain and preloaded when nothing fails; exits 1 if any call failed, or
 * (watchdog) if a call is still blocked after 10 s.
 *
 * Usage: eintr [-v] [list | NAME...]   (no NAME: every call but
 * aio_suspend and the limitations; -v: per-call times and cycle counts
 * on stderr). */
#if !defined(__OPTIMIZE__) || !defined(_FORTIFY_SOURCE) || _FORTIFY_SOURCE < 2
#error "build with -O2 -D_FORTIFY_SOURCE=2: the __poll_chk/__recv_chk calls come from fortification"
#endif

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "pacegc.h"
#include "testutil.h"

#define T_MS 20
#define ITER 10
#define HOLD_MS 150
#define ROUNDS 2
#define LATE_MS 3000
#define JIFFY_MS 11      /* socket timeouts may end up to a jiffy early (HZ >= 100) */
#define HUNG_MS 10000

enum { R_DONE, R_EINTR, R_OTHER };
#define R_TIMEOUT R_DONE

static int verbose;
static pthread_t main_thread;
static char other_what[160];    /* the first unexpected result of a call */

/* Records an unexpected result (the first per call) and returns R_OTHER. */
#define OTHER(...)                                                          \
	(other_what[0] ? 0 : snprintf(other_what, sizeof other_what, __VA_ARGS__), R_OTHER)

static const char *errname(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "?";
}

/* -1/errno results: EAGAIN (or `want`) is the timeout, EINTR is EINTR. */
static int classify(long r, int want)
{
	int e = errno;
	if (r == -1 && e == want)
		return R_TIMEOUT;
	if (r == -1 && e == EINTR)
		return R_EINTR;
	return r == -1 ? OTHER("-1, errno %s", errname(e)) : OTHER("returned %ld", r);
}

/* Error-number results (pthread, clock_nanosleep): 0 is not a timeout. */
static int classify_err(int err, int want)
{
	if (err == want)
		return R_TIMEOUT;
	if (err == EINTR)
		return R_EINTR;
	return OTHER("returned %s", err ? errname(err) : "0");
}

static int64_t now_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct timespec rel_ts(int ms)
{
	return (struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L };
}

static struct timespec abs_ts(clockid_t clock, int ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void block_usr(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

/* ---- the objects the calls wait on ---- */

static int pipefd[2], aio_pipe[2], epfd;
static int rx[2], tx[2], lsn, full_lsn, full_conn;
static int msq = -1, semid = -1;
static mqd_t mq_empty = (mqd_t)-1, mq_full = (mqd_t)-1;
static sem_t psem;
static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static uint32_t futex_word;
static volatile sig_atomic_t got_usr1;
/* Sizes the compiler cannot see, so fortified calls go to the _chk
 * functions rather than to the plain ones. */
static volatile nfds_t one_fd = 1;
static volatile size_t buf_len = 64;

struct msg {
	long type;
	char text[1000];
};

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void timeo(int fd, int opt, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	CHECK(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0, "setsockopt: %s",
	      strerror(errno));
}

static struct sockaddr_un abstract_addr(const char *what, socklen_t *len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "pacegc-eintr-%d-%s",
			 (int)getpid(), what);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	return a;
}

static void setup(void)
{
	CHECK(pipe(pipefd) == 0, "pipe");
	epfd = epoll_create1(0);
	CHECK(epfd >= 0, "epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN };
	CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, pipefd[0], &ev) == 0, "epoll_ctl");

	/* rx[0]: nothing ever arrives. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, rx) == 0, "socketpair");
	timeo(rx[0], SO_RCVTIMEO, T_MS);
	/* tx[0]: full, nobody reads. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, tx) == 0, "socketpair");
	static char chunk[65536];
	for (size_t n = sizeof chunk; n > 0; n /= 2)
		while (send(tx[0], chunk, n, MSG_DONTWAIT) > 0)
			;
	CHECK(errno == EAGAIN, "filling a socket: %s", strerror(errno));
	timeo(tx[0], SO_SNDTIMEO, T_MS);
	/* lsn: a listener nobody connects to. */
	socklen_t len;
	struct sockaddr_un a = abstract_addr("lsn", &len);
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(lsn >= 0 && bind(lsn, (struct sockaddr *)&a, len) == 0 && listen(lsn, 4) == 0,
	      "listener: %s", strerror(errno));
	timeo(lsn, SO_RCVTIMEO, T_MS);
	/* full_lsn: backlog 0 and one connection pending, so a connect
	 * waits for room that never comes. */
	a = abstract_addr("full", &len);
	full_lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(full_lsn >= 0 && bind(full_lsn, (struct sockaddr *)&a, len) == 0 &&
	      listen(full_lsn, 0) == 0, "listener: %s", strerror(errno));
	full_conn = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(connect(full_conn, (struct sockaddr *)&a, len) == 0, "connect: %s", strerror(errno));
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(connect(probe, (struct sockaddr *)&a, len) == -1 && errno == EAGAIN,
	      "a listener with backlog 0 took a second connection (%s)", strerror(errno));
	close(probe);

	msq = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	CHECK(msq >= 0, "msgget: %s", strerror(errno));
	semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	CHECK(semid >= 0, "semget: %s", strerror(errno));
	CHECK(semctl(semid, 0, SETVAL, 0) == 0, "semctl: %s", strerror(errno));
	CHECK(sem_init(&psem, 0, 0) == 0, "sem_init");

	struct mq_attr attr = { .mq_maxmsg = 1, .mq_msgsize = 16 };
	char name[64];
	snprintf(name, sizeof name, "/pacegc-eintr-%d-a", (int)getpid());
	mq_empty = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
	CHECK(mq_empty != (mqd_t)-1, "mq_open: %s", strerror(errno));
	mq_unlink(name);
	snprintf(name, sizeof name, "/pacegc-eintr-%d-b", (int)getpid());
	mq_full = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
	CHECK(mq_full != (mqd_t)-1, "mq_open: %s", strerror(errno));
	mq_unlink(name);
	CHECK(mq_send(mq_full, "x", 1, 0) == 0, "mq_send");

	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
}

static void remove_ipc(void)
{
	if (msq >= 0)
		msgctl(msq, IPC_RMID, NULL);
	if (semid >= 0)
		semctl(semid, 0, IPC_RMID);
	msq = semid = -1;
}

/* ---- timed calls: each waits `ms` for what never comes ---- */

static int t_nanosleep(int ms)
{
	struct timespec ts = rel_ts(ms);
	int r = nanosleep(&ts, NULL);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_clock_nanosleep(int ms)
{
	struct timespec ts = rel_ts(ms);
	int err = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	return err == 0 ? R_TIMEOUT : classify_err(err, 0);
}

static int t_clock_nanosleep_abs(int ms)
{
	struct timespec ts = abs_ts(CLOCK_MONOTONIC, ms);
	int err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	return err == 0 ? R_TIMEOUT : classify_err(err, 0);
}

static int t_usleep(int ms)
{
	int r = usleep((useconds_t)ms * 1000);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_sleep(int ms)
{
	unsigned left = sleep((unsigned)(ms / 1000));
	return left == 0 ? R_TIMEOUT : OTHER("returned %u (seconds left)", left);
}

static int t_thrd_sleep(int ms)
{
	struct timespec ts = rel_ts(ms);
	int r = thrd_sleep(&ts, NULL);
	/* C11: -1 means interrupted by a signal. */
	return r == 0 ? R_TIMEOUT : r == -1 ? R_EINTR : OTHER("returned %d", r);
}

static int t_poll(int ms)
{
	struct pollfd p[1] = { { .fd = pipefd[0], .events = POLLIN } };
	int r = poll(tu_launder(p), 1, ms);   /* size unknown: plain poll */
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_poll_chk(int ms)
{
	struct pollfd p[1] = { { .fd = pipefd[0], .events = POLLIN } };
	int r = poll(p, one_fd, ms);          /* __poll_chk */
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_ppoll(int ms)
{
	struct pollfd p[1] = { { .fd = pipefd[0], .events = POLLIN } };
	struct timespec ts = rel_ts(ms);
	int r = ppoll(tu_launder(p), 1, &ts, NULL);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_ppoll_chk(int ms)
{
	struct pollfd p[1] = { { .fd = pipefd[0], .events = POLLIN } };
	struct timespec ts = rel_ts(ms);
	int r = ppoll(p, one_fd, &ts, NULL);  /* __ppoll_chk */
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_select(int ms)
{
	fd_set r;
	FD_ZERO(&r);
	FD_SET(pipefd[0], &r);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	int n = select(pipefd[0] + 1, &r, NULL, NULL, &tv);
	return n == 0 ? R_TIMEOUT : classify(n, 0);
}

static int t_pselect(int ms)
{
	fd_set r;
	FD_ZERO(&r);
	FD_SET(pipefd[0], &r);
	struct timespec ts = rel_ts(ms);
	int n = pselect(pipefd[0] + 1, &r, NULL, NULL, &ts, NULL);
	return n == 0 ? R_TIMEOUT : classify(n, 0);
}

static int t_epoll_wait(int ms)
{
	struct epoll_event ev;
	int r = epoll_wait(epfd, &ev, 1, ms);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_epoll_pwait(int ms)
{
	struct epoll_event ev;
	int r = epoll_pwait(epfd, &ev, 1, ms, NULL);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_epoll_pwait2(int ms)
{
	struct epoll_event ev;
	struct timespec ts = rel_ts(ms);
	int r = epoll_pwait2(epfd, &ev, 1, &ts, NULL);
	return r == 0 ? R_TIMEOUT : classify(r, 0);
}

static int t_sigtimedwait(int ms)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	struct timespec ts = rel_ts(ms);
	return classify(sigtimedwait(&s, NULL, &ts), EAGAIN);
}

static int t_semtimedop(int ms)
{
	struct sembuf op = { 0, -1, 0 };
	struct timespec ts = rel_ts(ms);
	return classify(semtimedop(semid, &op, 1, &ts), EAGAIN);
}

static char sockbuf[64];

static int t_recv(int ms)
{
	(void)ms;
	return classify(recv(rx[0], tu_launder(sockbuf), buf_len, 0), EAGAIN);
}

static int t_recv_chk(int ms)
{
	(void)ms;
	char buf[64];
	return classify(recv(rx[0], buf, buf_len, 0), EAGAIN);       /* __recv_chk */
}

static int t_recvfrom(int ms)
{
	(void)ms;
	return classify(recvfrom(rx[0], tu_launder(sockbuf), buf_len, 0, NULL, NULL), EAGAIN);
}

static int t_recvfrom_chk(int ms)
{
	(void)ms;
	char buf[64];
	return classify(recvfrom(rx[0], buf, buf_len, 0, NULL, NULL), EAGAIN); /* __recvfrom_chk */
}

static int t_recvmsg(int ms)
{
	(void)ms;
	struct iovec iov = { sockbuf, sizeof sockbuf };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	return classify(recvmsg(rx[0], &m, 0), EAGAIN);
}

static int t_recvmmsg(int ms)
{
	(void)ms;
	struct iovec iov = { sockbuf, sizeof sockbuf };
	struct mmsghdr m = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	return classify(recvmmsg(rx[0], &m, 1, 0, NULL), EAGAIN);
}

static int t_read(int ms)
{
	(void)ms;
	return classify(read(rx[0], tu_launder(sockbuf), buf_len), EAGAIN);
}

static int t_read_chk(int ms)
{
	(void)ms;
	char buf[64];
	return classify(read(rx[0], buf, buf_len), EAGAIN);          /* __read_chk */
}

static int t_readv(int ms)
{
	(void)ms;
	struct iovec iov = { sockbuf, sizeof sockbuf };
	return classify(readv(rx[0], &iov, 1), EAGAIN);
}

static int t_send(int ms)
{
	(void)ms;
	return classify(send(tx[0], "x", 1, 0), EAGAIN);
}

static int t_sendto(int ms)
{
	(void)ms;
	return classify(sendto(tx[0], "x", 1, 0, NULL, 0), EAGAIN);
}

static int t_sendmsg(int ms)
{
	(void)ms;
	struct iovec iov = { "x", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	return classify(sendmsg(tx[0], &m, 0), EAGAIN);
}

static int t_sendmmsg(int ms)
{
	(void)ms;
	struct iovec iov = { "x", 1 };
	struct mmsghdr m = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	return classify(sendmmsg(tx[0], &m, 1, 0), EAGAIN);
}

static int t_write(int ms)
{
	(void)ms;
	return classify(write(tx[0], "x", 1), EAGAIN);
}

static int t_writev(int ms)
{
	(void)ms;
	struct iovec iov = { "x", 1 };
	return classify(writev(tx[0], &iov, 1), EAGAIN);
}

static int t_accept(int ms)
{
	(void)ms;
	int r = accept(lsn, NULL, NULL);
	return classify(r, EAGAIN);
}

static int t_accept4(int ms)
{
	(void)ms;
	int r = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	return classify(r, EAGAIN);
}

static int t_connect(int ms)
{
	socklen_t len;
	struct sockaddr_un a = abstract_addr("full", &len);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0, "socket");
	timeo(fd, SO_SNDTIMEO, ms);
	int r = connect(fd, (struct sockaddr *)&a, len);
	int res = classify(r, EAGAIN);
	close(fd);
	return res;
}

static int t_sem_timedwait(int ms)
{
	struct timespec ts = abs_ts(CLOCK_REALTIME, ms);
	return classify(sem_timedwait(&psem, &ts), ETIMEDOUT);
}

static int t_sem_clockwait(int ms)
{
	struct timespec ts = abs_ts(CLOCK_MONOTONIC, ms);
	return classify(sem_clockwait(&psem, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
}

static int t_mq_timedreceive(int ms)
{
	char buf[16];
	struct timespec ts = abs_ts(CLOCK_REALTIME, ms);
	return classify(mq_timedreceive(mq_empty, buf, sizeof buf, NULL, &ts), ETIMEDOUT);
}

static int t_mq_timedsend(int ms)
{
	struct timespec ts = abs_ts(CLOCK_REALTIME, ms);
	return classify(mq_timedsend(mq_full, "y", 1, 0, &ts), ETIMEDOUT);
}

static int t_cond_timedwait(int ms)
{
	struct timespec ts = abs_ts(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&cv_lock);
	int err = pthread_cond_timedwait(&cv, &cv_lock, &ts);
	pthread_mutex_unlock(&cv_lock);
	return classify_err(err, ETIMEDOUT);
}

static int t_mutex_timedlock(int ms)
{
	/* `held` is a normal mutex this thread holds: a timed relock waits
	 * for its timeout (glibc detects no deadlock for this type). */
	struct timespec ts = abs_ts(CLOCK_REALTIME, ms);
	return classify_err(pthread_mutex_timedlock(&held, &ts), ETIMEDOUT);
}

static int t_futex(int ms)
{
	struct timespec ts = rel_ts(ms);
	return classify(syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0),
			ETIMEDOUT);
}

static struct aiocb aio_cb;
static char aio_buf[1];

static void p_aio(void)
{
	CHECK(pipe(aio_pipe) == 0, "pipe");
	aio_cb = (struct aiocb){ .aio_fildes = aio_pipe[0], .aio_buf = aio_buf, .aio_nbytes = 1 };
	CHECK(aio_read(&aio_cb) == 0, "aio_read: %s", strerror(errno));
}

static int t_aio_suspend(int ms)
{
	const struct aiocb *list[1] = { &aio_cb };
	struct timespec ts = rel_ts(ms);
	return classify(aio_suspend(list, 1, &ts), EAGAIN);
}

static void f_aio(void)
{
	CHECK(write(aio_pipe[1], "x", 1) == 1, "write");
	const struct aiocb *list[1] = { &aio_cb };
	while (aio_error(&aio_cb) == EINPROGRESS)
		aio_suspend(list, 1, NULL);
	CHECK(aio_return(&aio_cb) == 1, "aio_return");
	close(aio_pipe[0]);
	close(aio_pipe[1]);
}

/* ---- released calls: each waits until another thread ends it ---- */

static int w_pause(void)
{
	int r = pause();
	if (r == -1 && errno == EINTR)
		return got_usr1 ? R_DONE : R_EINTR;
	return OTHER("pause returned %d, errno %s", r, errname(errno));
}

static void r_usr1(void)
{
	pthread_kill(main_thread, SIGUSR1);
}

static void p_usr1(void)
{
	got_usr1 = 0;
}

static void p_sigsuspend(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	got_usr1 = 0;
}

static int w_sigsuspend(void)
{
	sigset_t s;
	pthread_sigmask(SIG_BLOCK, NULL, &s);
	sigdelset(&s, SIGUSR1);
	int r = sigsuspend(&s);
	if (r == -1 && errno == EINTR)
		return got_usr1 ? R_DONE : R_EINTR;
	return OTHER("sigsuspend returned %d, errno %s", r, errname(errno));
}

/* XSI sigpause (glibc's __xpg_sigpause): SIGUSR1 out of the mask, then
 * sigsuspend, inside glibc. */
static int w_sigpause(void)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	int r = sigpause(SIGUSR1);
#pragma GCC diagnostic pop
	if (r == -1 && errno == EINTR)
		return got_usr1 ? R_DONE : R_EINTR;
	return OTHER("sigpause returned %d, errno %s", r, errname(errno));
}

static void f_sigsuspend(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

static sigset_t usr2_set;

static int w_sigwaitinfo(void)
{
	siginfo_t si;
	int r = sigwaitinfo(&usr2_set, &si);
	if (r == SIGUSR2)
		return R_DONE;
	return classify(r, -1);
}

static int w_sigwait(void)
{
	int sig = 0, err = sigwait(&usr2_set, &sig);
	if (err == 0 && sig == SIGUSR2)
		return R_DONE;
	return err == EINTR ? R_EINTR : OTHER("sigwait returned %d, sig %d", err, sig);
}

static void r_usr2(void)
{
	pthread_kill(main_thread, SIGUSR2);
}

static void p_msgrcv(void)
{
	struct msg m;
	while (msgrcv(msq, &m, sizeof m.text, 0, IPC_NOWAIT) >= 0)
		;
}

static int w_msgrcv(void)
{
	struct msg m;
	ssize_t r = msgrcv(msq, &m, sizeof m.text, 0, 0);
	return r >= 0 ? R_DONE : classify(r, -1);
}

static void r_msgsnd(void)
{
	struct msg m = { .type = 1 };
	CHECK(msgsnd(msq, &m, sizeof m.text, IPC_NOWAIT) == 0, "msgsnd: %s", strerror(errno));
}

static void p_msgsnd(void)
{
	struct msg m = { .type = 1 };
	while (msgsnd(msq, &m, sizeof m.text, IPC_NOWAIT) == 0)
		;
	CHECK(errno == EAGAIN, "filling a message queue: %s", strerror(errno));
}

static int w_msgsnd(void)
{
	struct msg m = { .type = 2 };
	int r = msgsnd(msq, &m, sizeof m.text, 0);
	return r == 0 ? R_DONE : classify(r, -1);
}

static void r_msgrcv(void)
{
	struct msg m;
	CHECK(msgrcv(msq, &m, sizeof m.text, 0, IPC_NOWAIT) >= 0, "msgrcv: %s", strerror(errno));
}

static int w_semop(void)
{
	struct sembuf op = { 0, -1, 0 };
	int r = semop(semid, &op, 1);
	return r == 0 ? R_DONE : classify(r, -1);
}

static void r_semop(void)
{
	struct sembuf op = { 0, 1, 0 };
	CHECK(semop(semid, &op, 1) == 0, "semop: %s", strerror(errno));
}

static int w_sem_wait(void)
{
	int r = sem_wait(&psem);
	return r == 0 ? R_DONE : classify(r, -1);
}

static void r_sem_post(void)
{
	sem_post(&psem);
}

/* ---- the table ---- */

enum { F_SOCKET = 1, F_RESEND = 2, F_LIMIT = 4, F_ALONE = 8 };

struct call {
	const char *name;
	int (*timed)(int ms);
	int (*wait)(void);
	void (*release)(void);
	void (*prepare)(void);   /* before the calls (released: each round) */
	void (*finish)(void);    /* after the last call */
	int ms, iter, flags;
};

#define TIMED(n, f, ...) { .name = n, .timed = f, __VA_ARGS__ }
#define RELEASED(n, w, r, ...) { .name = n, .wait = w, .release = r, __VA_ARGS__ }

static const struct call calls[] = {
	TIMED("nanosleep", t_nanosleep),
	TIMED("clock_nanosleep", t_clock_nanosleep),
	TIMED("clock_nanosleep_abs", t_clock_nanosleep_abs),
	TIMED("usleep", t_usleep),
	TIMED("sleep", t_sleep, .ms = 1000, .iter = 1),
	TIMED("thrd_sleep", t_thrd_sleep),
	TIMED("poll", t_poll),
	TIMED("__poll_chk", t_poll_chk),
	TIMED("ppoll", t_ppoll),
	TIMED("__ppoll_chk", t_ppoll_chk),
	TIMED("select", t_select),
	TIMED("pselect", t_pselect),
	TIMED("epoll_wait", t_epoll_wait),
	TIMED("epoll_pwait", t_epoll_pwait),
	TIMED("epoll_pwait2", t_epoll_pwait2),
	RELEASED("pause", w_pause, r_usr1, .prepare = p_usr1, .flags = F_RESEND),
	RELEASED("sigsuspend", w_sigsuspend, r_usr1, .prepare = p_sigsuspend,
		 .finish = f_sigsuspend),
	RELEASED("sigpause", w_sigpause, r_usr1, .prepare = p_sigsuspend,
		 .finish = f_sigsuspend),
	TIMED("sigtimedwait", t_sigtimedwait),
	RELEASED("sigwaitinfo", w_sigwaitinfo, r_usr2),
	RELEASED("sigwait", w_sigwait, r_usr2),
	RELEASED("msgrcv", w_msgrcv, r_msgsnd, .prepare = p_msgrcv),
	RELEASED("msgsnd", w_msgsnd, r_msgrcv, .prepare = p_msgsnd, .finish = p_msgrcv),
	RELEASED("semop", w_semop, r_semop),
	TIMED("semtimedop", t_semtimedop),
	TIMED("recv", t_recv, .flags = F_SOCKET),
	TIMED("__recv_chk", t_recv_chk, .flags = F_SOCKET),
	TIMED("recvfrom", t_recvfrom, .flags = F_SOCKET),
	TIMED("__recvfrom_chk", t_recvfrom_chk, .flags = F_SOCKET),
	TIMED("recvmsg", t_recvmsg, .flags = F_SOCKET),
	TIMED("recvmmsg", t_recvmmsg, .flags = F_SOCKET),
	TIMED("read", t_read, .flags = F_SOCKET),
	TIMED("__read_chk", t_read_chk, .flags = F_SOCKET),
	TIMED("readv", t_readv, .flags = F_SOCKET),
	TIMED("send", t_send, .flags = F_SOCKET),
	TIMED("sendto", t_sendto, .flags = F_SOCKET),
	TIMED("sendmsg", t_sendmsg, .flags = F_SOCKET),
	TIMED("sendmmsg", t_sendmmsg, .flags = F_SOCKET),
	TIMED("write", t_write, .flags = F_SOCKET),
	TIMED("writev", t_writev, .flags = F_SOCKET),
	TIMED("accept", t_accept, .flags = F_SOCKET),
	TIMED("accept4", t_accept4, .flags = F_SOCKET),
	TIMED("connect", t_connect, .flags = F_SOCKET),
	TIMED("sem_timedwait", t_sem_timedwait),
	TIMED("sem_clockwait", t_sem_clockwait),
	RELEASED("sem_wait", w_sem_wait, r_sem_post),
	TIMED("mq_timedreceive", t_mq_timedreceive),
	TIMED("mq_timedsend", t_mq_timedsend),
	TIMED("pthread_cond_timedwait", t_cond_timedwait),
	TIMED("pthread_mutex_timedlock", t_mutex_timedlock),
	TIMED("aio_suspend", t_aio_suspend, .prepare = p_aio, .finish = f_aio, .iter = 3,
	      .flags = F_ALONE),
	TIMED("futex", t_futex, .flags = F_LIMIT, .iter = 50),
};
#define NCALLS (sizeof calls / sizeof calls[0])

/* ---- helper threads ---- */

static _Atomic int stop_helpers;
static const char *_Atomic current;
static _Atomic int64_t current_since_us;

/* Cycles back to back, a millisecond apart, when preloaded. */
static void *cycler(void *arg)
{
	(void)arg;
	block_usr();
	while (!atomic_load(&stop_helpers)) {
		tu_gc();
		tu_sleep_ms(1);
	}
	return NULL;
}

static void *watchdog(void *arg)
{
	(void)arg;
	block_usr();
	while (!atomic_load(&stop_helpers)) {
		tu_sleep_ms(100);
		const char *name = atomic_load(&current);
		if (name && now_us(CLOCK_MONOTONIC) - atomic_load(&current_since_us) >
				    HUNG_MS * 1000L) {
			printf("%s: FAIL: still blocked after %d s\n", name, HUNG_MS / 1000);
			fflush(stdout);
			remove_ipc();
			_exit(1);
		}
	}
	return NULL;
}

static _Atomic int released, acked;

static void *releaser(void *arg)
{
	const struct call *c = arg;
	block_usr();
	tu_sleep_ms(HOLD_MS);
	atomic_store(&released, 1);
	c->release();
	/* pause cannot be released race-free: the signal may come just
	 * before the call.  Send it again until the call has ended. */
	for (int i = 0; (c->flags & F_RESEND) && !atomic_load(&acked) && i < 200; i++) {
		tu_sleep_ms(50);
		if (!atomic_load(&acked))
			c->release();
	}
	return NULL;
}

/* ---- running ---- */

static void (*read_stats)(pacegc_stats_t *);

/* Cycles completed (pacegc_read_stats, found with dlsym); 0 plain. */
static uint32_t cycles_so_far(void)
{
	pacegc_stats_t s;
	if (!read_stats)
		return 0;
	read_stats(&s);
	return s.num_gc;
}

static int run_call(const struct call *c)
{
	int eintr = 0, early = 0, late = 0, other = 0, before_release = 0;
	int ms = c->ms ? c->ms : T_MS, iter = c->iter ? c->iter : ITER;
	int64_t min_us = INT64_MAX, max_us = 0;
	uint32_t cycles0 = cycles_so_far();
	other_what[0] = 0;
	atomic_store(&current_since_us, now_us(CLOCK_MONOTONIC));
	atomic_store(&current, c->name);
	if (c->timed) {
		int slack_ms = c->flags & F_SOCKET ? JIFFY_MS : 0;
		if (c->prepare)
			c->prepare();
		for (int i = 0; i < iter; i++) {
			int64_t t0 = now_us(CLOCK_MONOTONIC);
			int r = c->timed(ms);
			int64_t dt = now_us(CLOCK_MONOTONIC) - t0;
			if (r == R_EINTR)
				eintr++;
			else if (r == R_OTHER)
				other++;
			else {
				if (dt < (int64_t)(ms - slack_ms) * 1000)
					early++;
				else if (dt > (int64_t)(ms + LATE_MS) * 1000)
					late++;
				min_us = dt < min_us ? dt : min_us;
				max_us = dt > max_us ? dt : max_us;
			}
		}
		if (c->finish)
			c->finish();
	} else {
		iter = ROUNDS;
		for (int round = 0; round < ROUNDS; round++) {
			if (c->prepare)
				c->prepare();
			atomic_store(&released, 0);
			atomic_store(&acked, 0);
			pthread_t t;
			CHECK(pthread_create(&t, NULL, releaser, (void *)c) == 0, "pthread_create");
			int r;
			while ((r = c->wait()) == R_EINTR)
				eintr++;
			if (r == R_OTHER)
				other++;
			else if (!atomic_load(&released))
				before_release++;
			atomic_store(&acked, 1);
			pthread_join(t, NULL);
		}
		if (c->finish)
			c->finish();
	}
	atomic_store(&current, NULL);
	if (verbose)
		fprintf(stderr, "  %s: %d calls, %u cycles meanwhile, timeouts %.1f..%.1f ms\n",
			c->name, iter, cycles_so_far() - cycles0,
			min_us == INT64_MAX ? 0 : min_us / 1000.0, max_us / 1000.0);
	if (c->flags & F_LIMIT) {
		fprintf(stderr, "%s (raw system call, a documented limitation): "
			"%d of %d calls returned EINTR\n", c->name, eintr, iter);
		printf("%s: measured\n", c->name);
		return 0;
	}
	if (!eintr && !early && !late && !other && !before_release) {
		printf("%s: ok\n", c->name);
		return 0;
	}
	if (c->timed)
		printf("%s: FAIL: %d of %d calls returned EINTR", c->name, eintr, iter);
	else
		printf("%s: FAIL: %d EINTR before the release in %d rounds", c->name, eintr, iter);
	if (early)
		printf(", %d ended before the timeout", early);
	if (late)
		printf(", %d ended over %d ms after the timeout", late, LATE_MS);
	if (before_release)
		printf(", %d returned before the release", before_release);
	if (other)
		printf(", %d other results (first: %s)", other, other_what);
	printf("\n");
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "-v") == 0)
		verbose = 1, first = 2;
	if (argc > first && strcmp(argv[first], "list") == 0) {
		for (size_t i = 0; i < NCALLS; i++)
			printf("%s%s\n", calls[i].name,
			       calls[i].flags & F_LIMIT   ? " (limitation: only by name)"
			       : calls[i].flags & F_ALONE ? " (only by name)"
							  : "");
		return 0;
	}
	const struct call *todo[NCALLS];
	size_t n = 0;
	for (int a = first; a < argc; a++) {
		size_t i = 0;
		while (i < NCALLS && strcmp(calls[i].name, argv[a]) != 0)
			i++;
		if (i == NCALLS)
			FAIL("unknown call %s (eintr list shows them)", argv[a]);
		todo[n++] = &calls[i];
	}
	if (argc == first)
		for (size_t i = 0; i < NCALLS; i++)
			if (!(calls[i].flags & (F_LIMIT | F_ALONE)))
				todo[n++] = &calls[i];

	tu_gc_init();
	read_stats = (void (*)(pacegc_stats_t *))dlsym(RTLD_DEFAULT, "pacegc_read_stats");
	main_thread = pthread_self();
	sigemptyset(&usr2_set);
	sigaddset(&usr2_set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2_set, NULL);   /* sigwait* take it */
	setup();
	pthread_mutex_lock(&held);
	pthread_t cyc, dog;
	CHECK(pthread_create(&dog, NULL, watchdog, NULL) == 0, "pthread_create");
	if (tu_collect_ptr)
		CHECK(pthread_create(&cyc, NULL, cycler, NULL) == 0, "pthread_create");
	tu_sleep_ms(50);   /* the cycler is running */

	int failed = 0;
	for (size_t i = 0; i < n; i++)
		failed += run_call(todo[i]);

	atomic_store(&stop_helpers, 1);
	if (tu_collect_ptr)
		pthread_join(cyc, NULL);
	pthread_join(dog, NULL);
	remove_ipc();
	if (failed)
		printf("eintr: %d of %zu calls failed\n", failed, n);
	else
		printf("eintr: %zu calls, none failed\n", n);
	return failed ? 1 : 0;
}
