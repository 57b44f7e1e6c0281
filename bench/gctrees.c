/* gctrees: programs written for a garbage collector.  They allocate trees
 * with malloc and never call free, so only a collector reclaims anything
 * (run under pacegc with PACEGC_FREE=ignore and under the bdwgc peer with
 * GCSHIM_IGNORE_FREE=1; plain malloc would need several GB).  Used by
 * `bench/run.sh --suite gc`.
 *
 * usage: gctrees [scale-percent [mode [threads]]]
 *
 * modes:
 *   gcbench      Ellis, Kovac and Boehm's GCBench, single-threaded: a
 *                long-lived depth-16 tree and a 500000-double array stay
 *                live (6 MB) while trees of depth 4..16 are built top-down
 *                and bottom-up and dropped.  32-byte nodes.
 *   binarytrees  the Benchmarks Game binary-trees (max depth 18): a long-lived
 *                depth-18 tree (8 MB of 16-byte nodes) stays live while
 *                `threads` threads (default 2) build and check many trees
 *                of depth 4..18 and drop them.
 *
 * At scale 100 each allocates about 1 GB in total; the scale multiplies the
 * number of trees built per depth.  The output (node checks) does not
 * depend on the allocator. */
#include "bench_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static long scale;

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		bench_xmalloc_fail("malloc", n);
	return p;
}

/* ---- GCBench ---- */

#define STRETCH_DEPTH 18
#define LONG_LIVED_DEPTH 16
#define ARRAY_SIZE 500000
#define MIN_DEPTH 4
#define MAX_DEPTH 16
#define GCBENCH_PASSES 2 /* passes over the depths at scale 100 */

struct gnode {
	struct gnode *left, *right;
	long i, j;
};

static struct gnode *gnode_new(struct gnode *l, struct gnode *r)
{
	struct gnode *n = xmalloc(sizeof *n);
	n->left = l;
	n->right = r;
	n->i = 0;
	n->j = 0;
	return n;
}

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/* Top-down: give node two children and recurse. */
static void populate(int depth, struct gnode *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = gnode_new(NULL, NULL);
	n->right = gnode_new(NULL, NULL);
	n->i = depth;
	populate(depth, n->left);
	populate(depth, n->right);
}

/* Bottom-up. */
static struct gnode *make_tree(int depth)
{
	if (depth <= 0)
		return gnode_new(NULL, NULL);
	struct gnode *n = gnode_new(make_tree(depth - 1), make_tree(depth - 1));
	n->j = depth;
	return n;
}

static long gcount(const struct gnode *n)
{
	long c = 0;
	for (; n; n = n->right)
		c += 1 + gcount(n->left);
	return c;
}

static uint64_t gcbench(void)
{
	uint64_t h = 0;
	/* Stretch the heap once. */
	struct gnode *t = make_tree(STRETCH_DEPTH);
	h = bench_mix(h, (uint64_t)t->j);
	t = NULL;

	struct gnode *long_lived = gnode_new(NULL, NULL);
	populate(LONG_LIVED_DEPTH, long_lived);
	double *array = xmalloc(ARRAY_SIZE * sizeof(double));
	for (int i = 0; i < ARRAY_SIZE / 2; i++)
		array[i] = 1.0 / i;

	for (int d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
		long iters = 2 * tree_size(STRETCH_DEPTH) / tree_size(d);
		iters = iters * GCBENCH_PASSES * scale / 100;
		if (iters < 1)
			iters = 1;
		for (long k = 0; k < iters; k++) {
			struct gnode *a = gnode_new(NULL, NULL);
			populate(d, a);
			struct gnode *b = make_tree(d);
			/* check a spine of each, cheaply */
			long sa = 0, sb = 0;
			for (struct gnode *x = a; x; x = x->left)
				sa += x->i + 1;
			for (struct gnode *x = b; x; x = x->right)
				sb += x->j + 1;
			h = bench_mix(h, (uint64_t)(sa * 1000 + sb));
		}
		printf("gcbench depth %d: %ld top-down + %ld bottom-up trees\n", d, iters, iters);
	}
	long n = gcount(long_lived);
	if (n != tree_size(LONG_LIVED_DEPTH) || array[1000] != 1.0 / 1000) {
		fprintf(stderr, "gcbench: long-lived data damaged (%ld nodes)\n", n);
		exit(1);
	}
	return bench_mix(h, (uint64_t)n);
}

/* ---- binary-trees ---- */

#define BT_MAX_DEPTH 18

struct bnode {
	struct bnode *left, *right;
};

static struct bnode *bottom_up(int depth)
{
	struct bnode *n = xmalloc(sizeof *n);
	if (depth > 0) {
		n->left = bottom_up(depth - 1);
		n->right = bottom_up(depth - 1);
	} else {
		n->left = n->right = NULL;
	}
	return n;
}

static long item_check(const struct bnode *n)
{
	return n->left ? 1 + item_check(n->left) + item_check(n->right) : 1;
}

struct bt_job {
	int depth;
	long iterations, check;
};

static struct bt_job jobs[BT_MAX_DEPTH];
static int njobs, nthreads;

static void *bt_worker(void *arg)
{
	long id = (long)(intptr_t)arg;
	for (int j = (int)id; j < njobs; j += nthreads) {
		long check = 0;
		for (long i = 0; i < jobs[j].iterations; i++)
			check += item_check(bottom_up(jobs[j].depth));
		jobs[j].check = check;
	}
	return NULL;
}

static uint64_t binarytrees(int threads)
{
	int max_depth = BT_MAX_DEPTH;
	uint64_t h = 0;
	struct bnode *stretch = bottom_up(max_depth + 1);
	printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, item_check(stretch));
	stretch = NULL;
	struct bnode *long_lived = bottom_up(max_depth);

	/* Deepest first, so the threads finish together. */
	njobs = 0;
	for (int d = max_depth; d >= 4; d -= 2) {
		long it = (1L << (max_depth - d + 4)) * scale / 100;
		jobs[njobs].depth = d;
		jobs[njobs].iterations = it < 1 ? 1 : it;
		njobs++;
	}
	nthreads = threads;
	pthread_t tid[64];
	for (long t = 1; t < threads; t++)
		if (pthread_create(&tid[t], NULL, bt_worker, (void *)(intptr_t)t)) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	bt_worker((void *)0);
	for (int t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	for (int j = njobs - 1; j >= 0; j--) {
		printf("%ld\t trees of depth %d\t check: %ld\n", jobs[j].iterations,
		       jobs[j].depth, jobs[j].check);
		h = bench_mix(h, (uint64_t)jobs[j].check);
	}
	long ll = item_check(long_lived);
	printf("long lived tree of depth %d\t check: %ld\n", max_depth, ll);
	return bench_mix(h, (uint64_t)ll);
}

int main(int argc, char **argv)
{
	scale = bench_scale(argc, argv);
	const char *mode = argc > 2 ? argv[2] : "gcbench";
	int threads = argc > 3 ? atoi(argv[3]) : 2;
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "bad thread count\n");
		return 2;
	}
	uint64_t h;
	if (strcmp(mode, "gcbench") == 0)
		h = gcbench();
	else if (strcmp(mode, "binarytrees") == 0)
		h = binarytrees(threads);
	else {
		fprintf(stderr, "gctrees: unknown mode %s (gcbench, binarytrees)\n", mode);
		return 2;
	}
	printf("gctrees %s checksum=%016llx\n", mode, (unsigned long long)h);
	return 0;
}
