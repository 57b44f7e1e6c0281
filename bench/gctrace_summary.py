#!/usr/bin/env python3
"""Summarise Go-format gctrace logs (Go's and pacegc's) as a markdown table.

    gctrace_summary.py MANIFEST

Used by `bench/run.sh --suite go`.  MANIFEST has one line per run, fields
separated by tabs:

    config  gogc  memlimit  runtime  stderr-file  time-file

where the time file holds "wall-s peak-KiB user-s sys-s" (/usr/bin/time -f
'%e %M %U %S').  The stderr file holds the gctrace lines

    gc N @S.sssS P%: a+b+c ms clock, ..., h0->h1->h2 MB, G MB goal, ...

and, from bench/churn.c and bench/go/churn.go, the line "churn: live set
filled": the cycles after it are the steady state the heap columns average
over (the warm-up cycles run while the live heap is still growing from
nothing and would only blur the comparison).  Each metric is computed per
run; the table shows the median over the runs of a (config, runtime) pair,
and under each config a row of ratios of the second runtime to the first.
"""
import re
import statistics
import sys

GC_LINE = re.compile(
    r"^gc (\d+) @([0-9.]+)s (\d+)%: .*?, (\d+)->(\d+)->(\d+) MB, (\d+) MB goal")
STEADY_MARK = "churn: live set filled"


def parse_trace(path):
    """All cycles as dicts, each flagged steady or not, and the GC CPU %
    of the last line (the runtime's figure since the process started)."""
    cycles, steady, cpu_pct = [], False, None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(STEADY_MARK):
                steady = True
                continue
            m = GC_LINE.match(line)
            if not m:
                continue
            n, _, pct, h0, h1, h2, goal = m.groups()
            cycles.append(dict(n=int(n), h0=int(h0), h1=int(h1), h2=int(h2),
                               goal=int(goal), steady=steady))
            cpu_pct = int(pct)
    return cycles, cpu_pct


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def run_metrics(err_path, time_path):
    cycles, cpu_pct = parse_trace(err_path)
    wall, kib, user, sys_s = (float(x) for x in open(time_path).read().split()[-4:])
    st = [c for c in cycles if c["steady"]] or cycles
    ratio = lambda a, b: [c[a] / c[b] for c in st if c[b] > 0]
    return {
        "cycles": cycles[-1]["n"] if cycles else 0,
        "steady": len([c for c in cycles if c["steady"]]),
        "h0_mean": mean([c["h0"] for c in st]),
        "h0_max": max((c["h0"] for c in st), default=None),
        "h2_mean": mean([c["h2"] for c in st]),
        "goal_mean": mean([c["goal"] for c in st]),
        "h0_goal_max": max(ratio("h0", "goal"), default=None),
        "h1_goal_max": max(ratio("h1", "goal"), default=None),
        "h0_h2_mean": mean(ratio("h0", "h2")),
        "rss_mib": kib / 1024,
        "wall": wall,
        "cpu": user + sys_s,
        "gc_cpu_pct": cpu_pct,
    }


def median_metrics(runs):
    out = {}
    for key in runs[0]:
        vals = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(vals) if vals else None
    return out


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def ratio_cell(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}x"


COLUMNS = [  # (header, metric key, format)
    ("GCs", "cycles", ".0f"),
    ("steady GCs", "steady", ".0f"),
    ("h0 mean MB", "h0_mean", ".1f"),
    ("h0 max MB", "h0_max", ".0f"),
    ("h2 mean MB", "h2_mean", ".1f"),
    ("goal mean MB", "goal_mean", ".1f"),
    ("max h0/goal", "h0_goal_max", ".3f"),
    ("max h1/goal", "h1_goal_max", ".3f"),
    ("mean h0/h2", "h0_h2_mean", ".2f"),
    ("peak RSS MiB", "rss_mib", ".1f"),
    ("wall s", "wall", ".2f"),
    ("CPU s", "cpu", ".2f"),
    ("GC CPU %", "gc_cpu_pct", ".0f"),
]


def load_manifest(path):
    """{config: (gogc, memlimit, {runtime: [metrics per run]})}, in order."""
    configs = {}
    for line in open(path):
        if not line.strip():
            continue
        config, gogc, memlimit, runtime, err, tim = line.rstrip("\n").split("\t")
        entry = configs.setdefault(config, (gogc, memlimit, {}))
        entry[2].setdefault(runtime, []).append(run_metrics(err, tim))
    return configs


def expected_h0_h2(gogc, memlimit):
    """What mean h0/h2 approaches with no limit binding: 1 + GOGC/100."""
    if memlimit not in ("", "off") or gogc == "off":
        return "limit"
    return f"{1 + int(gogc) / 100:.2f}"


def label(name, gogc, memlimit):
    """GOGC and the limit, and the thread count when the config's name
    ends in -Nt (bench/run.sh's GO_CONFIGS)."""
    text = f"GOGC={gogc}" if memlimit in ("", "off") else f"GOGC={gogc}, GOMEMLIMIT={memlimit}"
    threads = name.rsplit("-", 1)[1] if "-" in name else ""
    if threads.endswith("t") and threads[:-1].isdigit():
        text += f", {threads[:-1]} threads"
    return text


def table(configs):
    head = ["config", "runtime"] + [c[0] for c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |",
             "|---|---|" + "--:|" * len(COLUMNS)]
    for name, (gogc, memlimit, runtimes) in configs.items():
        config = label(name, gogc, memlimit)
        meds = {rt: median_metrics(runs) for rt, runs in runtimes.items()}
        for rt, m in meds.items():
            cells = [fmt(m[k], f) for _, k, f in COLUMNS]
            i = [c[1] for c in COLUMNS].index("h0_h2_mean")
            cells[i] += f" ({expected_h0_h2(gogc, memlimit)})"
            lines.append(f"| {config} | {rt} | " + " | ".join(cells) + " |")
        names = list(meds)
        if len(names) == 2:
            a, b = meds[names[1]], meds[names[0]]
            cells = [ratio_cell(a[k], b[k]) for _, k, _ in COLUMNS]
            lines.append(f"| {config} | *{names[1]}/{names[0]}* | " +
                         " | ".join(f"*{c}*" if c != "–" else c for c in cells) + " |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    print(table(load_manifest(sys.argv[1])))


if __name__ == "__main__":
    main()
