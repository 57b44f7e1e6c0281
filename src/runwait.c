/* Run-queue wait of the process's threads: see runwait.h. */
#include "runwait.h"

#include <stdlib.h>

#include "blocking.h"
#include "os.h"

#define RUNWAIT_PERIOD 100000000L   /* ns: at most one sample per period */
#define RUNWAIT_COST_SHARE 100      /* the next sample waits 100x this one's cost */
#define RUNWAIT_MIN_CPU 1000000L    /* ns of CPU a sample needs to give a ratio */

static struct {
  int64_t next;       /* no sample before */
  double ratio;       /* the last sample's */
} RW;

typedef struct sample {
  int tasks_fd;
  uint64_t cpu_ns, wait_ns;   /* summed over the threads read */
} sample_t;

/* "cpu wait slices" (schedstat) into its first two numbers. */
static bool parse_schedstat(const char *s, uint64_t *cpu_ns, uint64_t *wait_ns) {
  char *end;
  unsigned long long cpu = strtoull(s, &end, 10);
  if (end == s || *end != ' ') return false;
  const char *w = end + 1;
  unsigned long long wait = strtoull(w, &end, 10);
  if (end == w) return false;
  *cpu_ns = cpu;
  *wait_ns = wait;
  return true;
}

static void read_thread(void *arg, blocking_rec_t *r) {
  sample_t *s = arg;
  runwait_seen_t *seen = &r->seen;
  pid_t tid = atomic_load_explicit(&r->tid, memory_order_relaxed);
  uint32_t calls = atomic_load_explicit(&r->calls, memory_order_relaxed);
  bool inside = atomic_load_explicit(&r->inside, memory_order_relaxed) != 0;
  if (seen->tid == tid && seen->inside && inside && seen->calls == calls) return;
  char buf[96];
  uint64_t cpu, wait;
  if (!os_read_task_file(s->tasks_fd, tid, "schedstat", buf, sizeof buf) ||
      !parse_schedstat(buf, &cpu, &wait))
    return;                                 /* exited, or no schedstat */
  if (seen->tid != tid) *seen = (runwait_seen_t){ .tid = tid };
  if (cpu >= seen->cpu_ns && wait >= seen->wait_ns) {
    s->cpu_ns += cpu - seen->cpu_ns;
    s->wait_ns += wait - seen->wait_ns;
  }
  *seen = (runwait_seen_t){ .tid = tid, .calls = calls, .inside = inside,
                            .cpu_ns = cpu, .wait_ns = wait };
}

double runwait_ratio(int64_t now) {
  if (now < RW.next) return RW.ratio;
  sample_t s = { .tasks_fd = os_proc_fd(OS_PROC_TASK) };
  if (s.tasks_fd >= 0) blocking_each_record(read_thread, &s);
  int64_t done = (int64_t)os_monotonic_ns(), cost = done - now;
  RW.next = done + (cost * RUNWAIT_COST_SHARE > RUNWAIT_PERIOD ? cost * RUNWAIT_COST_SHARE
                                                               : RUNWAIT_PERIOD);
  if (s.cpu_ns >= (uint64_t)RUNWAIT_MIN_CPU) RW.ratio = (double)s.wait_ns / (double)s.cpu_ns;
  return RW.ratio;
}

double runwait_last(void) { return RW.ratio; }
