/* glibc's introspection calls: see stats.h. */
#include "stats.h"

#include <errno.h>
#include <string.h>

#include "gc.h"
#include "heap.h"
#include "scavenge.h"
#include "pacegc.h"

/* glibc's fields, in pacegc's terms: one "arena"; arena and hblkhd are the
 * resident bytes pacegc's jemalloc holds, uordblks the bytes in live
 * allocations, fordblks the rest. */
struct mallinfo2 stats_mallinfo2(void) {
  heap_stats_t s;
  heap_read_stats(&s);
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = s.resident;
  mi.ordblks = 1;
  mi.uordblks = s.allocated;
  mi.fordblks = s.resident > s.allocated ? s.resident - s.allocated : 0;
  mi.keepcost = 0;
  return mi;
}

/* The int version truncates, as glibc's does. */
struct mallinfo stats_mallinfo(void) {
  struct mallinfo2 m2 = stats_mallinfo2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = (int)m2.arena;
  mi.ordblks = (int)m2.ordblks;
  mi.uordblks = (int)m2.uordblks;
  mi.fordblks = (int)m2.fordblks;
  return mi;
}

int stats_malloc_trim(size_t pad) {
  (void)pad;
  return scavenge_force() > 0 ? 1 : 0;
}

/* Every glibc tunable is accepted and has no effect: jemalloc's arenas and
 * pacegc's pacing replace what they tune. */
int stats_mallopt(int param, int value) {
  (void)param;
  (void)value;
  return 1;
}

void stats_malloc_stats(void) {
  struct mallinfo2 mi = stats_mallinfo2();
  fprintf(stderr, "Arena 0:\n");
  fprintf(stderr, "system bytes     = %10u\n", (unsigned)mi.arena);
  fprintf(stderr, "in use bytes     = %10u\n", (unsigned)mi.uordblks);
  fprintf(stderr, "Total (incl. mmap):\n");
  fprintf(stderr, "system bytes     = %10u\n", (unsigned)mi.arena);
  fprintf(stderr, "in use bytes     = %10u\n", (unsigned)mi.uordblks);
  fprintf(stderr, "max mmap regions = %10u\n", 0u);
  fprintf(stderr, "max mmap bytes   = %10lu\n", 0ul);
}

int stats_malloc_info(int options, FILE *fp) {
  if (options != 0) {
    errno = EINVAL;
    return -1;
  }
  heap_stats_t s;
  heap_read_stats(&s);
  fprintf(fp, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
  fprintf(fp, "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n",
          s.resident > s.allocated ? s.resident - s.allocated : 0);
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", s.resident);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", s.mapped);
  fprintf(fp, "</heap>\n");
  fprintf(fp, "<system type=\"current\" size=\"%zu\"/>\n", s.resident);
  fprintf(fp, "<aspace type=\"total\" size=\"%zu\"/>\n", s.mapped);
  fprintf(fp, "</malloc>\n");
  return 0;
}

void stats_fill_heap(pacegc_stats_t *out, const heap_stats_t *s) {
  memset(out, 0, sizeof *out);
  out->heap_allocated = s->allocated;
  out->heap_resident = s->resident;
  out->heap_mapped = s->mapped;
  out->memory_held = scavenge_held(s);
  out->heap_released = scavenge_released_total();
}

EXPORT void pacegc_read_stats(pacegc_stats_t *out) {
  heap_stats_t s;
  heap_read_stats(&s);
  stats_fill_heap(out, &s);
  gc_read_stats(out);
}
