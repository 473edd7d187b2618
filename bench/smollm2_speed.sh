#!/bin/bash
# The Speed figures of issue 20 (docs/engine.md, "Speed"), ours and PyTorch's
# alternating in one run, on the SmolLM2-135M shape and today's bench shape.
#
#   bench/smollm2_speed.sh BUILD_DIR [PARTS]
#     PARTS: any of prefill train train_bench decode prefix (default: all)
#   env: MODEL (default ~/.cache/personas/models/smollm2/smollm2-135m-instruct.h5)
#        TORCH_PYTHON (default /root/.cache/personas/venv-torch/bin/python: torch, transformers, peft, h5py)
#        ROUNDS=3 (alternating rounds per comparison), THREADS=2, TRAIN_STEPS=1,
#        ALL_POSITIONS=1 (also the bench-shape step with PyTorch's head over every position)
#
# Prints one line per measurement (JSON from our benches, the PyTorch scripts'
# lines) with the load average before each, so the spread can be judged.
set -uo pipefail
[[ $# -ge 1 && -d $1 ]] || { echo "usage: bench/smollm2_speed.sh BUILD_DIR [PARTS...]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" && pwd)
shift
PARTS=${*:-prefill train train_bench decode prefix}
MODEL=${MODEL:-$HOME/.cache/personas/models/smollm2/smollm2-135m-instruct.h5}
PY=${TORCH_PYTHON:-/root/.cache/personas/venv-torch/bin/python}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
TRAIN_STEPS=${TRAIN_STEPS:-1}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1
load() { echo "# $(date -u +%H:%M:%S) load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }
has() { [[ " $PARTS " == *" $1 "* ]]; }
[[ -f $MODEL ]] || { echo "missing $MODEL: scripts/fetch-model.sh smollm2 --personas $BUILD/personas" >&2; exit 2; }
"$PY" -c "import torch, transformers, peft, h5py; print('# torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" ||
  { echo "no torch/transformers/peft/h5py in $PY" >&2; exit 2; }
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), threads $THREADS, rounds $ROUNDS"

SMOL=(--arch llama --hidden 576 --layers 30 --heads 9 --kv-heads 3 --intermediate 1536 --vocab 49152)
for r in $(seq 1 "$ROUNDS"); do
  echo "## round $r"
  if has prefill; then
    # ours: "seconds" is the warm run (256-token prompts, one new token: the prefill and
    # one last-position head); "prefill_seconds" the same work run first, cold
    load; "$BUILD/bench/bench_decode_bench" --model "$MODEL" --prompt 256 --new 1 --batches 8 --chats 0 --threads "$THREADS" | tail -1
    load; "$PY" "$ROOT/bench/pytorch_prefill.py" --model "$MODEL" --seq 256 --batch 8 --threads "$THREADS"
  fi
  if has train; then  # SmolLM2 shape, r16 on all linears, loss on 64 answer tokens, like-for-like head
    load; "$PY" "$ROOT/bench/pytorch_train_step.py" --personas "$BUILD/personas" "${SMOL[@]}" --seq 256 --batch 8 \
      --answer-tokens 64 --rank 16 --targets q,k,v,o_proj,gate_up_proj,down_proj --slice-logits --threads "$THREADS" \
      --steps "$TRAIN_STEPS"
  fi
  if has train_bench; then  # today's bench shape (hidden 512, 8 layers, LoRA q,k r8), both heads
    load; "$PY" "$ROOT/bench/pytorch_train_step.py" --personas "$BUILD/personas" --slice-logits --threads "$THREADS" --steps 3
    [[ -n ${ALL_POSITIONS:-} ]] && { load; "$PY" "$ROOT/bench/pytorch_train_step.py" --personas "$BUILD/personas" --threads "$THREADS" --steps 3; }
  fi
done
# No PyTorch counterpart: measured against this machine's bounds, once.
if has decode; then
  load; "$BUILD/bench/bench_decode_bench" --model "$MODEL" --prompt 32 --new 16 --batches 1,8,32 --chats 0 --threads "$THREADS"
fi
if has prefix; then
  load; "$BUILD/bench/bench_prefix_bench" --shape smollm2 --items 20 --reps "$ROUNDS" --threads "$THREADS"
fi
load
