#!/usr/bin/env bash
# One gate for DONE markers (pipeline/stage_gate.h): every stage run alone
# after `personas run` is skipped as done; `run` after a stage run alone skips
# it; --force redoes it; a changed key of a hashed section redoes that stage
# and every later one, with the reason logged; run prints what remains and an
# ETA first. Small: 24 users, 2 train steps.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_tmpdir stage-gate
args=(--config "$src/configs/quickstart.ini" --run.dir "$tmp/run" --data.n_users 24
      --train.max_steps 2 --train.val_every 0 --cluster.k 2 --eval.agent_max_items 2 --eval.bootstrap_samples 50)
stages=(prepare distill model embed cluster train eval)

"$bin" run "${args[@]}" >"$tmp/first.log" 2>&1 || { cat "$tmp/first.log"; fail "first run"; }
for s in "${stages[@]}" report; do
  [[ -f "$tmp/run/$s/DONE" ]] || fail "run left no $s/DONE"
done

# Each stage alone after run: skipped, and its marker untouched.
for s in "${stages[@]}"; do
  before="$(cat "$tmp/run/$s/DONE")"
  out="$("$bin" "$s" "${args[@]}" 2>&1)" || fail "$s alone after run exited non-zero: $out"
  grep -q "$s: done already with this configuration, skipped; pass --force to redo it" <<<"$out" ||
    fail "$s alone after run was not skipped: $out"
  [[ "$before" == "$(cat "$tmp/run/$s/DONE")" ]] || fail "$s alone rewrote its DONE while skipping"
done
# synth is the prepare stage of synthetic data: skipped too.
grep -q "prepare: done already" <<<"$("$bin" synth "${args[@]}" 2>&1)" || fail "synth after run not skipped"

# --force redoes a stage alone; run afterwards skips it (same hash).
out="$("$bin" cluster "${args[@]}" --force 2>&1)" || fail "cluster --force: $out"
grep -q "cluster: redone on request" <<<"$out" || fail "cluster --force did not redo: $out"
out="$("$bin" run "${args[@]}" 2>&1)" || fail "run after cluster --force: $out"
for s in "${stages[@]}"; do
  grep -q "$s: done already with this configuration, skipped" <<<"$out" || fail "run did not skip $s: $out"
done
grep -q "report: redone every time" <<<"$out" || fail "report is redone by every run: $out"

# Model and report alone write their markers (they wrote none before the gate).
rm -f "$tmp/run/model/DONE" "$tmp/run/report/DONE"
"$bin" model "${args[@]}" >/dev/null 2>&1 || fail "model alone"
"$bin" report "${args[@]}" >/dev/null 2>&1 || fail "report alone"
[[ -f "$tmp/run/model/DONE" && -f "$tmp/run/report/DONE" ]] || fail "model or report alone wrote no DONE"

# A changed [embed] key: embed alone redoes it, naming the stale hash; run then
# redoes cluster, train and eval (chained hashes) and skips the stages before.
out="$("$bin" embed "${args[@]}" --embed.features text 2>&1)" || fail "embed with a new key: $out"
grep -q "embed: stale (config hash .* -> .*), redoing" <<<"$out" || fail "embed with a new key not redone: $out"
out="$("$bin" run "${args[@]}" --embed.features text 2>&1)" || fail "run with the new key: $out"
for s in prepare distill model embed; do
  grep -q "$s: done already with this configuration, skipped" <<<"$out" || fail "run with new embed key redid $s"
done
for s in cluster train eval; do
  grep -q "$s: stale (config hash .* -> .*), redoing" <<<"$out" || fail "run with new embed key kept $s: $out"
  # The plan printed first lists it, with the time its last run took.
  grep -Eq "^  $s +stale \(config hash .*\), redoing; took .* last time" <<<"$out" || fail "the plan does not list $s: $out"
done
grep -Eq "^  embed +done$" <<<"$out" || fail "the plan does not show embed done: $out"
grep -Eq "^  ETA [0-9.]+[a-z]" <<<"$out" || fail "the plan has no ETA from the stages' last runs: $out"
python3 "$src/tests/e2e/check_metrics.py" "$tmp/run/eval/metrics.json" --require global_mean,bias,agent_persona ||
  fail "metrics after the redo"
echo "stage_gate: ok"
