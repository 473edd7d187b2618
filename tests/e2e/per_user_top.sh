#!/usr/bin/env bash
# e2e: per-user adapters for the most-rated users (train.mode = per-user,
# train.per_user_top) and the per_user agent that rates only them.
# On 2 ranks: a global warm start, then adapters for the 3 users with the
# most training-period ratings (counted from the offline memories, one note
# per training rating), named user-<id>.h5, none for the others; the per_user
# agent rates every test item of exactly those users, and its difference to
# bias is paired on its own ratings; the global agent rates everyone. A rerun
# of eval on 1 rank keeps the per_user agent's journal (its key holds every
# adapter, not a rank's share).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

require_mpirun

e2e_tmpdir per-user-top
args=(run --config "$SRC/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 12 --data.min_ratings 30
      --cluster.k 2 --train.mode per-user --train.per_user_top 3 --train.warm_start global --train.max_steps 4
      --train.val_every 0 --train.checkpoint_every 0 --train.val_max_samples 16 --eval.agents per_user,global
      --eval.agent_max_items 0 --eval.baselines bias --eval.bootstrap_samples 50 --eval.write_predictions true)
mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" > "$tmp/first.log" 2>&1 ||
  { tail -30 "$tmp/first.log" >&2; fail "the per-user run failed"; }
grep -q "per-user adapters for the 3 users with the most training ratings" "$tmp/first.log" ||
  fail "the train stage does not say which users it chose"

/usr/bin/env python3 - "$tmp/run" <<'PY' || fail "the per-user adapters or the per_user agent's ratings are wrong"
import glob, json, os, sys
run = sys.argv[1]
n_train = {}
for path in glob.glob(f"{run}/distill/memories-rank-*.jsonl"):
    for line in open(path):
        m = json.loads(line)
        n_train[m["user_id"]] = len(m["notes"])
assert len(n_train) == 12, n_train
adapters = sorted(os.path.basename(p) for p in glob.glob(f"{run}/train/adapters/user-*.h5"))
chosen = {int(a[len("user-"):-len(".h5")]) for a in adapters}
assert len(chosen) == 3, adapters
others = set(n_train) - chosen
assert min(n_train[u] for u in chosen) >= max(n_train[u] for u in others), (chosen, n_train)
summary = json.load(open(f"{run}/train/summary.json"))
assert summary["n_adapters"] == 3, summary["n_adapters"]
names = [a["name"] for a in summary["adapters"]]
assert names[0] == "global" and sorted(names[1:]) == sorted(a[:-3] for a in adapters), names

rated = {}
test_items = {}
for path in glob.glob(f"{run}/eval/predictions-rank-*.jsonl"):
    for line in open(path):
        p = json.loads(line)
        rated.setdefault(p["predictor"], set()).add((p["user"], p["item"]))
        if p["predictor"] == "bias":
            test_items.setdefault(p["user"], set()).add(p["item"])
per_user = rated["agent_per_user"]
assert {u for u, _ in per_user} == chosen, ({u for u, _ in per_user}, chosen)
assert per_user == {(u, i) for u in chosen for i in test_items[u]}, "not every test item of the chosen users"
assert rated["agent_global"] == rated["bias"], "the global agent must rate every test rating"

metrics = {p["name"]: p for p in json.load(open(f"{run}/eval/metrics.json"))["predictors"]}
pu = metrics["agent_per_user"]
assert pu["overall"]["n_rated"] + pu["overall"]["n_unrelated"] == len(per_user), pu["overall"]
assert pu["vs_reference"]["ratings"] == "the predictor's subset", pu["vs_reference"]
assert metrics["agent_global"]["vs_reference"]["ratings"] == "all", metrics["agent_global"]["vs_reference"]
print("per-user adapters for", sorted(chosen), "of", len(n_train), "users;", len(per_user), "ratings")
PY

"$BIN" eval "${args[@]:1}" --force > "$tmp/second.log" 2>&1 || { tail -30 "$tmp/second.log" >&2; fail "eval on 1 rank failed"; }
grep -q "agents 'per_user': 3 users rated by an earlier run are kept" "$tmp/second.log" ||
  fail "eval on 1 rank did not keep the per_user journal: $(grep "agents 'per_user'" "$tmp/second.log")"
echo "PASS"
