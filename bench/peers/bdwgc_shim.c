/* bdwgc_shim: the bdwgc benchmark peer.  A small LD_PRELOAD shim that
 * serves the malloc family of an unmodified C program from Debian's libgc
 * (1:8.2.2, threads + parallel mark, built without malloc redirection).
 *
 *   LD_PRELOAD=build/bench/peers/libbdwgc_shim.so program ...
 *
 * Environment (read once, at the first call):
 *   GCSHIM_IGNORE_FREE=1   free() does nothing and realloc() never frees the
 *                          old block: all reclamation is by the collector,
 *                          as in bdwgc's IGNORE_FREE build (GC-only mode).
 *                          Default: free() calls GC_free() on GC objects.
 *   GCSHIM_MARKERS=lazy    leave bdwgc's default of starting its parallel
 *                          marker threads only when the program creates its
 *                          first thread.  Default: start them at once, so a
 *                          single-threaded program also marks in parallel.
 * libgc's own variables (GC_PRINT_STATS, GC_MARKERS, GC_FREE_SPACE_DIVISOR,
 * ...) work as usual.
 *
 * How it works (see the research note bdwgc-peer.md, sections 6 and 8):
 * - Re-entrancy: libgc calls malloc itself (GC_init via pthread_getattr_np
 *   and fopen) and, in a non-redirect build, calls pthread_create,
 *   pthread_join, pthread_sigmask and dlopen by their plain names, which
 *   resolve back here.  A thread-local depth counter is raised around every
 *   call into libgc; while it is non-zero, the malloc family goes to glibc
 *   (__libc_malloc ...) and the pthread/dlopen entry points go to the real
 *   functions.  free(), realloc() and malloc_usable_size() tell the two
 *   kinds of pointers apart with GC_base(), which also maps
 *   GC_memalign's interior pointers back to their object.
 * - Signals: bdwgc's defaults (SIGPWR, SIGXCPU) collide with programs; the
 *   suspend and restart signals are set to SIGRTMIN+6 / SIGRTMIN+5 before
 *   the first libgc call of any kind (which may be a pthread_create).
 * - Threads: pthread_create/join/detach and pthread_sigmask go through
 *   GC_pthread_* so that threads are registered and the suspend signal is
 *   never blocked; dlopen goes through GC_dlopen.
 *
 * It is a peer for C programs only: libgc does not scan memory the program
 * maps itself (pymalloc arenas, CPython's frame stack chunks), so CPython
 * and similar runtimes crash under it. */
#define GC_THREADS
#define GC_NO_THREAD_REDIRECTS
#include <gc/gc.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc's own allocator, used for libgc's internal calls. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread unsigned depth __attribute__((tls_model("initial-exec")));
static int ignore_free;
static volatile int ready; /* 0 never initialized, 1 initializing, 2 ready */

static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *,
                                  void *(*)(void *), void *);
static int (*real_pthread_join)(pthread_t, void **);
static int (*real_pthread_detach)(pthread_t);
static int (*real_pthread_sigmask)(int, const sigset_t *, sigset_t *);
static void *(*real_dlopen)(const char *, int);
static size_t (*real_usable_size)(void *);

#define ENTER() (depth++)
#define LEAVE() (depth--)

static void init(void)
{
	if (ready == 2)
		return;
	/* Single-threaded here: the only way to get a second thread is our
	 * pthread_create, which calls init() first. */
	ready = 1;
	ENTER();
	real_pthread_create = dlsym(RTLD_NEXT, "pthread_create");
	real_pthread_join = dlsym(RTLD_NEXT, "pthread_join");
	real_pthread_detach = dlsym(RTLD_NEXT, "pthread_detach");
	real_pthread_sigmask = dlsym(RTLD_NEXT, "pthread_sigmask");
	real_dlopen = dlsym(RTLD_NEXT, "dlopen");
	real_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	const char *e = getenv("GCSHIM_IGNORE_FREE");
	ignore_free = e && *e && strcmp(e, "0") != 0;
	GC_set_suspend_signal(SIGRTMIN + 6);
	GC_set_thr_restart_signal(SIGRTMIN + 5);
	GC_init();
	LEAVE();
	ready = 2;
}

/* Start the marker threads before main (not from inside the first malloc,
 * which may run while ld.so holds its locks). */
__attribute__((constructor)) static void shim_ctor(void)
{
	init();
	const char *m = getenv("GCSHIM_MARKERS");
	if (!(m && strcmp(m, "lazy") == 0)) {
		ENTER();
		GC_start_mark_threads();
		LEAVE();
	}
}

EXPORT void *malloc(size_t n)
{
	if (depth || ready != 2) {
		if (depth)
			return __libc_malloc(n);
		init();
	}
	ENTER();
	void *p = GC_malloc(n);
	LEAVE();
	if (!p)
		errno = ENOMEM;
	return p;
}

EXPORT void *calloc(size_t k, size_t n)
{
	if (depth)
		return __libc_calloc(k, n);
	size_t total;
	if (__builtin_mul_overflow(k, n, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(total); /* GC_malloc memory is zeroed */
}

EXPORT void free(void *p)
{
	if (!p)
		return;
	if (depth) { /* libgc itself: only ever frees glibc blocks */
		__libc_free(p);
		return;
	}
	if (ready != 2)
		init();
	/* GC_memalign may return an interior pointer: free the object. */
	void *base = GC_base(p);
	if (!base) {
		__libc_free(p);
		return;
	}
	if (ignore_free)
		return;
	ENTER();
	GC_free(base);
	LEAVE();
}

EXPORT void *realloc(void *p, size_t n)
{
	if (depth)
		return __libc_realloc(p, n);
	if (!p)
		return malloc(n);
	if (ready != 2)
		init();
	void *base = GC_base(p);
	if (!base)
		return __libc_realloc(p, n);
	if (base == p && !ignore_free) {
		ENTER();
		void *q = GC_realloc(p, n);
		LEAVE();
		if (!q && n)
			errno = ENOMEM;
		return q;
	}
	/* An aligned block (interior pointer), or GC-only mode, where the old
	 * block is left to the collector. */
	if (n == 0) {
		free(p);
		return NULL;
	}
	size_t old = GC_size(base) - (size_t)((char *)p - (char *)base);
	if (n <= old && base == p)
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, old < n ? old : n);
		free(p);
	}
	return q;
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (depth)
		return __libc_memalign(align, n);
	if (ready != 2)
		init();
	ENTER();
	void *p = GC_memalign(align, n);
	LEAVE();
	if (!p)
		errno = ENOMEM;
	return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return memalign(align, n);
}

EXPORT void *valloc(size_t n)
{
	return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

EXPORT void *pvalloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return memalign(pg, (n + pg - 1) / pg * pg);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (ready != 2 && !depth)
		init();
	if (depth)
		return real_usable_size ? real_usable_size(p) : 0;
	void *base = GC_base(p);
	if (!base)
		return real_usable_size ? real_usable_size(p) : 0;
	return GC_size(base) - (size_t)((char *)p - (char *)base);
}

/* ---- threads, signal mask, dlopen ---- */

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *a,
                          void *(*fn)(void *), void *arg)
{
	if (depth)
		return real_pthread_create(t, a, fn, arg);
	init();
	ENTER();
	int r = GC_pthread_create(t, a, fn, arg);
	LEAVE();
	return r;
}

EXPORT int pthread_join(pthread_t t, void **ret)
{
	if (depth)
		return real_pthread_join(t, ret);
	init();
	ENTER();
	int r = GC_pthread_join(t, ret);
	LEAVE();
	return r;
}

EXPORT int pthread_detach(pthread_t t)
{
	if (depth)
		return real_pthread_detach(t);
	init();
	ENTER();
	int r = GC_pthread_detach(t);
	LEAVE();
	return r;
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	if (depth || ready != 2) {
		if (!real_pthread_sigmask)
			real_pthread_sigmask = dlsym(RTLD_NEXT, "pthread_sigmask");
		if (depth)
			return real_pthread_sigmask(how, set, old);
		init();
	}
	ENTER();
	int r = GC_pthread_sigmask(how, set, old);
	LEAVE();
	return r;
}

EXPORT void *dlopen(const char *path, int mode)
{
	if (depth || ready != 2) {
		if (!real_dlopen)
			real_dlopen = dlsym(RTLD_NEXT, "dlopen");
		if (depth)
			return real_dlopen(path, mode);
		init();
	}
	ENTER();
	void *h = GC_dlopen(path, mode);
	LEAVE();
	return h;
}
