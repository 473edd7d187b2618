# Sourced first by every e2e script (tests/e2e/*.sh):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It sets what they all need, once: src (the source tree) and bin (the
# personas binary) from PERSONAS_SOURCE_DIR / PERSONAS_BINARY as ctest passes
# them (defaults: this checkout and its build/personas), the same as SRC and
# BIN; mpirun as root; fail MESSAGE (exit 1); require_mpirun (exit 77, ctest's
# skip, when there is none); e2e_tmpdir NAME (a fresh $tmp removed on exit
# unless KEEP is set; a script that must kill processes first sets its own
# trap after it). Each script keeps its own `set -e` choice.
set -uo pipefail
src="${PERSONAS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="${PERSONAS_BINARY:-$src/build/personas}"
SRC="$src"
BIN="$bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

fail() { echo "FAIL: $*" >&2; exit 1; }

require_mpirun() { command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found"; exit 77; }; }

e2e_tmpdir() {
  tmp="$(mktemp -d "/tmp/personas-${1:-e2e}.XXXXXX")"
  trap '[[ -n "${KEEP:-}" ]] || rm -rf "$tmp"' EXIT
}
