/* Pointers in memory the program made read-only (issue 8, case 4).
 *
 * A private mapping that was ever written can hold pointers whether or
 * not it is writable now: tables made read-only after initialisation,
 * RELRO-like data, copy-on-write pages of a file.  Roots are every private
 * mapping that is writable or was written.
 *
 *   readonly anon
 *       A 64 KiB private anonymous mapping gets the only pointers to 500
 *       objects, then mprotect(PROT_READ).
 *   readonly file
 *       A 64 KiB temporary file (in TMPDIR, unlinked at once) is mapped
 *       MAP_PRIVATE read-write; the only pointers to 500 objects are
 *       written into it (its pages become private copies), then
 *       mprotect(PROT_READ), as ld.so does to RELRO.
 *
 * Then three cycles run 150 ms apart (past the default reclaim delay) and
 * every object is checked.  Fails today: roots.c scans only writable
 * mappings, so all 500 objects are reclaimed (zeroed).
 *
 * Output (stdout) is the same plain and preloaded.
 *
 * Usage: readonly anon|file */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roottest.h"

#define SIZE ((size_t)64 << 10)
#define OBJECTS 500
#define STRIDE 16 /* words: 500 pointers over 62.5 KiB */

static void **map_anon(void)
{
	void **p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

static void **map_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/readonly.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	CHECK(unlink(path) == 0, "unlink: %s", strerror(errno));
	CHECK(ftruncate(fd, SIZE) == 0, "ftruncate: %s", strerror(errno));
	void **p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	close(fd);
	return p;
}

int main(int argc, char **argv)
{
	void **(*map)(void) = NULL;
	if (argc == 2 && strcmp(argv[1], "anon") == 0)
		map = map_anon;
	else if (argc == 2 && strcmp(argv[1], "file") == 0)
		map = map_file;
	if (map == NULL) {
		fprintf(stderr, "usage: readonly anon|file\n");
		return 2;
	}
	tu_gc_init();
	void **table = map();
	rt_fill_table(table, STRIDE, OBJECTS, 4);
	CHECK(mprotect(table, SIZE, PROT_READ) == 0, "mprotect: %s", strerror(errno));
	tu_gc_cycles(3, 150);
	const char *where = map == map_anon ? "an anonymous mapping made read-only"
					    : "a written private file mapping made read-only";
	rt_verify(table, STRIDE, OBJECTS, 4, where);
	printf("readonly %s: %d objects intact\n", argv[1], OBJECTS);
	return 0;
}
