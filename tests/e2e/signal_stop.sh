#!/usr/bin/env bash
# e2e: a graceful stop under mpirun (docs/exit-codes.md, "Signals and time
# limits"). A real `personas run` on 2 ranks (synthetic users, distill against
# the scripted endpoint tests/e2e/fake_openai.py, the tiny quickstart model):
#   1. SIGUSR1 to mpirun in the middle of distill: exit 7, no distill DONE,
#      the users written so far kept;
#   2. the same command again, through jobs/run.sh (mpirun launcher), and a
#      SIGTERM to that script in the middle of train (it passes USR1 to
#      mpirun: mpirun itself turns a TERM into SIGKILL after 1 s and exit 1):
#      exit 7, no train DONE, checkpoints saved;
#   3. the same command once more finishes, and its outputs equal an
#      uninterrupted run's (tests/e2e/compare_runs.py: memories, per-user
#      predictions, metrics, training losses, adapters).
# Signal to exit of every rank is measured per stage and bounded
# (PERSONAS_STOP_BOUND_S, default 20 s on a loaded 2-core machine).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -e

BOUND="${PERSONAS_STOP_BOUND_S:-20}"
require_mpirun
[[ -x "$BIN" ]] || fail "personas binary '$BIN' not found (set PERSONAS_BINARY)"

tmp="$(mktemp -d /tmp/personas-signal-stop.XXXXXX)"
server=""
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; fi
  for pid in $(pgrep -f -- "--run.dir $tmp/" || true); do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 "$SRC/tests/e2e/fake_openai.py" "$tmp/port" "$tmp/requests" --delay 0.05 > "$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
[[ -s "$tmp/port" ]] || fail "the fake endpoint did not start: $(cat "$tmp/server.log")"

args() {  # the run's arguments, with its run directory
  echo run --config "$SRC/configs/quickstart.ini" --run.dir "$1" --data.n_users 40 --data.min_ratings 30 \
    --distill.provider openai --distill.base_url "http://127.0.0.1:$(cat "$tmp/port")/v1" --distill.model fake \
    --distill.prompts "$SRC/configs/prompts/distill-v1" --distill.in_flight 2 --distill.users_per_chunk 1 \
    --train.max_steps 30 --train.checkpoint_every 5 --train.val_every 0 --eval.agent_max_items 2 \
    --eval.bootstrap_samples 20
}
# shellcheck disable=SC2207
run_args=($(args "$tmp/run"))
# shellcheck disable=SC2207
ref_args=($(args "$tmp/ref"))

# now_s: seconds since the epoch, with fractions.
now_s() { date +%s.%N; }
# elapsed A B: seconds from A to B (now_s values), two decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "== 1. SIGUSR1 to mpirun in the middle of distill"
mpirun -np 2 --oversubscribe "$BIN" "${run_args[@]}" > "$tmp/first.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  [[ -f "$tmp/requests" ]] && (( $(wc -l < "$tmp/requests") >= 20 )) && break
  kill -0 "$launcher" 2>/dev/null || { tail -20 "$tmp/first.log" >&2; fail "the run ended before distill was under way"; }
  sleep 0.1
done
[[ ! -f "$tmp/run/distill/DONE" ]] || fail "distill finished before the signal: make it longer"
kill -USR1 "$launcher"
signalled=$(now_s)
set +e; wait "$launcher"; rc=$?; set -e
distill_s=$(elapsed "$signalled" "$(now_s)")
(( rc == 7 )) || { tail -30 "$tmp/first.log" >&2; fail "mpirun exited $rc after SIGUSR1 in distill (expected 7)"; }
[[ $(grep -c "interrupted: stopped by .* in distill" "$tmp/first.log") -eq 2 ]] || fail "both ranks must say where they stopped"
[[ ! -f "$tmp/run/distill/DONE" ]] || fail "a stopped distill must not be DONE"
[[ -f "$tmp/run/prepare/DONE" ]] || fail "prepare must stay DONE"
echo "distill: SIGUSR1 to mpirun -> exit 7 on every rank in $distill_s s"

echo "== 2. the same command through jobs/run.sh, SIGTERM to it in the middle of train"
PERSONAS_BINARY="$BIN" PERSONAS_NP=2 PERSONAS_MPIRUN_ARGS="--oversubscribe" \
  "$SRC/jobs/run.sh" "$SRC/configs/quickstart.ini" "$tmp/run" -- "${run_args[@]:5}" > "$tmp/second.log" 2>&1 &
launcher=$!
for _ in $(seq 1 1200); do
  [[ -f "$tmp/run/train/log-rank-00001.jsonl" ]] && (( $(wc -l < "$tmp/run/train/log-rank-00001.jsonl") >= 3 )) && break
  kill -0 "$launcher" 2>/dev/null || { tail -20 "$tmp/second.log" >&2; fail "the run ended before training was under way"; }
  sleep 0.2
done
kill -TERM "$launcher"
signalled=$(now_s)
set +e; wait "$launcher"; rc=$?; set -e
train_s=$(elapsed "$signalled" "$(now_s)")
(( rc == 7 )) || { tail -30 "$tmp/second.log" >&2; fail "jobs/run.sh exited $rc after SIGTERM in train (expected 7)"; }
[[ $(grep -c "interrupted: stopped by .* in train" "$tmp/second.log") -eq 2 ]] || fail "both ranks must say where they stopped"
[[ -f "$tmp/run/distill/DONE" && ! -f "$tmp/run/train/DONE" ]] || fail "distill must be DONE and train not"
ls "$tmp/run/train/checkpoints"/* > /dev/null 2>&1 || fail "no training checkpoint saved"
echo "train: SIGTERM to jobs/run.sh (USR1 to mpirun) -> exit 7 on every rank in $train_s s"

echo "== 3. the same command again finishes; an uninterrupted run to compare"
mpirun -np 2 --oversubscribe "$BIN" "${run_args[@]}" > "$tmp/third.log" 2>&1 ||
  { tail -30 "$tmp/third.log" >&2; fail "the resumed run failed"; }
mpirun -np 2 --oversubscribe "$BIN" "${ref_args[@]}" > "$tmp/ref.log" 2>&1 ||
  { tail -30 "$tmp/ref.log" >&2; fail "the uninterrupted run failed"; }
python3 "$SRC/tests/e2e/compare_runs.py" "$tmp/run" "$tmp/ref" || fail "the resumed run differs from the uninterrupted one"

awk -v d="$distill_s" -v t="$train_s" -v b="$BOUND" 'BEGIN { exit !(d <= b && t <= b) }' ||
  fail "signal to exit took distill $distill_s s, train $train_s s (bound $BOUND s)"
echo "signal_stop: ok (signal to exit: distill $distill_s s, train $train_s s; bound $BOUND s)"
