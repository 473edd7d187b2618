#!/usr/bin/env bash
# e2e: train.warm_start = global. The train stage first trains one global
# adapter on every sample over both ranks, then each persona adapter starts
# from it: RUN/train/adapters/global.h5 exists, the summary lists it first, and
# every persona adapter's loss before its first update is the warm start's (far
# below the seeded start the global adapter began from), and trains at
# train.warm_lr while the global adapter used train.lr. A rerun skips all; a
# rerun with another train.warm_max_steps keeps the global adapter and
# fine-tunes only the persona adapters again, for that many steps.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

require_mpirun

e2e_tmpdir warm-start
args=(run --config "$SRC/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 40 --data.min_ratings 30
      --until train --cluster.k 2 --train.warm_start global --train.warm_lr 1e-3 --train.max_steps 12 --train.val_every 0
      --train.checkpoint_every 0 --train.val_max_samples 32)
mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" > "$tmp/first.log" 2>&1 ||
  { tail -30 "$tmp/first.log" >&2; fail "the warm-start run failed"; }
[[ -f "$tmp/run/train/adapters/global.h5" ]] || fail "no global adapter"
grep -q "starts from .*global.h5" "$tmp/first.log" || fail "no adapter says it starts from global.h5"

/usr/bin/env python3 - "$tmp/run/train/summary.json" "$tmp"/run/train/log-rank-*.jsonl <<'PY' || fail "summary.json or the logs do not show the warm start"
import json, sys
s = json.load(open(sys.argv[1]))
peak = {}
for path in sys.argv[2:]:
    for line in open(path):
        e = json.loads(line)
        peak[e["adapter"]] = max(peak.get(e["adapter"], 0.0), e["lr"])
assert abs(peak["global"] - 5e-3) < 1e-9, peak              # configs/quickstart.ini's train.lr
for name in ("persona-0000", "persona-0001"):
    assert abs(peak[name] - 1e-3) < 1e-9, peak              # train.warm_lr
names = [a["name"] for a in s["adapters"]]
assert s["warm_start"] == "global", s["warm_start"]
assert names == ["global", "persona-0000", "persona-0001"], names
cold = s["adapters"][0]["initial_val_loss"]
assert "init_from" not in s["adapters"][0]
for a in s["adapters"][1:]:
    assert a["init_from"].endswith("train/adapters/global.h5"), a
    assert a["initial_val_loss"] < 0.5 * cold, (a["name"], a["initial_val_loss"], cold)
print("global starts at", round(cold, 3), "personas at", [round(a["initial_val_loss"], 3) for a in s["adapters"][1:]])
PY

mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" > "$tmp/second.log" 2>&1 ||
  { tail -30 "$tmp/second.log" >&2; fail "the rerun failed"; }
grep -q "train: done already with this configuration, skipped\|done already with this configuration" "$tmp/second.log" ||
  fail "the rerun must skip the finished train stage"

mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" --train.warm_max_steps 5 > "$tmp/third.log" 2>&1 ||
  { tail -30 "$tmp/third.log" >&2; fail "the rerun with train.warm_max_steps failed"; }
grep -q "global already trained with this configuration; skipped" "$tmp/third.log" ||
  fail "train.warm_max_steps must not make the global adapter stale"
/usr/bin/env python3 - "$tmp/run/train/summary.json" <<'PY' || fail "the persona adapters did not fine-tune for train.warm_max_steps"
import json, sys
s = json.load(open(sys.argv[1]))
by = {a["name"]: a for a in s["adapters"]}
assert by["global"].get("skipped"), by["global"]
for name in ("persona-0000", "persona-0001"):
    assert by[name]["steps"] == 5 and not by[name].get("skipped"), by[name]
PY
echo "PASS"
