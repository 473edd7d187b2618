#!/usr/bin/env bash
# Batch job step: personas train — train one LoRA adapter per persona (GPU nodes: one rank per GPU).
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/train.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job train "$@"
