#!/usr/bin/env bash
# e2e fault: one rank is killed (SIGKILL) in the middle of training. Every rank
# must stop within a bounded time (no hang) with a non-zero exit, and running
# `personas run` again resumes (finished stages skipped, training from its
# checkpoints), completes every stage, and gives the same results as an
# uninterrupted run of the same configuration: the same per-user predictions
# and metrics (timings aside) and the same training losses step by step.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

require_mpirun

tmp="$(mktemp -d /tmp/personas-rank-kill.XXXXXX)"
trap 'pkill -9 -f "$tmp/run" 2>/dev/null || true; rm -rf "$tmp"' EXIT
args=(run --config "$SRC/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 40 --data.min_ratings 30
      --train.max_steps 60 --train.checkpoint_every 5 --train.val_every 0 --eval.agent_max_items 2
      --eval.bootstrap_samples 20)

mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" > "$tmp/first.log" 2>&1 &
launcher=$!
# Wait until training has logged a few steps on rank 1.
for _ in $(seq 1 600); do
  if [[ -f "$tmp/run/train/log-rank-00001.jsonl" ]] && (( $(wc -l < "$tmp/run/train/log-rank-00001.jsonl") >= 3 )); then break; fi
  kill -0 "$launcher" 2>/dev/null || { cat "$tmp/first.log" >&2; fail "the run ended before training started"; }
  sleep 0.5
done
victim="$(pgrep -f -- "--run.dir $tmp/run" | while read -r pid; do
  [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == personas ]] && echo "$pid"; done | tail -1)"
[[ -n "$victim" ]] || fail "no personas rank found to kill"
echo "== killing rank process $victim during training"
kill -9 "$victim"
start=$(date +%s)
set +e
timeout 120 bash -c "while kill -0 $launcher 2>/dev/null; do sleep 0.5; done"
waited=$?
wait "$launcher"; rc=$?
set -e
(( waited == 0 )) || fail "the other ranks were still running 120 s after the kill (hang)"
(( rc != 0 )) || fail "the job exited 0 after losing a rank"
echo "== every rank stopped $(( $(date +%s) - start )) s after the kill (exit $rc)"
[[ ! -f "$tmp/run/train/DONE" ]] || fail "train must not be marked done after the kill"

mpirun -np 2 --oversubscribe "$BIN" "${args[@]}" > "$tmp/second.log" 2>&1 ||
  { tail -40 "$tmp/second.log" >&2; fail "the rerun failed"; }
for stage in prepare distill model embed cluster train eval report; do
  [[ -f "$tmp/run/$stage/DONE" ]] || fail "stage $stage not done after the rerun"
done
[[ $(grep -c "done already with this configuration, skipped" "$tmp/second.log") -ge 5 ]] ||
  fail "the rerun must skip the stages finished before the kill"
# Its plan, printed first, says train resumes what the killed run left.
grep -Eq "^  train +resumes what an unfinished run left in .*/train" "$tmp/second.log" ||
  fail "the rerun's plan does not say that train resumes: $(head -20 "$tmp/second.log")"
grep -Eq "^  cluster +done$" "$tmp/second.log" || fail "the rerun's plan does not show cluster done"

echo "== an uninterrupted run of the same configuration, to compare"
ref_args=("${args[@]}")
ref_args[4]="$tmp/ref"
mpirun -np 2 --oversubscribe "$BIN" "${ref_args[@]}" > "$tmp/ref.log" 2>&1 ||
  { tail -40 "$tmp/ref.log" >&2; fail "the uninterrupted run failed"; }
cmp -s "$tmp/run/eval/per-user.jsonl" "$tmp/ref/eval/per-user.jsonl" ||
  { diff "$tmp/run/eval/per-user.jsonl" "$tmp/ref/eval/per-user.jsonl" | head -5 >&2;
    fail "per-user predictions of the resumed run differ from the uninterrupted run"; }
# metrics.json without timings; the loss of every training step (the resumed
# log holds the steps before the kill, possibly again after the checkpoint).
/usr/bin/python3 - "$tmp/run" "$tmp/ref" <<'PY' || fail "the resumed run's results differ from the uninterrupted run"
import json, sys, glob, os
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if "second" not in k and "time" not in k}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
resumed, ref = (strip(json.load(open(os.path.join(d, "eval/metrics.json")))) for d in sys.argv[1:])
if resumed != ref:
    sys.exit("metrics.json differs")
def losses(d):
    steps = {}
    for path in glob.glob(os.path.join(d, "train/log-rank-*.jsonl")):
        for line in open(path):
            r = json.loads(line)
            if "loss" in r and "step" in r and "adapter" in r:
                steps.setdefault((r["adapter"], r["step"]), set()).add(r["loss"])
    return steps
a, b = losses(sys.argv[1]), losses(sys.argv[2])
if set(a) != set(b):
    sys.exit(f"different training steps: {len(a)} resumed, {len(b)} uninterrupted")
bad = [k for k in a if a[k] != b[k]]
if bad:
    sys.exit(f"{len(bad)} steps have different losses, e.g. {bad[0]}: {a[bad[0]]} vs {b[bad[0]]}")
print(f"{len(a)} training steps with identical losses; metrics identical")
PY

# --from redoes stages on every rank: rank 0 clears a marker that the other
# ranks must not read on their own (they once failed on the vanished file).
mpirun -np 2 --oversubscribe "$BIN" "${ref_args[@]}" --from embed --until cluster > "$tmp/from.log" 2>&1 ||
  { tail -20 "$tmp/from.log" >&2; fail "run --from embed failed"; }
grep -q "cluster: redone (run.from = embed)" "$tmp/from.log" || fail "run --from embed did not redo cluster"
echo "rank_kill: ok"
