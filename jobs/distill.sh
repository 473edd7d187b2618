#!/usr/bin/env bash
# Batch job step: personas distill — turn each user's history into a profile and memory notes (LLM or offline writer).
# Usable from any batch system (Slurm, PBS, LSF, cron) or by hand:
#   jobs/distill.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]      (--help for the environment)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/stage.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/stage.sh"
personas_job distill "$@"
