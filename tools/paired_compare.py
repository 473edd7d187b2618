#!/usr/bin/env python3
"""Paired RMSE/MAE difference of two predictors, possibly from two runs (issue 22).

`personas eval` pairs every predictor with eval.compare_to inside one run.
Two agents trained in different run directories (a global adapter in one,
persona adapters started from it in another) are compared here: on the
(user, item) pairs both rated, A minus B with a percentile interval over
bootstrap resamples of users (each resample draws the users with
replacement, and a drawn user brings all of its pairs to both predictors, so
the spread between users cancels as in eval's paired differences; the
resamples are Python's random.Random(seed), not eval's Poisson hash, so the
bounds differ from eval's in the third decimal).

    python3 tools/paired_compare.py RUN_A:agent_persona RUN_B:agent_global [--resamples 2000] [--seed 1]
    python3 tools/paired_compare.py --self-test

Reads RUN/eval/predictions-rank-*.jsonl (eval.write_predictions = true).
Standard library only, so /usr/bin/python3 runs it.
"""
import argparse
import math
import random
import sys
from collections import defaultdict

from agent_diagnosis import load
from self_check import verdict


def per_user_sums(a, b):
    """{user: [n, sq_a, sq_b, abs_a, abs_b]} over the pairs both predicted."""
    users = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    for key, (pa, truth) in a.items():
        if key not in b:
            continue
        pb = b[key][0]
        s = users[key[0]]
        s[0] += 1
        s[1] += (pa - truth) ** 2
        s[2] += (pb - truth) ** 2
        s[3] += abs(pa - truth)
        s[4] += abs(pb - truth)
    return users


def differences(sums):
    n = sum(s[0] for s in sums)
    if n == 0:
        return None
    tot = [sum(s[k] for s in sums) for k in range(1, 5)]
    return math.sqrt(tot[0] / n) - math.sqrt(tot[1] / n), (tot[2] - tot[3]) / n


def compare(a, b, resamples=2000, seed=1, confidence=0.95):
    users = per_user_sums(a, b)
    if not users:
        return None
    order = sorted(users)
    sums = [users[u] for u in order]
    rmse_d, mae_d = differences(sums)
    rng = random.Random(seed)
    boot_r, boot_m = [], []
    for _ in range(resamples):
        d = differences([sums[rng.randrange(len(sums))] for _ in sums])
        if d is not None:
            boot_r.append(d[0])
            boot_m.append(d[1])
    boot_r.sort()
    boot_m.sort()
    lo = int(math.floor((1 - confidence) / 2 * len(boot_r)))
    hi = min(len(boot_r) - 1, int(math.ceil((1 + confidence) / 2 * len(boot_r))) - 1)
    n = sum(s[0] for s in sums)
    return {
        "ratings": n, "users": len(sums),
        "rmse_a": math.sqrt(sum(s[1] for s in sums) / n), "rmse_b": math.sqrt(sum(s[2] for s in sums) / n),
        "rmse_diff": rmse_d, "rmse_ci": [boot_r[lo], boot_r[hi]],
        "mae_diff": mae_d, "mae_ci": [boot_m[lo], boot_m[hi]],
    }


def parse_side(text):
    run, sep, predictor = text.rpartition(":")
    if not sep or not run or not predictor:
        sys.exit(f"paired_compare: '{text}' is not RUN_DIR:PREDICTOR (e.g. runs/x:agent_persona)")
    by_predictor = load(run)
    if predictor not in by_predictor:
        sys.exit(f"paired_compare: no '{predictor}' predictions in {run}/eval "
                 f"(predictors: {', '.join(sorted(by_predictor))})")
    return by_predictor[predictor]


def self_test():
    """Known answers: B = A + 0.5 on every pair, and an A that equals B."""
    rng = random.Random(3)
    a, b = {}, {}
    for user in range(40):
        for item in range(5 + user % 7):
            truth = float(rng.randint(1, 5))
            a[(user, item)] = (truth + rng.choice([-1.0, 1.0]) * 0.25, truth)  # |error| 0.25
            b[(user, item)] = (truth + 0.75, truth)                             # |error| 0.75
    b[(999, 0)] = (3.0, 3.0)  # only B rated it: left out
    d = compare(a, b, resamples=300)
    same = compare(a, a, resamples=300)
    checks = [
        (d["ratings"] == len(a) and d["users"] == 40, "only the pairs both rated"),
        (abs(d["rmse_diff"] + 0.5) < 1e-9 and abs(d["mae_diff"] + 0.5) < 1e-9, "A minus B is -0.5"),
        (abs(d["rmse_ci"][0] + 0.5) < 1e-9 and abs(d["rmse_ci"][1] + 0.5) < 1e-9,
         "a constant difference has a zero-width interval"),
        (same["rmse_diff"] == 0 and same["rmse_ci"] == [0.0, 0.0], "a predictor against itself: 0 [0, 0]"),
    ]
    return verdict("paired_compare", checks)


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(self_test())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="RUN_DIR:PREDICTOR (e.g. runs/ml100k-smollm2:agent_persona)")
    ap.add_argument("b", help="RUN_DIR:PREDICTOR, the reference")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    d = compare(parse_side(args.a), parse_side(args.b), args.resamples, args.seed)
    if d is None:
        sys.exit("paired_compare: the two predictors share no (user, item) pair")
    print(f"{args.a} minus {args.b} on {d['ratings']} ratings of {d['users']} users "
          f"(RMSE {d['rmse_a']:.4f} vs {d['rmse_b']:.4f}):")
    print(f"  RMSE {d['rmse_diff']:+.4f} [{d['rmse_ci'][0]:+.4f}, {d['rmse_ci'][1]:+.4f}]  "
          f"MAE {d['mae_diff']:+.4f} [{d['mae_ci'][0]:+.4f}, {d['mae_ci'][1]:+.4f}] (paired, 95%)")


if __name__ == "__main__":
    main()
