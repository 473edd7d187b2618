#!/usr/bin/env python3
"""compare_runs.py RUN REF: the outputs of a resumed run equal an uninterrupted one's.

Compares RUN against REF (two run directories of the same configuration and
rank count): the memories of every distill rank file, the per-user
predictions (RUN/eval/per-user.jsonl), eval/metrics.json without timings, the
loss (and validation loss) of every logged training step, and every PEFT
adapter file byte for byte. Exits 1 naming the first difference. Standard
library only (CI has Debian's python3 and nothing more).
"""
import filecmp
import glob
import json
import os
import sys


def strip_timings(v):
    if isinstance(v, dict):
        return {k: strip_timings(x) for k, x in v.items() if "second" not in k and "time" not in k}
    if isinstance(v, list):
        return [strip_timings(x) for x in v]
    return v


def losses(run):
    steps = {}
    for path in glob.glob(os.path.join(run, "train/log-rank-*.jsonl")):
        for line in open(path):
            r = json.loads(line)
            if "loss" in r and "step" in r and "adapter" in r:
                steps.setdefault((r["adapter"], r["step"]), set()).add((r["loss"], r.get("val_loss")))
    return steps


def same_files(run, ref, pattern, what):
    files = sorted(glob.glob(os.path.join(ref, pattern)))
    if not files:
        sys.exit(f"{ref} has no {pattern}")
    for f in files:
        other = os.path.join(run, os.path.relpath(f, ref))
        if not os.path.exists(other) or not filecmp.cmp(f, other, shallow=False):
            sys.exit(f"{what} {os.path.relpath(f, ref)} differs")
    return len(files)


def main():
    run, ref = sys.argv[1], sys.argv[2]
    n_memories = same_files(run, ref, "distill/memories-rank-*.jsonl", "memories")
    same_files(run, ref, "eval/per-user.jsonl", "per-user predictions")
    n_adapters = same_files(run, ref, "train/peft/*/adapter_model.safetensors", "adapter")
    a, b = (strip_timings(json.load(open(os.path.join(d, "eval/metrics.json")))) for d in (run, ref))
    if a != b:
        sys.exit("eval/metrics.json differs")
    x, y = losses(run), losses(ref)
    if set(x) != set(y):
        sys.exit(f"different training steps logged: {len(x)} against {len(y)}")
    bad = [k for k in x if x[k] != y[k]]
    if bad:
        sys.exit(f"{len(bad)} steps have different losses, e.g. {bad[0]}: {x[bad[0]]} vs {y[bad[0]]}")
    print(f"ok: {n_memories} memories files, per-user predictions, metrics, {len(x)} logged training steps and "
          f"{n_adapters} adapters identical to the uninterrupted run")


if __name__ == "__main__":
    main()
