#!/usr/bin/env bash
# Configures and builds Personas into build/ (installs missing Debian packages first).
# Usage: scripts/build.sh [extra cmake -D options]
# Env: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default nproc),
#      BUILD_TARGETS (default: everything; the quickstart builds only `personas`).
# The quickstart and the test command configure alike (warnings as errors), so
# the test command reuses the quickstart's objects instead of rebuilding them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/install-deps.sh "${INSTALL_DEPS_FLAGS:-}"
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DPERSONAS_WERROR=ON "$@"
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j"${JOBS:-$(nproc)}" "${targets[@]}"
