#!/usr/bin/python3
"""Reference inertias from scikit-learn's KMeans for tests/unit/cluster.

Writes tests/unit/cluster/sklearn_reference.json: a few small float32 data
sets, the initial centroids, the iteration count, and scikit-learn's inertia,
labels and iteration count for KMeans(init=<those centroids>, n_init=1,
max_iter, tol=0, algorithm="lloyd"). The C++ test runs our k-means from the
same centroids for the same iterations and requires the inertia within 1%.

Run with Debian's python3 (apt-get install python3-sklearn):
    /usr/bin/python3 tools/sklearn_kmeans_reference.py
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans

CASES = [
    # name, n, d, k (used), planted centres, spread, iterations, seed
    ("separated", 500, 8, 5, 5, 0.8, 10, 1),
    ("overlapping", 800, 16, 12, 6, 2.5, 25, 2),
    ("low_dim_converged", 300, 3, 4, 3, 1.0, 100, 3),
]


def make_case(name, n, d, k, planted, spread, iterations, seed):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, size=(planted, d))
    which = rng.integers(0, planted, size=n)
    # 3 decimals: the JSON text then names each float32 exactly (C++ reads the
    # same double and rounds it to the same float32 as numpy does here).
    x = np.round(centres[which] + rng.normal(0, spread, size=(n, d)), 3).astype(np.float32)
    init = x[rng.choice(n, size=k, replace=False)].copy()
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iterations, tol=0.0, algorithm="lloyd")
    km.fit(x)
    return {
        "name": name, "n": n, "d": d, "k": k, "max_iter": iterations,
        "points": [round(float(v), 3) for v in x.ravel()],
        "initial_centroids": [round(float(v), 3) for v in init.ravel()],
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "labels": [int(v) for v in km.labels_],
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "..", "tests", "unit", "cluster", "sklearn_reference.json")
    cases = [make_case(*c) for c in CASES]
    doc = {"generator": "tools/sklearn_kmeans_reference.py", "sklearn": sklearn.__version__,
           "numpy": np.__version__, "cases": cases}
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(f"{c['name']}: inertia {c['inertia']:.6f} after {c['n_iter']} iterations", file=sys.stderr)


if __name__ == "__main__":
    main()
