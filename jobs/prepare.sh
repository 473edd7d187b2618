#!/usr/bin/env bash
# Batch job step: personas prepare — load ratings (or synthetic users), select users, split by time, shard over ranks.
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/prepare.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job prepare "$@"
