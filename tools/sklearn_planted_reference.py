#!/usr/bin/env python3
"""scikit-learn's k-means optimum on the planted blobs of cluster/planted_blobs.h,
for tests/unit/cluster/kmeans_quality_test.cpp.

Writes tests/unit/cluster/planted_reference.json: for each data seed the rows'
checksums (so the test knows it regenerated the same rows), and for every k in
--k-range the lowest inertia of KMeans(n_clusters=k, n_init=10,
random_state=r) over r = 0..--states-1 (scikit-learn's greedy k-means++ and
Lloyd, 10 starts each: 10 * states starts per k), with the inertia of each
state at the planted k. The C++ test requires every one of its 30 run seeds
within 1% of that.

The rows come from the C++ generator itself (bench_kmeans_quality --write),
so there is no second implementation to keep in step:
    /root/.cache/personas/venv-tools/bin/python tools/sklearn_planted_reference.py \\
        --bench build/bench/bench_kmeans_quality
(scikit-learn from pip in that venv, or Debian's python3-sklearn.)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import sklearn
from sklearn.cluster import KMeans

DATA_SEEDS = [1, 2, 3]  # each a different set of planted centres and rows
PLANTED_K = 5


def read_rows(path):
    with open(path, "rb") as f:
        n, d = np.fromfile(f, dtype=np.int64, count=2)
        return np.fromfile(f, dtype=np.float32, count=int(n) * int(d)).reshape(int(n), int(d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="bench_kmeans_quality binary")
    ap.add_argument("--k-range", default="2..12")
    ap.add_argument("--states", type=int, default=10)
    args = ap.parse_args()
    k_lo, k_hi = (int(v) for v in args.k_range.split(".."))
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "tests", "unit", "cluster", "planted_reference.json")
    sets = []
    with tempfile.TemporaryDirectory() as tmp:
        for data_seed in DATA_SEEDS:
            path = os.path.join(tmp, f"planted-{data_seed}.bin")
            # --spherical 0: the rows as generated (already unit length).
            subprocess.run([args.bench, "--data-seed", str(data_seed), "--spherical", "0", "--write", path], check=True)
            x = read_rows(path)
            x64 = x.astype(np.float64)
            entry = {"data_seed": data_seed, "n": int(x.shape[0]), "d": int(x.shape[1]),
                     "sum": float(x64.sum()), "sum_squares": float((x64 * x64).sum()),
                     "first_values": [float(v) for v in x[0, :4]], "inertia": {}, "planted_k_states": []}
            for k in range(k_lo, k_hi + 1):
                runs = [float(KMeans(n_clusters=k, n_init=10, random_state=r).fit(x).inertia_)
                        for r in range(args.states)]
                entry["inertia"][str(k)] = min(runs)
                if k == PLANTED_K:
                    entry["planted_k_states"] = runs
                print(f"data seed {data_seed} k {k}: best {min(runs):.6f} worst {max(runs):.6f}", file=sys.stderr)
            sets.append(entry)
    doc = {"generator": "tools/sklearn_planted_reference.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "what": f"min over random_state 0..{args.states - 1} of KMeans(n_clusters=k, n_init=10).inertia_",
           "planted_k": PLANTED_K, "sets": sets}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
