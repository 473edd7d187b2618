#!/usr/bin/python3
"""Side-by-side k-means benchmark: our distributed k-means (1 and 2 ranks)
against scikit-learn's KMeans on the same data, the same initial centroids,
the same number of Lloyd iterations and the same number of threads.

    /usr/bin/python3 bench/kmeans_sklearn.py --bench build/bench/bench_kmeans_bench \
        [--n 1000000 --d 256 --k 16 --iters 20 --threads 2]

Needs Debian's python3-sklearn (threadpoolctl comes with it). Writes the data
once (float32, about n*d*4 bytes) to a temporary file, prints each run as JSON
and the ratios sklearn_time / our_time (above 1 = we are faster), in wall
time per iteration and in CPU time of the whole fit (user + system, every
thread and rank: the steadier figure when the machine is shared).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    common = ["--n", str(args.n), "--d", str(args.d), "--k", str(args.k), "--iters", str(args.iters)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_mpi_yield_when_idle="1",
               OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "kmeans.bin")
        ours1 = run([args.bench, *common, "--threads", str(args.threads), "--write", data_path], env)
        print("ours, 1 rank :", json.dumps(ours1))
        per_rank = max(1, args.threads // 2)
        ours2 = run(["mpiexec", "-n", "2", "--bind-to", "none", args.bench, *common, "--threads", str(per_rank)], env)
        print("ours, 2 ranks:", json.dumps(ours2))
        if ours1["inertia"] != ours2["inertia"]:
            print("WARNING: 1 and 2 ranks differ", file=sys.stderr)
        with open(data_path, "rb") as f:
            n, d, k = np.fromfile(f, dtype=np.int64, count=3)
            init = np.fromfile(f, dtype=np.float32, count=k * d).reshape(k, d)
            x = np.fromfile(f, dtype=np.float32, count=n * d).reshape(n, d)
    with threadpool_limits(limits=args.threads):
        km = KMeans(n_clusters=int(k), init=init, n_init=1, max_iter=args.iters, tol=0.0, algorithm="lloyd")
        t0, c0 = time.perf_counter(), time.process_time()
        km.fit(x)
        sk_total, sk_cpu = time.perf_counter() - t0, time.process_time() - c0
    # Whole fit divided by iterations on both sides (includes setup and the final assignment).
    sk_iter = sk_total / max(km.n_iter_, 1)
    for o in (ours1, ours2):
        o["fit_seconds_per_iteration"] = round(o["fit_seconds"] / max(o["iterations"], 1), 4)
    sk = {"sklearn": sklearn.__version__, "threads": args.threads, "iterations": int(km.n_iter_),
          "seconds_per_iteration": round(sk_iter, 4), "fit_seconds": round(sk_total, 3),
          "fit_cpu_seconds": round(sk_cpu, 3),
          "inertia": float(km.inertia_)}
    print("scikit-learn :", json.dumps(sk))
    print(f"inertia: ours {ours1['inertia']:.6g} (2 ranks {ours2['inertia']:.6g}), scikit-learn {km.inertia_:.6g}, "
          f"relative difference {abs(ours1['inertia'] - km.inertia_) / km.inertia_:.2e}")
    print(f"speed-up over scikit-learn per iteration: 1 rank {sk_iter / ours1['fit_seconds_per_iteration']:.2f}x, "
          f"2 ranks {sk_iter / ours2['fit_seconds_per_iteration']:.2f}x  ({args.threads} cores in every run)")
    # CPU time (all threads, all ranks) is steadier than wall time on a shared machine.
    print(f"speed-up in CPU time of the fit: 1 rank {sk_cpu / ours1['fit_cpu_seconds']:.2f}x, "
          f"2 ranks {sk_cpu / ours2['fit_cpu_seconds']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
