#!/usr/bin/python3
"""Scaling study: synthetic users through prepare -> distill (offline) -> embed
-> cluster -> eval (classical baselines only), each stage its own
`personas <stage>` command under mpiexec, with 1 and/or 2 ranks. Also, when
named in --stages: model (a random tiny model and its tokenizer) and samples
(the RAFT samples train would build, counted: needs distill and model).

    /usr/bin/python3 bench/scaling_study.py --personas build/personas \
        [--sizes 1000000,3000000,10000000] [--ranks 1,2] [--work /work/scale-runs] \
        [--stages prepare,distill,embed,cluster,eval] (or model,samples too) [--results docs/scaling-results.json] \
        [--keep] [--nice 5] [--report-only]

Per stage and rank count it records: wall time (the mpiexec command as a
whole), the maximum resident set of every rank (each rank runs under
/usr/bin/time; the job's peak is the sum over ranks of the per-rank maxima,
an upper bound since ranks need not peak together), and the bytes the stage
wrote to the run directory. Results are merged into --results (JSON, keyed by
users/ranks/stage) so sizes can be run in separate invocations; then the
measured table between the markers in docs/scaling.md and the log-log chart
docs/scaling-time.svg are regenerated from all results.

The configuration is configs/scale.ini (behaviour features, k = 8, no
retrieval vectors) with data.n_users set per size; eval runs the distributed
baselines only (global_mean,user_mean,item_mean,bias): the MF baselines
replicate every training rating on every rank and are measured separately by
bench_eval_bench. Run directories are removed after each (size, ranks) point
unless --keep (the offline distiller writes ~8 KB per user).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

STAGES = ["prepare", "distill", "model", "embed", "cluster", "samples", "eval"]
EVAL_BASELINES = "global_mean,user_mean,item_mean,bias"
BEGIN, END = "<!-- measured:begin -->", "<!-- measured:end -->"


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def parse_time_file(path):
    # /usr/bin/time -f "%e %M %U %S": wall seconds, max RSS in KiB, user and system CPU seconds.
    with open(path) as f:
        parts = f.read().split()
    return {"wall_s": float(parts[-4]), "max_rss_kib": int(parts[-3]), "user_s": float(parts[-2]),
            "sys_s": float(parts[-1]), "cpu_s": float(parts[-2]) + float(parts[-1])}


def run_stage(args, stage, users, ranks, run_dir, log_dir):
    time_dir = os.path.join(log_dir, f"time-{stage}")
    shutil.rmtree(time_dir, ignore_errors=True)
    os.makedirs(time_dir)
    personas_args = [stage, "--config", args.config, "--run.dir", run_dir, "--data.n_users", str(users),
                     "--eval.baselines", EVAL_BASELINES]
    # Each rank under /usr/bin/time: its own max RSS (the rusage of mpiexec's children would give the max, not the sum).
    wrapper = ('exec /usr/bin/time -f "%e %M %U %S" -o "$0/rank-${OMPI_COMM_WORLD_RANK:-0}" "$@"')
    cmd = ["nice", "-n", str(args.nice), "mpiexec", "-n", str(ranks), "--bind-to", "none",
           "sh", "-c", wrapper, time_dir, args.personas, *personas_args]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    log_path = os.path.join(log_dir, f"{stage}.log")
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.stderr.write(f"{stage} failed (exit {rc}); log: {log_path}\n")
        with open(log_path) as f:
            sys.stderr.write("".join(f.readlines()[-15:]))
        raise SystemExit(rc)
    per_rank = [parse_time_file(os.path.join(time_dir, f)) for f in sorted(os.listdir(time_dir))]
    stage_dir = os.path.join(run_dir, stage)
    return {
        "users": users, "ranks": ranks, "stage": stage, "wall_s": round(wall, 2),
        "rss_per_rank_mib": [round(r["max_rss_kib"] / 1024, 1) for r in per_rank],
        "peak_rss_sum_mib": round(sum(r["max_rss_kib"] for r in per_rank) / 1024, 1),
        "cpu_s": round(sum(r["cpu_s"] for r in per_rank), 1),
        "user_cpu_s": round(sum(r["user_s"] for r in per_rank), 1),
        "system_cpu_s": round(sum(r["sys_s"] for r in per_rank), 1),
        "disk_bytes": dir_bytes(stage_dir) if os.path.isdir(stage_dir) else 0,
        "load_avg_before": round(os.getloadavg()[0], 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": args.commit,
        "binary": args.personas,
    }


def load_results(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return []


def save_results(path, results):
    results.sort(key=lambda r: (r["users"], r["ranks"], STAGES.index(r["stage"]) if r["stage"] in STAGES else 99))
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def merge(results, row):
    results[:] = [r for r in results if not (r["users"] == row["users"] and r["ranks"] == row["ranks"]
                                             and r["stage"] == row["stage"])]
    results.append(row)


def fmt_users(n):
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k"


def table(results):
    lines = ["| users | ranks | stage | wall s | wall us/user | CPU s (all ranks) | CPU us/user | peak RSS MiB (sum "
             "over ranks) | per rank MiB | RSS bytes/user | disk bytes/user | load before | binary |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for r in results:
        u = r["users"]
        lines.append(f"| {fmt_users(u)} | {r['ranks']} | {r['stage']} | {r['wall_s']:.1f} | "
                     f"{1e6 * r['wall_s'] / u:.1f} | {r['cpu_s']:.1f} | {1e6 * r['cpu_s'] / u:.1f} | "
                     f"{r['peak_rss_sum_mib']:.0f} | {', '.join(f'{x:.0f}' for x in r['rss_per_rank_mib'])} | "
                     f"{r['peak_rss_sum_mib'] * 1048576 / u:.0f} | {r['disk_bytes'] / u:.0f} | "
                     f"{r.get('load_avg_before', 0):.1f} | {os.path.basename(r.get('binary', '?'))} |")
    # Sum of distill + embed + cluster per (users, ranks): the goal.
    lines += ["", "| users | ranks | distill+embed+cluster wall s | wall us/user | CPU us/user | max peak RSS of the "
              "three (MiB) | all stages wall s |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    keys = sorted({(r["users"], r["ranks"]) for r in results})
    for u, n in keys:
        rows = {r["stage"]: r for r in results if r["users"] == u and r["ranks"] == n}
        goal = [rows[s] for s in ("distill", "embed", "cluster") if s in rows]
        if len(goal) < 3:
            missing = [s for s in ("distill", "embed", "cluster") if s not in rows]
            note = f"(not measured: {', '.join(missing)})"
        else:
            note = ""
        w = sum(r["wall_s"] for r in goal)
        lines.append(f"| {fmt_users(u)} | {n} | {w:.0f} {note} | {1e6 * w / u:.1f} | "
                     f"{1e6 * sum(r['cpu_s'] for r in goal) / u:.1f} | "
                     f"{max((r['peak_rss_sum_mib'] for r in goal), default=0):.0f} | "
                     f"{sum(r['wall_s'] for r in rows.values()):.0f} |")
    return "\n".join(lines)


def svg_chart(results, path):
    """Log-log chart of wall time against users, one line per (stage, ranks)."""
    pts = [r for r in results if r["wall_s"] > 0]
    if not pts:
        return
    w, h, ml, mr, mt, mb = 720, 440, 70, 170, 30, 50
    xs = [math.log10(r["users"]) for r in pts]
    ys = [math.log10(r["wall_s"]) for r in pts]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)

    def px(lx):
        return ml + (lx - x0) / (x1 - x0) * (w - ml - mr)

    def py(ly):
        return h - mb - (ly - y0) / (y1 - y0) * (h - mt - mb)

    colors = {"prepare": "#1f77b4", "distill": "#d62728", "embed": "#2ca02c", "cluster": "#9467bd",
              "eval": "#ff7f0e", "model": "#8c564b", "samples": "#e377c2"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{ml}" y="18" font-size="14">Wall time per stage against users (log-log; solid 2 ranks, '
           f'dashed 1 rank)</text>']
    for e in range(x0, x1 + 1):
        out.append(f'<line x1="{px(e):.1f}" y1="{mt}" x2="{px(e):.1f}" y2="{h - mb}" stroke="#ddd"/>')
        out.append(f'<text x="{px(e):.1f}" y="{h - mb + 16}" text-anchor="middle">{fmt_users(10 ** e)}</text>')
    for e in range(y0, y1 + 1):
        out.append(f'<line x1="{ml}" y1="{py(e):.1f}" x2="{w - mr}" y2="{py(e):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{ml - 6}" y="{py(e) + 4:.1f}" text-anchor="end">{10 ** e:g} s</text>')
    out.append(f'<text x="{(ml + w - mr) / 2}" y="{h - 12}" text-anchor="middle">users</text>')
    # Reference slope 1 (time proportional to users) through the lowest-left point's decade.
    out.append(f'<line x1="{px(x0):.1f}" y1="{py(y0):.1f}" x2="{px(min(x1, x0 + (y1 - y0))):.1f}" '
               f'y2="{py(y0 + min(x1 - x0, y1 - y0)):.1f}" stroke="#999" stroke-dasharray="2,4"/>')
    legend_y = mt + 10
    for stage in STAGES:
        for ranks in (2, 1):
            line = sorted((r for r in pts if r["stage"] == stage and r["ranks"] == ranks), key=lambda r: r["users"])
            if not line:
                continue
            c = colors.get(stage, "#333")
            dash = '' if ranks == 2 else ' stroke-dasharray="6,4"'
            d = " ".join(f"{px(math.log10(r['users'])):.1f},{py(math.log10(r['wall_s'])):.1f}" for r in line)
            out.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
            for r in line:
                out.append(f'<circle cx="{px(math.log10(r["users"])):.1f}" cy="{py(math.log10(r["wall_s"])):.1f}" '
                           f'r="3" fill="{c}"/>')
            out.append(f'<line x1="{w - mr + 10}" y1="{legend_y}" x2="{w - mr + 40}" y2="{legend_y}" stroke="{c}" '
                       f'stroke-width="2"{dash}/>')
            out.append(f'<text x="{w - mr + 46}" y="{legend_y + 4}">{stage}, {ranks} rank{"s" if ranks > 1 else ""}'
                       f'</text>')
            legend_y += 18
    out.append(f'<text x="{w - mr + 10}" y="{legend_y + 8}" fill="#666">dotted: slope 1</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def write_report(results, doc, svg):
    svg_chart(results, svg)
    if not os.path.exists(doc):
        return
    with open(doc) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.stderr.write(f"{doc} has no {BEGIN} ... {END} markers; table not written\n")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(doc, "w") as f:
        f.write(head + BEGIN + "\n" + table(results) + "\n" + END + tail)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--personas", help="the built personas binary")
    ap.add_argument("--sizes", default="1000000,3000000,10000000")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--stages", default="prepare,distill,embed,cluster,eval")
    ap.add_argument("--config", default=os.path.join(root, "configs", "scale.ini"))
    ap.add_argument("--work", default="/work/scale-runs")
    ap.add_argument("--results", default=os.path.join(root, "docs", "scaling-results.json"))
    ap.add_argument("--doc", default=os.path.join(root, "docs", "scaling.md"))
    ap.add_argument("--svg", default=os.path.join(root, "docs", "scaling-time.svg"))
    ap.add_argument("--nice", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    ap.add_argument("--report-only", action="store_true", help="only regenerate the table and chart")
    args = ap.parse_args()
    results = load_results(args.results)
    if not args.report_only:
        if not args.personas:
            ap.error("--personas is required unless --report-only")
        args.personas = os.path.abspath(args.personas)
        args.commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
        stages = args.stages.split(",")
        for users in (int(s) for s in args.sizes.split(",")):
            for ranks in (int(s) for s in args.ranks.split(",")):
                run_dir = os.path.join(args.work, f"users-{users}-ranks-{ranks}")
                log_dir = run_dir + "-logs"
                if "prepare" in stages:
                    shutil.rmtree(run_dir, ignore_errors=True)
                os.makedirs(log_dir, exist_ok=True)
                for stage in stages:
                    free = shutil.disk_usage(args.work).free
                    print(f"[{time.strftime('%H:%M:%S')}] {fmt_users(users)} users, {ranks} rank(s): {stage} "
                          f"(disk free {free / 1e9:.0f} GB)", flush=True)
                    row = run_stage(args, stage, users, ranks, run_dir, log_dir)
                    print(f"    {row['wall_s']:.1f} s, peak RSS {row['peak_rss_sum_mib']:.0f} MiB "
                          f"(ranks {row['rss_per_rank_mib']}), {row['disk_bytes'] / 1e6:.0f} MB written", flush=True)
                    merge(results, row)
                    save_results(args.results, results)
                    write_report(results, args.doc, args.svg)
                if not args.keep:
                    shutil.rmtree(run_dir, ignore_errors=True)
    write_report(results, args.doc, args.svg)
    print(table(results))


if __name__ == "__main__":
    main()
