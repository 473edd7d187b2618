#!/usr/bin/env bash
# Batch job step: personas report — write the self-contained HTML report and metrics.json of the run.
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/report.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job report "$@"
