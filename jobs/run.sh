#!/usr/bin/env bash
# Batch job step: personas run — every stage in one job, skipping the ones already done for this config.
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/run.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job run "$@"
