#!/usr/bin/env bash
# e2e: the README's main job, shrunk to seconds, submitted to a real (local,
# single-node) Slurm exactly as a user would: sbatch --wait of
# slurm/pipeline.sbatch with configs/quickstart.ini on 2 tasks (srun --mpi=pmix).
# Checks that every stage finished, metrics.json's values are sane (check_metrics.py) for the agents
# and the baselines, and the report exists. Without Slurm (not root, packages
# missing) the same job runs under mpirun -np 2 instead, so the pipeline is
# always covered. Exit 77 only if neither Slurm nor mpirun can run here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

export PATH="$PATH:/usr/sbin:/sbin"
[[ -x "$BIN" ]] || fail "personas binary '$BIN' not found (set PERSONAS_BINARY)"

tmp="$(mktemp -d /tmp/personas-quickstart-e2e.XXXXXX)"
run_dir="$tmp/run"
# Small enough for CI: the real quickstart is the same pipeline with more users and steps.
small=(--data.n_users 40 --data.min_ratings 30 --train.max_steps 4 --train.val_every 2
       --eval.agent_max_items 3 --eval.bootstrap_samples 50)
started=0
cleanup() {
  local rc=$?
  if (( started )); then "$SRC/slurm/local/stop.sh" || rc=1; fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT

can_slurm=1
[[ $(id -u) -eq 0 ]] || can_slurm=0
for tool in munged slurmctld slurmd sbatch srun; do command -v "$tool" >/dev/null 2>&1 || can_slurm=0; done

if (( can_slurm )); then
  if ! "$SRC/slurm/local/status.sh" >/dev/null 2>&1; then
    "$SRC/slurm/local/start.sh" || fail "the local Slurm did not start (slurm/local/start.sh)"
    started=1
  fi
  echo "== sbatch --wait slurm/pipeline.sbatch configs/quickstart.ini (2 tasks)"
  cd "$SRC"
  if ! timeout 900 sbatch --wait --ntasks=2 --job-name=personas-e2e-quickstart --output="$tmp/job.out" \
      slurm/pipeline.sbatch configs/quickstart.ini "$run_dir" -- "${small[@]}"; then
    tail -40 "$tmp/job.out" >&2 || true
    fail "the quickstart job failed under Slurm"
  fi
  log="$tmp/job.out"
else
  command -v mpirun >/dev/null 2>&1 || { echo "SKIP: neither Slurm nor mpirun available"; exit 77; }
  echo "== no local Slurm here: mpirun -np 2 personas run (same job)"
  mpirun -np 2 --oversubscribe "$BIN" run --config "$SRC/configs/quickstart.ini" --run.dir "$run_dir" \
    "${small[@]}" > "$tmp/job.out" 2>&1 || { tail -40 "$tmp/job.out" >&2; fail "the quickstart failed"; }
  log="$tmp/job.out"
fi

for stage in prepare distill model embed cluster train eval report; do
  [[ -f "$run_dir/$stage/DONE" ]] || { tail -30 "$log" >&2; fail "stage $stage has no DONE marker"; }
done
[[ -s "$run_dir/report/index.html" ]] || fail "no report"
grep -q "<svg" "$run_dir/report/index.html" || fail "the report has no chart"
python3 "$SRC/tests/e2e/check_metrics.py" "$run_dir/eval/metrics.json" \
  --require agent_persona,agent_zero_shot,bias,mf_als || fail "metrics.json is not what it should be"
grep -q "summary of" "$log" || fail "no summary table in the job's log"
# The same command again skips every finished stage.
mpirun -np 2 --oversubscribe "$BIN" run --config "$SRC/configs/quickstart.ini" --run.dir "$run_dir" "${small[@]}" \
  --until eval > "$tmp/again.out" 2>&1 || fail "the second run failed"
[[ $(grep -c "done already with this configuration, skipped" "$tmp/again.out") -eq 7 ]] ||
  { cat "$tmp/again.out" >&2; fail "a second run must skip the 7 finished stages"; }
echo "quickstart_slurm: ok"
