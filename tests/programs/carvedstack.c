/* A thread stack carved out of a larger mapping that also holds data
 * (issue 8, "if you have time" case 12).
 *
 * Programs with their own memory management (coroutine and fiber
 * libraries, runtimes, allocators handing out stacks) map one region and
 * cut it up: here the region is 8 MiB, private anonymous read-write (one
 * VMA, one /proc/self/maps line); its bottom 4 MiB is an arena holding
 * the only pointers to 2000 objects (one every 256 words, so every page
 * holds some), its top 4 MiB the stack of a thread created with
 * pthread_attr_setstack.  The thread blocks in read() while the main
 * thread runs three cycles 150 ms apart (past the default reclaim delay);
 * then every object is checked.  Fails today: roots.c takes a mapping
 * holding a stopped thread's stack pointer for that thread's stack and
 * scans only from the stack pointer up, so the arena below is not
 * scanned and all 2000 objects are reclaimed (zeroed).  A thread's live
 * stack is [sp, top of the stack the thread was given), not "the rest of
 * the mapping".
 *
 * Output (stdout) is the same plain and preloaded.
 *
 * Usage: carvedstack */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "roottest.h"

#define REGION ((size_t)8 << 20)
#define ARENA ((size_t)4 << 20)
#define OBJECTS 2000
#define STRIDE 256 /* words: 2000 pointers over 3.9 MiB */

static int wake[2];
static _Atomic int started;

static void *thread_main(void *arg)
{
	(void)arg;
	started = 1;
	char c;
	while (read(wake[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

int main(void)
{
	tu_gc_init();
	char *region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(region != MAP_FAILED, "mmap: %s", strerror(errno));
	void **arena = (void **)region;
	rt_fill_table(arena, STRIDE, OBJECTS, 12);

	CHECK(pipe(wake) == 0, "pipe: %s", strerror(errno));
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	CHECK(pthread_attr_setstack(&attr, region + ARENA, REGION - ARENA) == 0, "setstack");
	pthread_t t;
	int err = pthread_create(&t, &attr, thread_main, NULL);
	CHECK(err == 0, "pthread_create: %s", strerror(err));
	pthread_attr_destroy(&attr);
	while (!started)
		tu_sleep_ms(1);
	tu_sleep_ms(10); /* into read() */

	tu_gc_cycles(3, 150);
	rt_verify(arena, STRIDE, OBJECTS, 12,
		  "the bottom half of a mapping whose top half is a thread's stack");

	CHECK(write(wake[1], "x", 1) == 1, "write: %s", strerror(errno));
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	printf("carvedstack: %d objects intact\n", OBJECTS);
	return 0;
}
