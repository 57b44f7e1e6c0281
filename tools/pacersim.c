/*
 * pacersim: replays a TestGcPacer scenario (src/pacer_sim.c, the Go
 * runtime's idealised harness) through src/pacer.c, prints one line per
 * cycle and optionally draws heap, goal, trigger and GC CPU to an SVG.
 *
 *   pacersim --list
 *   pacersim --scenario NAME [--pacer go117|go118|go119|go120|tip] [--svg FILE]
 *
 * go118 (the default) is the redesigned pacer with the newest smoothing
 * (Go 1.21+, same as tip); go119 and go120 keep those releases' cons/mark
 * smoothing and headroom; go117 is the pacer before the redesign.
 *
 * The harness has no CPU limiter: "GC CPU" is the collector's share of a
 * whole cycle (mutator phase plus marking, time derived from the rates),
 * and "limiter" says whether Go's limiter, fed those times, would be on at
 * the end of the mark phase.  It does not act on the simulation.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "pacer_sim.h"

#define MAX_CYCLES 200
#define MIB (1024.0 * 1024.0)

typedef struct row {
  sim_result_t r;
  double cycle_share;        /* GC CPU over mutator phase + marking */
  bool limiting;
} row_t;

static const struct { const char *name; pacer_version_t v; } versions[] = {
  {"go118", PACER_TIP}, {"tip", PACER_TIP}, {"go121", PACER_TIP},
  {"go120", PACER_GO120}, {"go119", PACER_GO119}, {"go117", PACER_GO117},
};

static void usage(FILE *f) {
  fprintf(f, "usage: pacersim --list\n"
             "       pacersim --scenario NAME [--pacer go117|go118|go119|go120|tip]"
             " [--svg FILE]\n");
}

/* Feeds the limiter what each cycle's phases would cost on sc->cores. */
static void model_limiter(const sim_scenario_t *sc, row_t *rows, int n) {
  pacer_limiter_t l = {0};
  int64_t t = 0;
  pacer_limiter_reset_capacity(&l, t, sc->cores);
  for (int i = 0; i < n; i++) {
    sim_result_t *r = &rows[i].r;
    /* bytes from M to the trigger at alloc KiB per CPU-ms on every core */
    double rate = r->alloc_rate * 1024 / 1e6 * sc->cores;     /* B per ns */
    int64_t mutator = (int64_t)((double)(r->trigger - r->heap_live) / rate);
    pacer_limiter_update(&l, t += mutator);
    pacer_limiter_start_transition(&l, true, t);
    pacer_limiter_finish_transition(&l, t);
    pacer_limiter_add_assist(&l, r->assist_ns);
    pacer_limiter_update(&l, t += r->mark_ns);
    rows[i].limiting = pacer_limiter_limiting(&l);
    pacer_limiter_start_transition(&l, false, t);
    pacer_limiter_finish_transition(&l, t);
    l.numgc++;
    double total = (double)(mutator + r->mark_ns);
    rows[i].cycle_share = total > 0 ? r->util * (double)r->mark_ns / total : 0;
  }
}

static const char *gogc_str(const sim_scenario_t *sc) {
  static char buf[16];
  if (sc->gogc < 0)
    return "off";
  snprintf(buf, sizeof buf, "%d", sc->gogc);
  return buf;
}

static void print_table(const sim_scenario_t *sc, const char *pacer, const row_t *rows,
                        int n) {
  printf("# %s (%s), pacer %s, GOGC %s, limit %s\n", sc->name, sc->about, pacer,
         gogc_str(sc), sc->mem_limit == PACER_NO_LIMIT ? "off" : "512 MiB");
  printf("%5s %7s %12s %12s %12s %12s %7s %7s %s\n", "cycle", "util", "marked MiB",
         "trigger MiB", "peak MiB", "goal MiB", "ratio", "GC CPU", "limiter");
  for (int i = 0; i < n; i++) {
    const sim_result_t *r = &rows[i].r;
    printf("%5d %6.1f%% %12.3f %12.3f %12.3f %12.3f %7.3f %6.1f%% %s\n", r->cycle,
           r->util * 100, r->heap_live / MIB, r->trigger / MIB, r->peak / MIB,
           r->goal / MIB, sim_goal_ratio(r), rows[i].cycle_share * 100,
           rows[i].limiting ? "on" : "-");
  }
}

/* ---- SVG ------------------------------------------------------------- */

#define W 960
#define H 624
#define LEFT 80
#define RIGHT 170               /* legend column */
#define TOP 56
#define HEAP_H 330
#define GAP 54
#define CPU_H 140

/* A round tick step giving about `want` ticks over [0, max]. */
static double nice_step(double max, int want) {
  double raw = max / want, mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct plot {
  FILE *f;
  int n;
  double xmax;
} plot_t;

static double px(const plot_t *p, double cycle) {
  return LEFT + (cycle - 1) / (p->xmax > 1 ? p->xmax - 1 : 1) * (W - LEFT - RIGHT);
}

static void polyline(const plot_t *p, const row_t *rows, double (*get)(const row_t *),
                     double ymax, int y0, int h, const char *style) {
  fprintf(p->f, "<polyline fill=\"none\" clip-path=\"url(#%s)\" %s points=\"",
          y0 == TOP ? "heap" : "cpu", style);
  for (int i = 0; i < p->n; i++) {
    double v = get(&rows[i]);
    v = v > ymax ? ymax : v;
    fprintf(p->f, "%.1f,%.1f ", px(p, rows[i].r.cycle), y0 + h - v / ymax * h);
  }
  fprintf(p->f, "\"/>\n");
}

static double get_goal(const row_t *w) { return w->r.goal / MIB; }
static double get_peak(const row_t *w) { return w->r.peak / MIB; }
static double get_trigger(const row_t *w) { return w->r.trigger / MIB; }
static double get_marked(const row_t *w) { return w->r.heap_live / MIB; }
static double get_share(const row_t *w) { return w->cycle_share * 100; }

static void axes(const plot_t *p, int y0, int h, double ymax, double step,
                 const char *unit) {
  FILE *f = p->f;
  for (double y = 0; y <= ymax * 1.0001; y += step) {
    double yy = y0 + h - y / ymax * h;
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
            LEFT, W - RIGHT, yy, yy);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"t\">%g</text>\n",
            LEFT - 6, yy + 4, y);
  }
  fprintf(f, "<text x=\"16\" y=\"%d\" class=\"t\" transform=\"rotate(-90 16 %d)\" "
             "text-anchor=\"middle\">%s</text>\n", y0 + h / 2, y0 + h / 2, unit);
  int xs = p->xmax > 60 ? 10 : 5;
  for (int c = 1; c <= p->xmax; c++) {
    if (c != 1 && c % xs)
      continue;
    fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n",
            px(p, c), px(p, c), y0, y0 + h);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"t\">%d</text>\n",
            px(p, c), y0 + h + 16, c);
  }
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
             "stroke=\"#888\"/>\n", LEFT, y0, W - LEFT - RIGHT, h);
}

static void legend(FILE *f, int y, const char *style, const char *label, bool box) {
  int x = W - RIGHT + 14;
  if (box)
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"22\" height=\"10\" %s/>\n", x, y - 9, style);
  else
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" %s/>\n", x, x + 22, y - 4,
            y - 4, style);
  fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"l\">%s</text>\n", x + 28, y, label);
}

static int write_svg(const char *path, const sim_scenario_t *sc, const char *pacer,
                     const row_t *rows, int n) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "pacersim: %s: %s\n", path, strerror(errno));
    return -1;
  }
  plot_t p = {.f = f, .n = n, .xmax = n};
  bool limited = sc->mem_limit != PACER_NO_LIMIT;
  double limit = limited ? sc->mem_limit / MIB : 0;
  double ymax = limit;
  for (int i = 0; i < n; i++) {
    double v = fmax(get_peak(&rows[i]), get_goal(&rows[i]));
    if (v < 1e12)               /* GOGC=off goals are "infinite": skip */
      ymax = fmax(ymax, v);
  }
  ymax *= 1.05;
  double step = nice_step(ymax, 6);
  ymax = ceil(ymax / step) * step;
  int cpu_y = TOP + HEAP_H + GAP;

  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n", W, H, W, H);
  fprintf(f, "<style>.t{font-size:12px;fill:#444}.l{font-size:13px;fill:#222}"
             ".h{font-size:17px;font-weight:bold}</style>\n"
             "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<defs><clipPath id=\"heap\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
             "height=\"%d\"/></clipPath><clipPath id=\"cpu\"><rect x=\"%d\" y=\"%d\" "
             "width=\"%d\" height=\"%d\"/></clipPath></defs>\n", LEFT, TOP - 2,
          W - LEFT - RIGHT, HEAP_H + 2, LEFT, cpu_y - 2, W - LEFT - RIGHT, CPU_H + 2);
  fprintf(f, "<text x=\"%d\" y=\"24\" class=\"h\">%s &#8212; pacer %s</text>\n", LEFT,
          sc->name, pacer);
  fprintf(f, "<text x=\"%d\" y=\"44\" class=\"t\">%s; GOGC %s%s; %d cores</text>\n",
          LEFT, sc->about, gogc_str(sc), limited ? ", limit 512 MiB" : "", sc->cores);

  /* limiter-on cycles, shaded in both panels */
  bool any_limiting = false;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 2 && rows[i].limiting; k++) {
      double w = (W - LEFT - RIGHT) / (p.xmax > 1 ? p.xmax - 1 : 1);
      fprintf(f, "<rect clip-path=\"url(#%s)\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                 "height=\"%d\" fill=\"#f6dada\"/>\n", k ? "cpu" : "heap",
              px(&p, rows[i].r.cycle) - w / 2, k ? cpu_y : TOP, w, k ? CPU_H : HEAP_H);
      any_limiting = true;
    }

  axes(&p, TOP, HEAP_H, ymax, step, "MiB");
  if (limited) {
    double y = TOP + HEAP_H - limit / ymax * HEAP_H;
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
               "stroke-dasharray=\"2 3\"/>\n", LEFT, W - RIGHT, y, y);
  }
  polyline(&p, rows, get_marked, ymax, TOP, HEAP_H, "stroke=\"#2a9d3a\" stroke-width=\"2\"");
  polyline(&p, rows, get_trigger, ymax, TOP, HEAP_H, "stroke=\"#1f5fbf\" stroke-width=\"2\"");
  polyline(&p, rows, get_peak, ymax, TOP, HEAP_H, "stroke=\"#c8202a\" stroke-width=\"1.5\"");
  polyline(&p, rows, get_goal, ymax, TOP, HEAP_H,
           "stroke=\"#e08a00\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\"");

  /* GC CPU: bars while marking, a line over whole cycles */
  axes(&p, cpu_y, CPU_H, 100, 25, "GC CPU %");
  double bw = fmax(1, (W - LEFT - RIGHT) / (p.xmax > 1 ? p.xmax - 1 : 1) * 0.6);
  for (int i = 0; i < n; i++) {
    double u = rows[i].r.util * 100, h = u / 100 * CPU_H;
    fprintf(f, "<rect clip-path=\"url(#cpu)\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
               "height=\"%.1f\" fill=\"#9db8e0\"/>\n", px(&p, rows[i].r.cycle) - bw / 2,
            cpu_y + CPU_H - h, bw, h);
  }
  double goal_util = strcmp(pacer, "go117") == 0 ? 30 : 25;
  for (int k = 0; k < 2; k++) {
    double u = k ? 50 : goal_util, y = cpu_y + CPU_H - u / 100 * CPU_H;
    fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-dasharray=\"5 4\"/>\n", LEFT, W - RIGHT, y, y,
            k ? "#b02020" : "#333");
  }
  polyline(&p, rows, get_share, 100, cpu_y, CPU_H, "stroke=\"#6a3d9a\" stroke-width=\"2\"");
  fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"t\">GC cycle"
             "</text>\n", (LEFT + W - RIGHT) / 2.0, H - 8);

  int y = TOP + 14;
  legend(f, y, "stroke=\"#c8202a\" stroke-width=\"1.5\"", "peak heap", false);
  legend(f, y += 20, "stroke=\"#e08a00\" stroke-width=\"2.5\" stroke-dasharray=\"7 4\"",
         "goal", false);
  legend(f, y += 20, "stroke=\"#1f5fbf\" stroke-width=\"2\"", "trigger", false);
  legend(f, y += 20, "stroke=\"#2a9d3a\" stroke-width=\"2\"", "live (marked)", false);
  if (limited)
    legend(f, y += 20, "stroke=\"#555\" stroke-dasharray=\"2 3\"", "memory limit", false);
  y = cpu_y + 14;
  legend(f, y, "fill=\"#9db8e0\"", "while marking", true);
  legend(f, y += 20, "stroke=\"#6a3d9a\" stroke-width=\"2\"", "whole cycle", false);
  legend(f, y += 20, "stroke=\"#333\" stroke-dasharray=\"5 4\"",
         goal_util == 30 ? "30% target" : "25% target", false);
  legend(f, y += 20, "stroke=\"#b02020\" stroke-dasharray=\"5 4\"", "limiter cap", false);
  if (any_limiting)
    legend(f, y += 20, "fill=\"#f6dada\"", "limiter on", true);
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "pacersim: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *name = NULL, *svg = NULL, *pacer = "go118";
  bool list = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--list") == 0) {
      list = true;
    } else if (strcmp(a, "--scenario") == 0 && has_value) {
      name = argv[++i];
    } else if (strcmp(a, "--svg") == 0 && has_value) {
      svg = argv[++i];
    } else if (strcmp(a, "--pacer") == 0 && has_value) {
      pacer = argv[++i];
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "pacersim: unknown or incomplete argument: %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (list) {
    for (int i = 0; i < sim_scenario_count; i++)
      printf("%-32s %s\n", sim_scenarios[i].name, sim_scenarios[i].about);
    return 0;
  }
  int vi = -1;
  for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
    if (strcmp(pacer, versions[i].name) == 0)
      vi = (int)i;
  if (vi < 0) {
    fprintf(stderr, "pacersim: unknown pacer %s (go117, go118, go119, go120, tip)\n", pacer);
    return 2;
  }
  const sim_scenario_t *sc = name ? sim_find(name) : NULL;
  if (!sc) {
    fprintf(stderr, name ? "pacersim: no scenario %s (see --list)\n"
                         : "pacersim: --scenario NAME is required (see --list)\n", name);
    return 2;
  }
  static sim_result_t results[MAX_CYCLES];
  static row_t rows[MAX_CYCLES];
  int n = sim_run(sc, versions[vi].v, results, MAX_CYCLES, NULL, NULL);
  if (n == 0) {
    printf("# %s, pacer %s: GOGC=off and no memory limit in this pacer: "
           "no cycle ever starts\n", sc->name, pacer);
    return 0;
  }
  for (int i = 0; i < n; i++)
    rows[i].r = results[i];
  model_limiter(sc, rows, n);
  print_table(sc, pacer, rows, n);
  char why[256];
  int failed = 0;
  for (int i = 1; i <= n; i++)
    if (!sim_check_cycle(sc, versions[vi].v, results, i, why, sizeof why) && !failed++)
      printf("# TestGcPacer check failed: %s\n", why);
  if (!failed)
    printf("# TestGcPacer checks for this scenario and pacer: all %d cycles pass\n", n);
  if (svg && write_svg(svg, sc, pacer, rows, n) != 0)
    return 1;
  return 0;
}
