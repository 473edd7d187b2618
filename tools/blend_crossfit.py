#!/usr/bin/env python3
"""What an agent adds to the classical estimate, out of sample (issue 22).

An agent shown the bias estimate in its prompt can only beat the bias
baseline if its predictions carry something the estimate does not. This
tool asks that directly: it fits truth ~ c + w_base * base + w_agent * agent
by least squares on the users of K-1 folds and predicts the users of the
held-out fold (K-fold cross-fitting by user, so no user's ratings fit the
weights that predict them), then compares the blend with the baseline on the
same ratings with paired_compare's user-bootstrap interval. The control is
the baseline recalibrated alone (truth ~ c + w * base, cross-fitted the same
way): the baseline may be too shrunk, and rescaling it is no credit to the
agent. So what the agent adds is the blend minus the recalibrated baseline;
an interval entirely below 0 says its predictions hold information beyond
the estimate, w_agent near 0 that they hold none. The interval does
not include the variability of the fitted weights (3 numbers fitted on
~9,000 ratings), so read a bound within ~0.002 of 0 as 0.

    python3 tools/blend_crossfit.py RUN [--agent agent_global] [--baseline bias] [--folds 5] [--json]
    python3 tools/blend_crossfit.py --self-test

Reads RUN/eval/predictions-rank-*.jsonl (eval.write_predictions = true).
Standard library only, so /usr/bin/python3 runs it.
"""
import argparse
import json
import random
import sys

from agent_diagnosis import load
from paired_compare import compare
from self_check import verdict


def solve(m, v):
    """Solves the small system m x = v (Gaussian elimination, partial pivoting); None when singular."""
    n = len(v)
    a = [row[:] + [v[i]] for i, row in enumerate(m)]
    scale = max(abs(a[i][i]) for i in range(n)) or 1.0
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[piv][col]) < 1e-9 * scale:
            return None
        a[col], a[piv] = a[piv], a[col]
        for r in range(n):
            if r != col:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


def fit(rows):
    """Least squares truth ~ c + w . x over rows of (x tuple, truth); [c, w...].

    A regressor that is (numerically) collinear with the earlier ones gets
    weight 0, so with the baseline first, an agent that is an affine copy of
    the estimate gets none: it adds nothing."""
    k = len(rows[0][0])
    used = []
    for j in range(k):  # add regressors one at a time, keeping those that are not collinear
        trial = used + [j]
        if _normal_solve(rows, trial) is not None:
            used = trial
    w = _normal_solve(rows, used) if used else None
    if w is None:
        return [sum(t for _, t in rows) / len(rows)] + [0.0] * k
    out = [w[0]] + [0.0] * k
    for i, j in enumerate(used):
        out[1 + j] = w[1 + i]
    return out


def _normal_solve(rows, cols):
    n = len(cols) + 1
    m = [[0.0] * n for _ in range(n)]
    v = [0.0] * n
    for x, t in rows:
        f = [1.0] + [x[j] for j in cols]
        for i in range(n):
            v[i] += f[i] * t
            for j in range(n):
                m[i][j] += f[i] * f[j]
    return solve(m, v)


def crossfit(features, keys, folds=5, seed=1):
    """Out-of-fold predictions {key: (pred, truth)} of truth ~ c + w . features[key][0], and each fold's weights.

    features: {key: (x tuple, truth)}; the folds split the users (key[0])."""
    users = sorted({k[0] for k in keys})
    random.Random(seed).shuffle(users)
    fold_of = {u: i % folds for i, u in enumerate(users)}
    out, weights = {}, []
    for f in range(folds):
        w = fit([features[k] for k in keys if fold_of[k[0]] != f])
        weights.append(w)
        for k in keys:
            if fold_of[k[0]] == f:
                x, truth = features[k]
                out[k] = (w[0] + sum(wi * xi for wi, xi in zip(w[1:], x)), truth)
    return out, weights


def blend_and_control(agent, base, folds=5):
    """(blend of base and agent, its weights [c, w_base, w_agent]; base recalibrated alone, its weights)."""
    keys = [k for k in agent if k in base]
    both = {k: ((base[k][0], agent[k][0]), agent[k][1]) for k in keys}  # base first: see fit()
    alone = {k: ((base[k][0],), base[k][1]) for k in keys}
    blend, w_blend = crossfit(both, keys, folds)
    recal, w_recal = crossfit(alone, keys, folds)
    return blend, w_blend, recal, w_recal


def self_test():
    rng = random.Random(3)
    base, informative, copy = {}, {}, {}
    for user in range(60):
        offset = rng.gauss(0, 0.5)  # a user taste the estimate misses and the informative agent sees
        for item in range(20):
            b = rng.uniform(2.5, 4.5)
            truth = b + offset + rng.gauss(0, 0.7)
            base[(user, item)] = (b, truth)
            informative[(user, item)] = (3.0 + 0.5 * (b - 3.0) + 0.8 * offset + rng.gauss(0, 0.2), truth)
            copy[(user, item)] = (1.0 + 0.6 * b, truth)
    good, w_good, recal, _ = blend_and_control(informative, base)
    same, w_same, recal_same, _ = blend_and_control(copy, base)
    d_good, d_same = compare(good, recal), compare(same, recal_same)
    checks = [
        (len(good) == len(base), "every pair gets an out-of-fold prediction"),
        (d_good["rmse_ci"][1] < 0, "an agent that sees the user's taste beats the recalibrated estimate"),
        (all(w[2] > 0.3 for w in w_good), "and gets a clear weight in every fold"),
        (abs(d_same["rmse_diff"]) < 1e-9, "an affine copy of the estimate adds nothing"),
        (all(w[2] == 0.0 for w in w_same), "and gets no weight"),
        (solve([[2, 0, 0], [0, 3, 0], [0, 0, 4]], [2, 6, 12]) == [1.0, 2.0, 3.0], "the solver"),
    ]
    return verdict("blend_crossfit", checks)


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--agent", default=None, help="agent predictor (default: every agent_* in the run)")
    ap.add_argument("--baseline", default="bias")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    by_predictor = load(args.run_dir)
    if args.baseline not in by_predictor:
        sys.exit(f"blend_crossfit: no '{args.baseline}' predictions in {args.run_dir}/eval")
    agents = [args.agent] if args.agent else sorted(p for p in by_predictor if p.startswith("agent_"))
    for name in agents:
        if name not in by_predictor:
            sys.exit(f"blend_crossfit: no '{name}' predictions in {args.run_dir}/eval "
                     f"(predictors: {', '.join(sorted(by_predictor))})")
        base = by_predictor[args.baseline]
        blend, w_blend, recal, w_recal = blend_and_control(by_predictor[name], base, args.folds)
        if not blend:
            print(f"{name}: no pairs in common with {args.baseline}")
            continue
        rated = {k: base[k] for k in blend}
        out = {"predictor": name, "baseline": args.baseline, "folds": args.folds,
               "blend_weights": w_blend, "recalibrated_weights": w_recal,
               "agent_minus_base": compare(by_predictor[name], rated),
               "blend_minus_base": compare(blend, rated),
               "recalibrated_minus_base": compare(recal, rated),
               "blend_minus_recalibrated": compare(blend, recal)}
        if args.json:
            print(json.dumps(out))
            continue
        d = out["blend_minus_base"]
        print(f"{name} + {args.baseline}, {args.folds}-fold cross-fitted by user ({d['ratings']} ratings, "
              f"{d['users']} users)")
        w_base = [w[1] for w in w_blend]
        w_agent = [w[2] for w in w_blend]
        print(f"  blend weights   agent {min(w_agent):.3f}..{max(w_agent):.3f}, {args.baseline} "
              f"{min(w_base):.3f}..{max(w_base):.3f} over the folds; {args.baseline} alone "
              f"{min(w[1] for w in w_recal):.3f}..{max(w[1] for w in w_recal):.3f}")
        print(f"  RMSE            blend {d['rmse_a']:.4f}, {args.baseline} recalibrated "
              f"{out['recalibrated_minus_base']['rmse_a']:.4f}, {args.baseline} {d['rmse_b']:.4f}, "
              f"agent {out['agent_minus_base']['rmse_a']:.4f}")
        for label, key in [("agent minus " + args.baseline, "agent_minus_base"),
                           ("blend minus " + args.baseline, "blend_minus_base"),
                           (args.baseline + " recalibrated minus " + args.baseline, "recalibrated_minus_base"),
                           ("blend minus " + args.baseline + " recalibrated (what the agent adds)",
                            "blend_minus_recalibrated")]:
            c = out[key]
            print(f"  {label}: {c['rmse_diff']:+.4f} [{c['rmse_ci'][0]:+.4f}, {c['rmse_ci'][1]:+.4f}]")

if __name__ == "__main__":
    main()
