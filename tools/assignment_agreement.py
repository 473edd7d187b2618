#!/usr/bin/env python3
"""Adjusted Rand index between persona assignments (RUN/cluster/assignments.jsonl
files: one {"user": id, "persona": p} per line), pairwise over the files given.

    tools/assignment_agreement.py A/cluster/assignments.jsonl B/cluster/assignments.jsonl [...]

Only users present in both files count; prints one line per pair with the
number of users, each side's number of personas and the ARI (1 = the same
partition up to relabelling, ~0 = chance). Exits 2 on a malformed line."""
import json
import sys
from collections import Counter
from itertools import combinations


def load(path):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                out[int(row["user"])] = int(row["persona"])
            except (ValueError, KeyError, TypeError) as e:
                sys.exit(f"{path}:{n}: not an assignment line ({e})")
    return out


def comb2(n):
    return n * (n - 1) / 2


def ari(a, b):
    users = sorted(set(a) & set(b))
    pairs = Counter((a[u], b[u]) for u in users)
    rows = Counter(a[u] for u in users)
    cols = Counter(b[u] for u in users)
    index = sum(comb2(n) for n in pairs.values())
    sum_rows = sum(comb2(n) for n in rows.values())
    sum_cols = sum(comb2(n) for n in cols.values())
    expected = sum_rows * sum_cols / comb2(len(users)) if len(users) > 1 else 0
    top = (sum_rows + sum_cols) / 2 - expected
    return len(users), len(rows), len(cols), (index - expected) / top if top else 1.0


def self_test():
    a = {u: u % 3 for u in range(30)}
    assert abs(ari(a, {u: (a[u] + 1) % 3 for u in a})[3] - 1) < 1e-12  # relabelled
    n, ka, kb, v = ari(a, {u: u % 2 for u in a})
    assert (n, ka, kb) == (30, 3, 2) and abs(v) < 0.1, v


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        print("ok")
        sys.exit(0)
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    files = sys.argv[1:]
    loaded = [load(p) for p in files]
    for i, j in combinations(range(len(files)), 2):
        n, ka, kb, v = ari(loaded[i], loaded[j])
        print(f"ARI {v:.3f}  users {n}  K {ka} vs {kb}  {files[i]}  {files[j]}")
