/* Helpers shared by the programs in tests/programs: a failure macro, a
 * deterministic PRNG, fill/verify of byte patterns, and collection cycles
 * on demand.  Header-only so each program stays one file. */
#ifndef PACEGC_TESTUTIL_H
#define PACEGC_TESTUTIL_H

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                      \
	do {                                                           \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
		fprintf(stderr, __VA_ARGS__);                          \
		fputc('\n', stderr);                                   \
		fflush(stderr);                                        \
		_exit(1);                                              \
	} while (0)

#define CHECK(cond, ...)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "FAIL %s:%d: check '%s' failed: ", \
				__FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                  \
			fputc('\n', stderr);                           \
			fflush(stderr);                                \
			_exit(1);                                      \
		}                                                      \
	} while (0)

/* splitmix64: a small, fixed-seed generator. */
static inline uint64_t tu_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint8_t tu_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	return (uint8_t)(x >> 56);
}

/* Fill [p, p+n) with a pattern that depends on seed and position. */
static inline void tu_fill(void *p, size_t n, uint64_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = tu_byte(seed, i);
}

/* A list node with a pattern-filled payload: the unit of the programs
 * that build live sets and garbage. */
struct node {
	struct node *next;
	uint64_t seed;
	size_t size;          /* bytes of data[] */
	unsigned char data[]; /* tu_fill(data, size, seed) */
};

static inline struct node *tu_new_node(uint64_t *rng, size_t size)
{
	struct node *n = malloc(sizeof *n + size);
	CHECK(n != NULL, "malloc(%zu)", sizeof *n + size);
	n->next = NULL;
	n->seed = tu_next(rng);
	n->size = size;
	tu_fill(n->data, size, n->seed);
	return n;
}

/* Index of the first byte that does not match the pattern, or n. */
static inline size_t tu_check(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != tu_byte(seed, i))
			return i;
	return n;
}

/* Pattern buffers made, checked and grown by the malloc, free and
 * realloc of the module that calls these (inlined there: a module loaded
 * with RTLD_DEEPBIND binds them to its own dependency chain). */
static inline void *tu_make(size_t n, uint64_t seed)
{
	void *p = malloc(n);
	if (p)
		tu_fill(p, n, seed);
	return p;
}

/* Checks and frees a buffer tu_make() filled. */
static inline int tu_consume(void *p, size_t n, uint64_t seed)
{
	int ok = tu_check(p, n, seed) == n;
	free(p);
	return ok;
}

/* Grows a buffer of n pattern bytes to m, extending the pattern. */
static inline void *tu_grow(void *p, size_t n, size_t m, uint64_t seed)
{
	unsigned char *q = realloc(p, m);
	if (!q)
		return NULL;
	for (size_t i = n; i < m; i++)
		q[i] = tu_byte(seed, i);
	return q;
}

static inline int tu_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Hide a pointer from the optimizer so it cannot pair or elide calls. */
static inline void *tu_launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* Collection cycles on demand.  Under pacegc, tu_gc() calls its
 * pacegc_collect() (found with dlsym in the preloaded library); in a plain
 * run it does nothing.  Either way the program sees no difference, so
 * output stays comparable.  Call tu_gc_init() once from ordinary code
 * before any thread or signal handler uses tu_gc(): dlsym may allocate. */
typedef void (*tu_collect_fn)(void);
static tu_collect_fn tu_collect_ptr __attribute__((unused));

static inline void tu_gc_init(void)
{
	tu_collect_ptr = (tu_collect_fn)dlsym(RTLD_DEFAULT, "pacegc_collect");
}

static inline void tu_gc(void)
{
	if (tu_collect_ptr)
		tu_collect_ptr();
}

static inline void tu_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* n cycles, gap_ms apart.  pacegc reclaims an unreachable object at the
 * first cycle that finds it so, or, with PACEGC_GODEBUG=reclaimdelay=MS,
 * when two cycles at least MS apart both did; with gap_ms above MS, an
 * object this leaves alive was really kept alive, not just too young to
 * reclaim.  Uses only async-signal-safe calls once tu_gc_init() has run. */
static inline void tu_gc_cycles(int n, long gap_ms)
{
	for (int i = 0; i < n; i++) {
		if (i)
			tu_sleep_ms(gap_ms);
		tu_gc();
	}
}

/* Writes all n bytes, again after EINTR. */
static inline void tu_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		CHECK(w > 0, "write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes, again after EINTR: 1, or 0 at end of file
 * before the first byte (a failure after it). */
static inline int tu_read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t want = n;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0, "read: %s", strerror(errno));
		if (r == 0) {
			CHECK(n == want, "read: end of file after %zu of %zu bytes", want - n, want);
			return 0;
		}
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

#endif
