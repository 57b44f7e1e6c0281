/* Compiled by gcc in the gcc comparison (gcc.sh), then run.  Has one
 * deliberate warning so the compiler's diagnostics are compared too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	char key[24];
	unsigned value;
	struct entry *next;
};

#define NBUCKET 4099

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a;
	const struct entry *y = *(struct entry *const *)b;
	if (x->value != y->value)
		return x->value < y->value ? 1 : -1;
	return strcmp(x->key, y->key);
}

int main(void)
{
	int unused_on_purpose; /* -Wunused-variable */
	static struct entry *table[NBUCKET];
	unsigned seed = 12345, distinct = 0;
	for (int i = 0; i < 300000; i++) {
		seed = seed * 1103515245u + 12345u;
		char key[24];
		snprintf(key, sizeof key, "w%u", (seed >> 16) % 20000);
		unsigned b = hash(key) % NBUCKET;
		struct entry *e = table[b];
		while (e && strcmp(e->key, key) != 0)
			e = e->next;
		if (!e) {
			e = calloc(1, sizeof *e);
			if (!e)
				return 1;
			strcpy(e->key, key);
			e->next = table[b];
			table[b] = e;
			distinct++;
		}
		e->value++;
	}
	struct entry **all = malloc(distinct * sizeof *all);
	unsigned n = 0;
	for (int b = 0; b < NBUCKET; b++)
		for (struct entry *e = table[b]; e; e = e->next)
			all[n++] = e;
	qsort(all, n, sizeof *all, cmp_entry);
	printf("distinct %u\n", distinct);
	for (int i = 0; i < 5; i++)
		printf("%s %u\n", all[i]->key, all[i]->value);
	for (int b = 0; b < NBUCKET; b++)
		while (table[b]) {
			struct entry *e = table[b];
			table[b] = e->next;
			free(e);
		}
	free(all);
	return 0;
}
