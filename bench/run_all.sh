#!/bin/bash
# Runs every benchmark in bench/ with its side-by-side comparison and writes
# docs/benchmarks.md (machine, commands, raw output, ratios). Builds nothing:
# give it a build folder that has `personas` and the bench_* targets.
#
#   bench/run_all.sh BUILD_DIR [OUTPUT_MD]
#   e.g. cmake --build build-bench -j2 && bench/run_all.sh build-bench
#
# Default sizes fit a 2-core, 24 GiB machine in about 10-15 minutes (more when
# the machine is shared). Override with environment variables:
#   SYNTH_USERS=1000000 SYNTH_RATINGS=50        bench_synth_bench, 2 ranks
#   KMEANS_N=200000 KMEANS_D=256 KMEANS_K=16 KMEANS_ITERS=20
#   DISTILL_IN_FLIGHT=32 DISTILL_LATENCY_MS=200 DISTILL_WAVES=10
#   TRAIN_ARGS="--hidden 512 --layers 8 --seq 256 --batch 8 --answer-tokens 64 --steps 3"
#   EVAL_ALL_USERS=20000      every baseline incl. MF (MF replicates all ratings on every rank)
#   EVAL_BIG_USERS=1000000    the distributed baselines (global_mean,user_mean,item_mean,bias)
#   THREADS=2                 threads per run (all runs use the same number of cores)
#   AGENT_RUN=runs/quickstart  a finished run with persona adapters for bench_agent_bench (skipped if absent)
#   TORCH_PYTHON=/work/venvs/NAME/bin/python   default: ~/.cache/personas/venv-torch (current PyTorch from PyPI),
#                                              else the first /work/venvs/*/bin/python with torch,
#                                              transformers and peft; none = PyTorch comparison skipped
set -uo pipefail
if [[ $# -lt 1 || ! -d "$1" ]]; then
  echo "usage: bench/run_all.sh BUILD_DIR [OUTPUT_MD]" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
OUT=${2:-$ROOT/docs/benchmarks.md}
PERSONAS=$BUILD/personas
BENCH=$BUILD/bench
for f in "$PERSONAS" "$BENCH/bench_kmeans_bench" "$BENCH/bench_distill_bench" "$BENCH/bench_synth_bench" \
         "$BENCH/bench_eval_bench"; do
  [[ -x $f ]] || { echo "missing $f: build it first (cmake --build $1 -j2)" >&2; exit 2; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
SYNTH_USERS=${SYNTH_USERS:-1000000}; SYNTH_RATINGS=${SYNTH_RATINGS:-50}
KMEANS_N=${KMEANS_N:-200000}; KMEANS_D=${KMEANS_D:-256}; KMEANS_K=${KMEANS_K:-16}; KMEANS_ITERS=${KMEANS_ITERS:-20}
DISTILL_IN_FLIGHT=${DISTILL_IN_FLIGHT:-32}; DISTILL_LATENCY_MS=${DISTILL_LATENCY_MS:-200}; DISTILL_WAVES=${DISTILL_WAVES:-10}
TRAIN_ARGS=${TRAIN_ARGS:---hidden 512 --layers 8 --seq 256 --batch 8 --answer-tokens 64 --steps 3}
EVAL_ALL_USERS=${EVAL_ALL_USERS:-20000}; EVAL_BIG_USERS=${EVAL_BIG_USERS:-1000000}
THREADS=${THREADS:-2}
if [[ -z ${TORCH_PYTHON:-} ]]; then
  for py in "${PERSONAS_CACHE:-$HOME/.cache/personas}"/venv-torch/bin/python /work/venvs/*/bin/python; do
    [[ -x $py ]] && "$py" -c "import torch, transformers, peft" 2>/dev/null && { TORCH_PYTHON=$py; break; }
  done
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
START=$(date +%s)

# run NAME COMMAND...: runs it, keeps its output in $TMP/NAME.out and its command and seconds for the report.
run() {
  local name=$1; shift
  echo "== $name: $*" >&2
  local t0=$(date +%s.%N)
  "$@" > "$TMP/$name.out" 2>&1
  local rc=$?
  local t1=$(date +%s.%N)
  printf '%s' "$*" | sed "s#$BUILD#BUILD#g; s#$ROOT/##g" > "$TMP/$name.cmd"
  echo "$rc $(echo "$t1 - $t0" | bc) $(cut -d' ' -f1 /proc/loadavg)" > "$TMP/$name.meta"
  tail -3 "$TMP/$name.out" >&2
}

# ---- the benchmarks ---------------------------------------------------------
run sgemm "$PERSONAS" bench sgemm --run.threads "$THREADS"
run synth mpiexec -n 2 --bind-to none "$BENCH/bench_synth_bench" "$SYNTH_USERS" "$SYNTH_RATINGS" "$TMP/synth-run"
if [[ -x $BENCH/bench_prepare_bench ]]; then
  run prepare "$BENCH/bench_prepare_bench" "$ROOT/../shared/data/ml-1m/derived/ratings_user_itemidx_rating.tsv.gz" \
      "$TMP/prepare-run"
fi
run distill1 "$BENCH/bench_distill_bench" --in-flight "$DISTILL_IN_FLIGHT" --latency-ms "$DISTILL_LATENCY_MS" \
    --waves "$DISTILL_WAVES"
run distill2 mpiexec -n 2 --bind-to none "$BENCH/bench_distill_bench" --in-flight "$DISTILL_IN_FLIGHT" \
    --latency-ms "$DISTILL_LATENCY_MS" --waves "$DISTILL_WAVES"
run kmeans /usr/bin/python3 "$ROOT/bench/kmeans_sklearn.py" --bench "$BENCH/bench_kmeans_bench" --n "$KMEANS_N" \
    --d "$KMEANS_D" --k "$KMEANS_K" --iters "$KMEANS_ITERS" --threads "$THREADS"
# shellcheck disable=SC2086
if [[ -n ${TORCH_PYTHON:-} ]]; then
  run train "$TORCH_PYTHON" "$ROOT/bench/pytorch_train_step.py" --personas "$PERSONAS" --threads "$THREADS" $TRAIN_ARGS
else
  run train "$PERSONAS" bench train-step --run.threads "$THREADS" $TRAIN_ARGS
fi
run eval_all1 "$BENCH/bench_eval_bench" --users "$EVAL_ALL_USERS"
run eval_all2 mpiexec -n 2 --bind-to none "$BENCH/bench_eval_bench" --users "$EVAL_ALL_USERS"
run eval_big1 "$BENCH/bench_eval_bench" --users "$EVAL_BIG_USERS" --baselines global_mean,user_mean,item_mean,bias
run eval_big2 mpiexec -n 2 --bind-to none "$BENCH/bench_eval_bench" --users "$EVAL_BIG_USERS" \
    --baselines global_mean,user_mean,item_mean,bias
# Agents' scoring speed needs a finished run with persona adapters (scripts/quickstart.sh makes one).
AGENT_RUN=${AGENT_RUN:-$ROOT/runs/quickstart}
if [[ -x $BENCH/bench_agent_bench && -f $AGENT_RUN/train/DONE ]]; then
  run agents "$BENCH/bench_agent_bench" "$AGENT_RUN" --pairs 128 --generate-pairs 32 --threads "$THREADS"
fi
TOTAL=$(( $(date +%s) - START ))

# ---- the report -------------------------------------------------------------
meta() { cut -d' ' -f"$2" "$TMP/$1.meta"; }
grab() { grep -E "$2" "$TMP/$1.out" | tail -1; }
section() {  # section NAME TITLE
  local name=$1 title=$2
  [[ -f $TMP/$name.out ]] || return 0
  echo "### $title"
  echo
  printf '`%s`  \n' "$(cat "$TMP/$name.cmd")"
  printf 'exit %s, %.1f s, load average %s at the end\n\n' "$(meta "$name" 1)" "$(meta "$name" 2)" "$(meta "$name" 3)"
  echo '```'
  grep -v '^{' "$TMP/$name.out" | sed 's/\x1b\[[0-9;]*m//g' | grep -v ' ETA ' | tail -25
  echo '```'
  echo
}
ratio_eval() {  # ratings/s per baseline from the JSON lines, with the ratio to global_mean
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path) if l.startswith("{")]
    if not rows:
        continue
    ref = next((r for r in rows if r["baseline"] == "global_mean"), rows[0])
    for r in rows:
        print(f"| {r['users']:,} | {r['ranks']} | {r['baseline']} | {r['fit_seconds']:.2f} | {r['predict_seconds']:.2f} | "
              f"{r['metrics_seconds']:.2f} | {r['test_ratings_per_second'] / 1e6:.3f} | "
              f"{r['test_ratings_per_second'] / ref['test_ratings_per_second']:.3f} | {r['rmse']:.4f} |")
PY
}
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bench/run_all.sh $1\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${TOTAL} s. Rerun it to refresh this"
  echo "page; every comparison below ran in the same invocation, on the same machine, with the same number of cores."
  echo
  echo "## Machine and conditions"
  echo
  echo "| | |"
  echo "| --- | --- |"
  echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p') |"
  echo "| cores (online) | $(nproc) ($(lscpu | sed -n 's/^Thread(s) per core: *//p') thread(s) per core) |"
  echo "| memory | $(free -g | awk '/^Mem:/ {print $2 " GiB"}') |"
  echo "| OS | $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r) |"
  echo "| git commit | $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bench cuda || echo ' (working tree had uncommitted changes in src/, bench/ or cuda/)') |"
  echo "| build | $(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" | cut -d= -f2), $(grep -E '^CMAKE_CXX_COMPILER:' "$BUILD/CMakeCache.txt" | cut -d= -f2) |"
  echo "| threads per run | $THREADS (1 rank x $THREADS threads, or 2 ranks x 1) |"
  echo "| load average at start / end | $(cat "$TMP/sgemm.meta" | cut -d' ' -f3) / $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo
  echo "The machine may be shared (other builds and jobs): absolute times are noisy; ratios measured"
  echo "in the same run (ours against the reference, back to back) are the figures to quote."
  echo
  echo "## Summary: side by side"
  echo
  echo "| what | ours | reference | ratio |"
  echo "| --- | --- | --- | --- |"
  k=$(grab kmeans 'speed-up over scikit-learn per iteration' | sed 's/.*per iteration: //')
  kmeans_times=$(/usr/bin/python3 - "$TMP/kmeans.out" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    if ":" in line and "{" in line:
        label, _, body = line.partition(":")
        try:
            o = json.loads(body.strip())
        except ValueError:
            continue
        runs[label.strip()] = o["fit_seconds"] / max(o["iterations"], 1)
print(f"{runs.get('ours, 1 rank', float('nan')):.4f} s/iter (1 rank), {runs.get('ours, 2 ranks', float('nan')):.4f} (2 ranks)"
      f" | scikit-learn {runs.get('scikit-learn', float('nan')):.4f} s/iter")
PY
)
  echo "| k-means ${KMEANS_N} x ${KMEANS_D}, K=${KMEANS_K}, ${KMEANS_ITERS} Lloyd iterations | ${kmeans_times} | ${k:-?} (scikit-learn time / ours; > 1 = we are faster) |"
  for d in distill1 distill2; do
    a=$(grab "$d" 'achieved')
    echo "| distill client, $(grab "$d" '^distill_bench' | grep -o 'ranks=[0-9]*'), ${DISTILL_IN_FLIGHT} in flight, ${DISTILL_LATENCY_MS} ms latency | $(echo "$a" | grep -o 'achieved [0-9.]* req/s' | cut -d' ' -f2) req/s | ideal $(echo "$a" | grep -o 'ideal [0-9.]* req/s' | cut -d' ' -f2) req/s | $(echo "$a" | grep -o '([0-9.]*%' | tr -d '(') of ideal |"
  done
  if [[ -n ${TORCH_PYTHON:-} ]]; then
    echo "| LoRA train step ($TRAIN_ARGS) | $(grab train '^train-step:' | grep -o '[0-9]* tokens/s') | PyTorch eager + PEFT: $(grab train '^pytorch train-step' | grep -o '[0-9]* tokens/s') | $(grab train 'ratio personas' | grep -o '[0-9.]*x') (ours / PyTorch) |"
  else
    echo "| LoRA train step ($TRAIN_ARGS) | $(grab train '^train-step:' | grep -o '[0-9]* tokens/s') | skipped: no PyTorch (no /work/venvs/*/bin/python with torch, transformers, peft); run \`VENV/bin/python bench/pytorch_train_step.py --personas BUILD/personas\` | - |"
  fi
  echo "| LoRA train step against this machine's sgemm floor | $(grab train '^train-step:' | grep -o '[0-9.]* GFLOP/s$') | $(grab train '^sgemm \[' | grep -o 'floor [0-9.]* s/step') | $(grab train 'we are' | grep -o 'we are [0-9.]*x[^;]*' | head -1) |"
  for e in eval_all1 eval_all2 eval_big1 eval_big2; do
    [[ -f $TMP/$e.out ]] || continue
    best=$(grep '^{' "$TMP/$e.out" | /usr/bin/python3 -c "import json,sys; r=[json.loads(l) for l in sys.stdin]; b=[x for x in r if x['baseline']=='bias']; g=[x for x in r if x['baseline']=='global_mean']; print(f\"{b[0]['test_ratings_per_second']/1e6:.2f} M ratings/s (bias) | global mean {g[0]['test_ratings_per_second']/1e6:.2f} M/s | {b[0]['test_ratings_per_second']/g[0]['test_ratings_per_second']:.2f}x\" if b and g else '? | ? | ?')")
    echo "| evaluation, $(grab "$e" '^eval_bench:' | grep -o '[0-9]* users') on $(grab "$e" '^eval_bench:' | grep -o '[0-9] rank(s)') | $best |"
  done
  if [[ -f $TMP/agents.out ]]; then
    grep '^{"measure"' "$TMP/agents.out" | /usr/bin/python3 -c "
import json, sys
for r in map(json.loads, sys.stdin):
    print(f\"| agents, {r['measure']} ({r['personas']} personas, {r['threads']} thread(s)) | {r['ratings_per_cpu_s']:.1f} ratings per CPU s, {r['ratings_per_s']:.1f}/s wall | - | - |\")"
  else
    echo "| agents (expected vs generate, mixed vs one adapter) | skipped: no finished run at \$AGENT_RUN (run scripts/quickstart.sh) | - | - |"
  fi
  echo
  echo "## Evaluation throughput of the classical baselines"
  echo
  echo "Fit on the training period, predict every test rating, metrics with a 200-sample bootstrap over users;"
  echo "M test ratings/s end to end (fit + predict + metrics); ratio to global_mean in the same run. MF (SGD, ALS)"
  echo "gathers every training rating on every rank and trains one replicated model: it does not get faster"
  echo "with ranks, so it runs on the smaller set only."
  echo
  echo "| users | ranks | baseline | fit s | predict s | metrics s | M test ratings/s | vs global_mean | RMSE |"
  echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  ratio_eval "$TMP"/eval_all1.out "$TMP"/eval_all2.out "$TMP"/eval_big1.out "$TMP"/eval_big2.out
  echo
  echo "## Each benchmark: command and output"
  echo
  section sgemm "sgemm (this machine's BLAS rate: the floor for the training step)"
  section synth "Synthetic users (prepare's generator), 2 ranks"
  section prepare "prepare on the ML-1M fallback file"
  section distill1 "Distillation client against the fake server, 1 rank"
  section distill2 "Distillation client against the fake server, 2 ranks"
  section kmeans "k-means against scikit-learn (same data, same initial centroids, same iterations)"
  section train "LoRA training step$([[ -n ${TORCH_PYTHON:-} ]] && echo ' against PyTorch + PEFT' || echo ' (PyTorch comparison skipped: no venv with torch)')"
  section eval_all1 "Evaluation baselines, every baseline, 1 rank"
  section eval_all2 "Evaluation baselines, every baseline, 2 ranks"
  section eval_big1 "Evaluation baselines, distributed ones, 1 rank"
  section eval_big2 "Evaluation baselines, distributed ones, 2 ranks"
  if [[ -f $TMP/agents.out ]]; then
    section agents "Agents: expected vs generate mode, mixed-persona batches vs one adapter at a time"
    echo '```'
    grep '^{' "$TMP/agents.out"
    echo '```'
  fi
} > "$OUT"
echo "wrote $OUT in ${TOTAL} s" >&2
