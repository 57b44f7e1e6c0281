/* A child of fork must read its own page tables (issue 8, case 2).
 *
 * pacegc skips the pages of a large range (>= 1 MiB) that
 * /proc/self/pagemap says were never touched, and it opens pagemap once:
 * the descriptor survives fork and, in the child, still describes the
 * parent's address space (/proc/self is resolved at open).  A pre-fork
 * server is the usual shape: the parent runs (and collects) before it
 * forks, each worker builds its own tables afterwards.
 *
 * The parent allocates, runs a cycle (the collector opens pagemap), then
 * forks.  The child builds two 4 MiB tables, each holding the only
 * pointers to 5000 objects, one every 100 words so that every page holds
 * some:
 *   - a malloc'd table (a large heap object, reached from a global): today
 *     the only large ranges scanned page by page are heap objects;
 *   - a fresh mmap'd table (private anonymous, not MAP_NORESERVE: it merges
 *     with nothing of pacegc's): a root range, today cut into 256 KiB
 *     chunks and read in full, but exposed the same way as soon as roots
 *     skip untouched pages (untouched.c, case 11).
 * It runs three cycles 150 ms apart (past the default reclaim delay) and
 * checks every object.  The parent waits and reports the child's status;
 * it exits 1 if the child failed.  Fails today, on the malloc'd table: the
 * child's cycles read the parent's pagemap, where the table's pages were
 * never touched, skip all of them, and reclaim (zero) all 5000 objects.
 *
 * Output (stdout) is the same plain and preloaded; the child's FAIL line
 * says how many objects were lost.
 *
 * Usage: forkpagemap */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "roottest.h"

#define TABLE ((size_t)4 << 20)
#define OBJECTS 5000
#define STRIDE 100 /* words: 5000 pointers over 3.8 MiB */

static void **heap_table; /* the malloc'd table's only reference */

static int child(void)
{
	heap_table = malloc(TABLE);
	CHECK(heap_table != NULL, "malloc(%zu)", TABLE);
	memset(heap_table, 0, TABLE);
	rt_fill_table(heap_table, STRIDE, OBJECTS, 7);
	void **mapped = mmap(NULL, TABLE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mapped != MAP_FAILED, "mmap: %s", strerror(errno));
	rt_fill_table(mapped, STRIDE, OBJECTS, 8);
	tu_gc_cycles(3, 150);
	size_t lost = rt_check(heap_table, STRIDE, OBJECTS, 7,
			       "a 4 MiB malloc'd table a child of fork wrote after the fork");
	lost += rt_check(mapped, STRIDE, OBJECTS, 8,
			 "a 4 MiB table a child of fork mapped and wrote after the fork");
	if (lost)
		_exit(1);
	printf("child: 2 x %d objects intact\n", OBJECTS);
	fflush(stdout);
	return 0;
}

int main(void)
{
	tu_gc_init();
	/* Some life before the fork, and a cycle: pagemap is open now. */
	void *before[100];
	rt_fill_table(before, 1, 100, 6);
	tu_gc();
	fflush(stdout);

	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(child());

	int status;
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the child %s %d", WIFEXITED(status) ? "exited with status" : "was killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	rt_verify(before, 1, 100, 6, "the parent's stack");
	printf("forkpagemap: parent and child intact\n");
	return 0;
}
