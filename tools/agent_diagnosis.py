#!/usr/bin/env python3
"""What limits an agent, from its predictions (issue 22).

Reads RUN/eval/predictions-rank-*.jsonl (eval.write_predictions = true) and,
for each agent predictor, on the (user, item) pairs it rated, prints against
the bias baseline's predictions of the same pairs:
  * mean and sd of the predictions and of the truth;
  * correlation with the truth and with the bias baseline;
  * RMSE of the agent, of bias, and of the best affine recalibration of the
    agent (a + b * agent, fitted in sample: an oracle, for diagnosis only; it
    says how much is lost to scale and offset rather than to ranking);
  * the regression of the agent on the bias prediction (slope 1 = it copies the
    estimate; below 1 = it shrinks towards a constant);
  * RMSE per user activity tercile (training ratings are not in the file, so
    the tercile is by the number of test ratings of the user).
Standard library only, so /usr/bin/python3 runs it.

    python3 tools/agent_diagnosis.py RUN [--baseline bias] [--json]
    python3 tools/agent_diagnosis.py --self-test
"""
import argparse
import glob
import json
import math
import os
import sys
from collections import defaultdict

from self_check import verdict


def mean(xs):
    return sum(xs) / len(xs)


def sd(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def corr(xs, ys):
    mx, my = mean(xs), mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def rmse(pred, truth):
    return math.sqrt(mean([(p - t) ** 2 for p, t in zip(pred, truth)]))


def affine_fit(xs, ys):
    """Least squares y ~ a + b x; returns (a, b)."""
    mx, my = mean(xs), mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx > 0 else 0.0
    return my - b * mx, b


def load(run_dir):
    files = sorted(glob.glob(os.path.join(run_dir, "eval", "predictions-rank-*.jsonl")))
    if not files:
        sys.exit(f"agent_diagnosis: no {run_dir}/eval/predictions-rank-*.jsonl "
                 "(run eval with --eval.write_predictions true)")
    by_predictor = defaultdict(dict)
    for path in files:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                try:
                    r = json.loads(line)
                    by_predictor[r["predictor"]][(r["user"], r["item"])] = (float(r["predicted"]), float(r["truth"]))
                except (ValueError, KeyError) as e:
                    sys.exit(f"agent_diagnosis: {path}:{n}: {e}")
    return by_predictor


def diagnose(agent, base):
    keys = [k for k in agent if k in base]
    if not keys:
        return None
    a = [agent[k][0] for k in keys]
    b = [base[k][0] for k in keys]
    t = [agent[k][1] for k in keys]
    ca, cb = affine_fit(a, t)
    slope_on_base = affine_fit(b, a)[1]
    recal = [ca + cb * x for x in a]
    tests_of_user = defaultdict(int)
    for user, _ in keys:
        tests_of_user[user] += 1
    users = sorted(tests_of_user, key=lambda u: tests_of_user[u])
    terciles = {}
    for i, name in enumerate(["least", "middle", "most"]):
        chosen = set(users[i * len(users) // 3:(i + 1) * len(users) // 3])
        idx = [j for j, k in enumerate(keys) if k[0] in chosen]
        if idx:
            terciles[name] = {
                "users": len(chosen),
                "agent_rmse": rmse([a[j] for j in idx], [t[j] for j in idx]),
                "base_rmse": rmse([b[j] for j in idx], [t[j] for j in idx]),
            }
    return {
        "ratings": len(keys),
        "agent_mean": mean(a), "agent_sd": sd(a),
        "base_mean": mean(b), "base_sd": sd(b),
        "truth_mean": mean(t), "truth_sd": sd(t),
        "corr_truth": corr(a, t), "base_corr_truth": corr(b, t), "corr_base": corr(a, b),
        "agent_rmse": rmse(a, t), "base_rmse": rmse(b, t),
        "recalibrated_rmse": rmse(recal, t), "recalibration": [ca, cb],
        "slope_on_base": slope_on_base,
        "by_user_tests": terciles,
    }


def self_test():
    """Known answers on made-up pairs: an agent that is 1 + 0.5 * bias."""
    import random
    rng = random.Random(7)
    base, agent = {}, {}
    for user in range(9):
        for item in range(3 + user):  # users with 3..11 test ratings
            b = rng.uniform(2.0, 4.5)
            truth = min(5.0, max(1.0, round(b + rng.gauss(0, 0.8))))
            base[(user, item)] = (b, truth)
            agent[(user, item)] = (1.0 + 0.5 * b, truth)
    agent[(99, 0)] = (3.0, 3.0)  # not rated by the baseline: left out
    d = diagnose(agent, base)
    checks = [
        (d["ratings"] == len(base), "only the pairs both rated"),
        (abs(d["slope_on_base"] - 0.5) < 1e-9, "slope on the baseline is 0.5"),
        (abs(d["corr_base"] - 1.0) < 1e-9, "an affine copy correlates 1 with the baseline"),
        (abs(d["agent_sd"] - 0.5 * d["base_sd"]) < 1e-9, "sd halves"),
        (d["recalibrated_rmse"] <= d["agent_rmse"] + 1e-12, "recalibration cannot do worse in sample"),
        (abs(d["recalibrated_rmse"] - diagnose(base, base)["recalibrated_rmse"]) < 1e-9,
         "recalibrating an affine copy of the baseline = recalibrating the baseline"),
        (sum(v["users"] for v in d["by_user_tests"].values()) == 9, "terciles cover every user"),
    ]
    return verdict("agent_diagnosis", checks)


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--baseline", default="bias")
    ap.add_argument("--json", action="store_true", help="one JSON object per agent instead of text")
    args = ap.parse_args()
    by_predictor = load(args.run_dir)
    if args.baseline not in by_predictor:
        sys.exit(f"agent_diagnosis: no '{args.baseline}' predictions in {args.run_dir}/eval "
                 f"(predictors: {', '.join(sorted(by_predictor))})")
    agents = sorted(p for p in by_predictor if p.startswith("agent_"))
    if not agents:
        sys.exit(f"agent_diagnosis: no agent predictions in {args.run_dir}/eval")
    for name in agents:
        d = diagnose(by_predictor[name], by_predictor[args.baseline])
        if d is None:
            print(f"{name}: no pairs in common with {args.baseline}")
            continue
        if args.json:
            print(json.dumps({"predictor": name, "baseline": args.baseline, **d}))
            continue
        print(f"{name} ({d['ratings']} ratings) against {args.baseline} on the same pairs")
        print(f"  mean/sd   agent {d['agent_mean']:.3f}/{d['agent_sd']:.3f}   {args.baseline} "
              f"{d['base_mean']:.3f}/{d['base_sd']:.3f}   truth {d['truth_mean']:.3f}/{d['truth_sd']:.3f}")
        print(f"  corr      with truth {d['corr_truth']:.3f} ({args.baseline} {d['base_corr_truth']:.3f}), "
              f"with {args.baseline} {d['corr_base']:.3f}; slope on {args.baseline} {d['slope_on_base']:.3f}")
        print(f"  RMSE      agent {d['agent_rmse']:.4f}   {args.baseline} {d['base_rmse']:.4f}   "
              f"agent recalibrated in sample {d['recalibrated_rmse']:.4f} "
              f"(a={d['recalibration'][0]:.3f}, b={d['recalibration'][1]:.3f})")
        for name_t, v in d["by_user_tests"].items():
            print(f"  {name_t:6s} test-rating tercile ({v['users']} users): agent {v['agent_rmse']:.4f}, "
                  f"{args.baseline} {v['base_rmse']:.4f}")


if __name__ == "__main__":
    main()
