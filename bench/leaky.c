/* leaky: programs that leak.  They allocate lists and trees and drop them
 * without freeing; a plain malloc's RSS grows with everything allocated
 * (1-1.4 GB at scale 100), a collector keeps it near the live size
 * (10-30 MB).  Used by `bench/run.sh --suite gc`.
 *
 * usage: leaky [scale-percent [mode [threads]]]
 *
 * modes:
 *   list  single thread; builds linked lists of 24-96 B nodes and keeps the
 *         last LIST_RING of them (about 16 MB); the list pushed out of the
 *         ring is walked (checksum) and dropped, never freed.
 *   tree  single thread; a persistent (path-copying) binary search tree
 *         map from integer keys to malloc'd strings, as a functional
 *         program or an undo history keeps it: every insert copies the path
 *         from the root, the old path and replaced strings become garbage.
 *         The last TREE_VERSIONS versions stay reachable (about 25 MB).
 *   mt    `threads` threads (default 2), each building lists as in `list`
 *         in a ring of its own; lists of even rounds are leaked, lists of
 *         odd rounds are freed node by node (a program that frees most of
 *         what it allocates).
 *
 * Every node is written when allocated and read back before it is dropped;
 * the checksum does not depend on the allocator. */
#include "bench_common.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---- lists ---- */

#define LIST_NODES 4000
#define LIST_RING 64
#define LIST_ROUNDS_PER_PCT 40L /* 100% = 4000 lists, ~1 GB */

struct lnode {
	struct lnode *next;
	uint32_t words, tag;
	uint64_t w[]; /* 1..10 words */
};

static struct lnode *list_build(uint64_t *seed, uint64_t round)
{
	struct lnode *head = NULL;
	for (unsigned i = 0; i < LIST_NODES; i++) {
		uint64_t r = bench_rng(seed);
		unsigned words = 1 + (unsigned)(r % 10);
		size_t sz = sizeof(struct lnode) + words * sizeof(uint64_t);
		struct lnode *n = malloc(sz);
		if (!n)
			bench_xmalloc_fail("malloc", sz);
		n->next = head;
		n->words = words;
		n->tag = (uint32_t)(round * LIST_NODES + i);
		for (unsigned k = 0; k < words; k++)
			n->w[k] = r ^ (k * 0x9e3779b97f4a7c15ULL);
		head = n;
	}
	return head;
}

static uint64_t list_sum(const struct lnode *n)
{
	uint64_t h = 0;
	for (; n; n = n->next)
		h = bench_mix(h, n->tag ^ n->w[0] ^ n->w[n->words - 1]);
	return h;
}

static void list_free(struct lnode *n)
{
	while (n) {
		struct lnode *next = n->next;
		free(n);
		n = next;
	}
}

struct lworker {
	pthread_t tid;
	uint64_t id;
	long rounds;
	int free_odd; /* free the lists of odd rounds */
	uint64_t sum;
};

static void *list_worker(void *arg)
{
	struct lworker *w = arg;
	uint64_t seed = 0x11570000ULL + w->id;
	struct lnode *ring[LIST_RING] = {0};
	long ring_round[LIST_RING] = {0};
	for (long r = 0; r < w->rounds; r++) {
		unsigned slot = (unsigned)(r % LIST_RING);
		if (ring[slot]) {
			w->sum += list_sum(ring[slot]);
			if (w->free_odd && (ring_round[slot] & 1))
				list_free(ring[slot]);
			/* else: dropped, leaked */
		}
		ring[slot] = list_build(&seed, (uint64_t)r);
		ring_round[slot] = r;
	}
	for (unsigned s = 0; s < LIST_RING; s++)
		if (ring[s])
			w->sum += list_sum(ring[s]);
	return NULL;
}

/* ---- persistent tree ---- */

#define TREE_KEYS 160000u
#define TREE_VERSIONS 4
#define TREE_INSERTS_PER_PCT 12000L /* 100% = 1.2M inserts, ~1 GB */

struct tnode {
	struct tnode *left, *right;
	uint64_t key;
	char *val;
};

static char *make_string(uint64_t r, uint64_t key)
{
	size_t len = 8 + (size_t)(r % 113); /* 8..120 */
	char *s = malloc(len + 1);
	if (!s)
		bench_xmalloc_fail("malloc", len + 1);
	for (size_t i = 0; i < len; i++)
		s[i] = (char)('a' + (key + i * (r >> 8)) % 26);
	s[len] = 0;
	return s;
}

static struct tnode *tnode_new(struct tnode *l, struct tnode *r, uint64_t key, char *val)
{
	struct tnode *n = malloc(sizeof *n);
	if (!n)
		bench_xmalloc_fail("malloc", sizeof *n);
	n->left = l;
	n->right = r;
	n->key = key;
	n->val = val;
	return n;
}

/* Returns the root of a new version; t is unchanged. */
static struct tnode *tree_insert(const struct tnode *t, uint64_t key, char *val)
{
	if (!t)
		return tnode_new(NULL, NULL, key, val);
	if (key < t->key)
		return tnode_new(tree_insert(t->left, key, val), t->right, t->key, t->val);
	if (key > t->key)
		return tnode_new(t->left, tree_insert(t->right, key, val), t->key, t->val);
	return tnode_new(t->left, t->right, key, val);
}

static const struct tnode *tree_find(const struct tnode *t, uint64_t key)
{
	while (t && t->key != key)
		t = key < t->key ? t->left : t->right;
	return t;
}

static uint64_t tree_sum(const struct tnode *t, uint64_t *count)
{
	uint64_t h = 0;
	while (t) { /* in order, recursion on the left only */
		h = bench_mix(h, tree_sum(t->left, count));
		h = bench_mix(h, t->key ^ strlen(t->val) ^ (uint64_t)(unsigned char)t->val[0]);
		(*count)++;
		t = t->right;
	}
	return h;
}

static uint64_t tree_run(long scale, uint64_t *nodes)
{
	uint64_t seed = 0x7ee0ULL, h = 0;
	struct tnode *ver[TREE_VERSIONS] = {0};
	long inserts = scale * TREE_INSERTS_PER_PCT;
	unsigned cur = 0;
	for (long i = 0; i < inserts; i++) {
		uint64_t r = bench_rng(&seed);
		/* keys: a hashed permutation of 0..TREE_KEYS-1, so the tree stays
		 * balanced enough without rebalancing */
		uint64_t key = bench_mix(0, r % TREE_KEYS);
		struct tnode *next = tree_insert(ver[cur], key, make_string(r >> 20, key));
		cur = (cur + 1) % TREE_VERSIONS;
		ver[cur] = next; /* the oldest version is dropped */
		if ((i & 63) == 0) {
			uint64_t probe = bench_mix(0, (r >> 32) % TREE_KEYS);
			const struct tnode *f = tree_find(next, probe);
			h = bench_mix(h, f ? strlen(f->val) + (unsigned char)f->val[1] : 0);
		}
	}
	*nodes = 0;
	return bench_mix(h, tree_sum(ver[cur], nodes));
}

int main(int argc, char **argv)
{
	long scale = bench_scale(argc, argv);
	const char *mode = argc > 2 ? argv[2] : "list";
	int threads = argc > 3 ? atoi(argv[3]) : 2;
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "bad thread count\n");
		return 2;
	}

	if (strcmp(mode, "tree") == 0) {
		uint64_t nodes;
		uint64_t h = tree_run(scale, &nodes);
		printf("leaky tree inserts=%ld nodes=%llu checksum=%016llx\n",
		       scale * TREE_INSERTS_PER_PCT, (unsigned long long)nodes,
		       (unsigned long long)h);
		return 0;
	}
	if (strcmp(mode, "list") == 0)
		threads = 1;
	else if (strcmp(mode, "mt") != 0) {
		fprintf(stderr, "leaky: unknown mode %s (list, tree, mt)\n", mode);
		return 2;
	}
	struct lworker ws[64];
	memset(ws, 0, sizeof ws);
	long rounds = scale * LIST_ROUNDS_PER_PCT;
	for (int i = 0; i < threads; i++) {
		ws[i].id = (uint64_t)i;
		ws[i].rounds = rounds / threads;
		ws[i].free_odd = strcmp(mode, "mt") == 0;
		if (threads == 1)
			list_worker(&ws[i]);
		else if (pthread_create(&ws[i].tid, NULL, list_worker, &ws[i]))
			return 1;
	}
	uint64_t sum = 0;
	for (int i = 0; i < threads; i++) {
		if (threads > 1)
			pthread_join(ws[i].tid, NULL);
		sum += ws[i].sum;
	}
	printf("leaky %s threads=%d lists=%ld checksum=%016llx\n", mode, threads,
	       rounds / threads * threads, (unsigned long long)sum);
	return 0;
}
