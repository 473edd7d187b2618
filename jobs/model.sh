#!/usr/bin/env bash
# Batch job step: personas model — settle the base model: check model.path, or make a tiny one with a tokenizer trained on the run.
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/model.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job model "$@"
