#!/usr/bin/env python3
"""Checks an eval/metrics.json by value, not by text: the e2e tests call it.

  check_metrics.py METRICS.json --require bias,mf_als,agent_persona [--max-rmse 4]
  check_metrics.py --self-test

For every predictor: the name is unique; overall n_rated > 0; rmse and mae are
finite numbers (JSON null, NaN or infinity fail) with 0 < rmse < --max-rmse
and mae <= rmse (+1e-9); 0 <= urr <= 1; a 95% interval, where present, holds
the value. --require names predictors that must be present, matched exactly
(not as a substring of another name). Exit 0 when all hold, 1 with every
failure listed otherwise, 2 on a file that does not parse.
"""
import argparse
import json
import math
import sys


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problems(doc, required, max_rmse):
    found = []
    predictors = doc.get("predictors")
    if not isinstance(predictors, list) or not predictors:
        return ["no 'predictors' list"]
    names = [p.get("name") for p in predictors]
    for name in set(n for n in names if names.count(n) > 1):
        found.append(f"predictor '{name}' appears {names.count(name)} times")
    for name in required:
        if name not in names:
            found.append(f"required predictor '{name}' is missing (have: {', '.join(map(str, names))})")
    for p in predictors:
        name = p.get("name")
        overall = p.get("overall")
        if not isinstance(overall, dict):
            found.append(f"{name}: no 'overall' group")
            continue
        n = overall.get("n_rated")
        if not (isinstance(n, int) and n > 0):
            found.append(f"{name}: n_rated is {n!r}, expected > 0")
        rmse, mae, urr = overall.get("rmse"), overall.get("mae"), overall.get("urr")
        if not _finite(rmse):
            found.append(f"{name}: rmse is {rmse!r}, expected a finite number")
        elif not 0 < rmse < max_rmse:
            found.append(f"{name}: rmse {rmse} outside (0, {max_rmse})")
        if not _finite(mae):
            found.append(f"{name}: mae is {mae!r}, expected a finite number")
        elif _finite(rmse) and mae > rmse + 1e-9:
            found.append(f"{name}: mae {mae} > rmse {rmse}")
        if not (_finite(urr) and 0 <= urr <= 1):
            found.append(f"{name}: urr is {urr!r}, expected in [0, 1]")
        ci = overall.get("rmse_ci")
        if ci is not None and _finite(rmse):
            if not (isinstance(ci, list) and len(ci) == 2 and all(map(_finite, ci))
                    and ci[0] <= rmse + 1e-9 and rmse <= ci[1] + 1e-9):
                found.append(f"{name}: rmse_ci {ci!r} does not hold rmse {rmse}")
    return found


def self_test():
    def doc(**overrides):
        overall = {"n_rated": 10, "rmse": 1.0, "mae": 0.8, "urr": 0.0, "rmse_ci": [0.9, 1.1]}
        overall.update(overrides)
        return {"predictors": [{"name": "bias", "overall": dict(overall)},
                               {"name": "agent_persona", "overall": dict(overall)}]}
    good = doc()
    assert problems(good, ["bias", "agent_persona"], 4) == [], problems(good, ["bias"], 4)
    cases = {
        "NaN rmse": doc(rmse=float("nan")),
        "null rmse": doc(rmse=None),
        "rmse out of range": doc(rmse=7.0, rmse_ci=[6.0, 8.0]),
        "no ratings": doc(n_rated=0),
        "mae above rmse": doc(mae=1.5),
        "urr above 1": doc(urr=1.5),
        "interval without the value": doc(rmse_ci=[1.2, 1.3]),
    }
    for what, bad in cases.items():
        assert problems(bad, [], 4), f"self-test: {what} was not caught"
    # A required name must match exactly: "bias" is not satisfied by "agent_bias".
    renamed = {"predictors": [{"name": "agent_bias", "overall": good["predictors"][0]["overall"]}]}
    assert problems(renamed, ["bias"], 4), "self-test: a substring match was accepted"
    assert problems({"predictors": []}, [], 4), "self-test: an empty list was accepted"
    print(f"check_metrics self-test: ok ({len(cases) + 2} broken documents caught)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", nargs="?")
    parser.add_argument("--require", default="", help="comma list of predictor names that must be present")
    parser.add_argument("--max-rmse", type=float, default=4.0)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    if not args.metrics:
        parser.error("a metrics.json path is needed")
    try:
        with open(args.metrics) as f:
            # NaN/Infinity literals parse to floats here and then fail the finite checks.
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args.metrics}: {e}", file=sys.stderr)
        return 2
    required = [n for n in args.require.split(",") if n]
    found = problems(doc, required, args.max_rmse)
    for line in found:
        print(f"{args.metrics}: {line}", file=sys.stderr)
    if found:
        return 1
    print(f"{args.metrics}: {len(doc['predictors'])} predictors ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
