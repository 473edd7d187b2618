#!/usr/bin/env bash
# The main job end to end on the built-in default: synthetic users, a tiny
# random model and tokenizer made on the spot, the offline distiller, 2 MPI
# ranks. Installs what is missing and builds first. Output: runs/quickstart/.
# Usage: scripts/quickstart.sh [extra `personas run` arguments, e.g. --data.n_users 400]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe build/personas run --config configs/quickstart.ini "$@"
