/*
 * Two allocation sites that leak at known rates, for the heap profile
 * (tests/profile.sh):
 *   leaksites ROUNDS [fork | wait PATH]
 * Each round, leak_three() leaks three 256-byte blocks and leak_one() one;
 * keep_and_free() allocates a block that is freed, and keep_forever() one
 * that stays reachable every 16th round.  At the end it prints the bytes
 * each site leaked: "three BYTES" and "one BYTES".  With fork, a child
 * forked half-way does the rest (its own profile, "%p" in the path).
 * With wait, it goes on leaking after its rounds until PATH exists (at
 * most 20 s) and says whether it did: a profile written while it runs.
 * The sites are static and never inlined: their names come from the
 * executable's .symtab, which dladdr would not read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 256

static void *volatile sink;
static void **kept;
static size_t nkept;

static __attribute__((noinline)) void leak_three(void) {
  for (int i = 0; i < 3; i++) {
    sink = malloc(BLOCK);
    memset(sink, i, BLOCK);
  }
}

static __attribute__((noinline)) void leak_one(void) {
  sink = malloc(BLOCK);
  memset(sink, 1, BLOCK);
}

static __attribute__((noinline)) void keep_and_free(void) {
  void *p = malloc(BLOCK);
  memset(p, 2, BLOCK);
  sink = p;
  free(p);
}

static __attribute__((noinline)) void keep_forever(void) { kept[nkept++] = malloc(BLOCK); }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: leaksites ROUNDS [FORK]\n");
    return 2;
  }
  long rounds = atol(argv[1]);
  int do_fork = argc > 2 && strcmp(argv[2], "fork") == 0;
  const char *wait_for = argc > 3 && strcmp(argv[2], "wait") == 0 ? argv[3] : NULL;
  kept = calloc((size_t)rounds / 16 + 1, sizeof *kept);
  for (long r = 0; r < rounds; r++) {
    if (do_fork && r == rounds / 2) {
      pid_t pid = fork();
      if (pid > 0) {
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      }
    }
    leak_three();
    leak_one();
    keep_and_free();
    if (r % 16 == 0) keep_forever();
  }
  if (wait_for) {
    struct stat st;
    time_t until = time(NULL) + 20;
    while (stat(wait_for, &st) != 0 && time(NULL) < until) leak_one();
    printf("written while running: %s\n", stat(wait_for, &st) == 0 ? "yes" : "no");
  }
  sink = NULL;
  printf("three %ld\none %ld\nkept %zu\n", 3 * BLOCK * rounds, BLOCK * rounds, nkept * BLOCK);
  return 0;
}
