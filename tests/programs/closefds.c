/* A program that closes every descriptor it did not open itself (issue
 * 8, case 3), as daemons and sandboxed children do.
 *
 * pacegc keeps /proc/self/pagemap open after its first cycle, to skip the
 * pages of large root ranges (>= 1 MiB) that were never touched.  The
 * program runs a cycle, then calls close_range(3, ~0U, 0) and opens
 * /dev/zero eight times: the lowest free numbers, so one of them is the
 * number pacegc's pagemap descriptor had.  It then builds two 4 MiB
 * tables, each holding the only pointers to 2000 objects (one every 256
 * words, so every page holds some):
 *   - a malloc'd table (a large heap object, reached from a global): today
 *     the only large ranges scanned page by page are heap objects;
 *   - a fresh mmap'd table (private anonymous, not MAP_NORESERVE: it merges
 *     with nothing of pacegc's): a root range, today cut into 256 KiB
 *     chunks and read in full, but exposed the same way as soon as roots
 *     skip untouched pages (untouched.c, case 11).
 * It runs three cycles 150 ms apart (past the default reclaim delay) and
 * checks every object.  Fails today, on the malloc'd table: pacegc reads
 * /dev/zero as its pagemap, where zeros mean "never touched", skips the
 * whole table and reclaims (zeroes) all 2000 objects.  A descriptor
 * pacegc keeps must be checked before use (fstat identity) or reopened.
 *
 * Output (stdout) is the same plain and preloaded.
 *
 * Usage: closefds */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "roottest.h"

#define TABLE ((size_t)4 << 20)
#define OBJECTS 2000
#define STRIDE 256 /* words: 2000 pointers over 3.9 MiB */
#define REOPEN 8

static void **heap_table; /* the malloc'd table's only reference */

int main(void)
{
	tu_gc_init();
	tu_gc(); /* the collector opens what it keeps open */

	CHECK(syscall(SYS_close_range, 3u, ~0u, 0u) == 0, "close_range: %s", strerror(errno));
	int fds[REOPEN];
	for (int i = 0; i < REOPEN; i++) {
		fds[i] = open("/dev/zero", O_RDONLY);
		CHECK(fds[i] >= 0, "open /dev/zero: %s", strerror(errno));
	}

	heap_table = malloc(TABLE);
	CHECK(heap_table != NULL, "malloc(%zu)", TABLE);
	memset(heap_table, 0, TABLE);
	rt_fill_table(heap_table, STRIDE, OBJECTS, 3);
	void **mapped = mmap(NULL, TABLE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mapped != MAP_FAILED, "mmap: %s", strerror(errno));
	rt_fill_table(mapped, STRIDE, OBJECTS, 5);
	tu_gc_cycles(3, 150);
	size_t lost = rt_check(heap_table, STRIDE, OBJECTS, 3,
			       "a 4 MiB malloc'd table, after close_range and reopening /dev/zero");
	lost += rt_check(mapped, STRIDE, OBJECTS, 5,
			 "a 4 MiB mmap'd table, after close_range and reopening /dev/zero");
	if (lost)
		_exit(1);

	char c;
	CHECK(read(fds[0], &c, 1) == 1 && c == 0, "/dev/zero reads as zero");
	for (int i = 0; i < REOPEN; i++)
		close(fds[i]);
	printf("closefds: 2 x %d objects intact\n", OBJECTS);
	return 0;
}
