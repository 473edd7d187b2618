# shellcheck shell=bash
# Sourced by the sbatch templates (slurm/*.sbatch) once inside the allocation:
# finds the checkout, loads the site's modules, prints what the job is.
# Needs PERSONAS_ROOT (the checkout; slurm/submit.sh exports it) or a
# submission from the checkout's root (SLURM_SUBMIT_DIR).

: "${PERSONAS_ROOT:=${SLURM_SUBMIT_DIR:-$PWD}}"
if [[ ! -x "$PERSONAS_ROOT/jobs/run.sh" ]]; then
  echo "personas-job: error: $PERSONAS_ROOT is not a Personas checkout (no jobs/run.sh);" \
       "submit from the checkout's root or set PERSONAS_ROOT (slurm/submit.sh does)" >&2
  exit 2
fi
export PERSONAS_ROOT
# shellcheck source=SCRIPTDIR/../../jobs/lib/wait_child.sh
source "$PERSONAS_ROOT/jobs/lib/wait_child.sh"

site="${PERSONAS_SLURM_SITE:-$PERSONAS_ROOT/slurm/site.conf}"
[[ -r "$site" ]] || { echo "personas-job: error: site file $site not found (PERSONAS_SLURM_SITE)" >&2; exit 2; }
# shellcheck disable=SC1090
source "$site"

if [[ -n "${SITE_MODULES:-}" ]]; then
  # `module` is a shell function that batch shells may not have defined yet.
  if ! type module >/dev/null 2>&1; then
    for init in /etc/profile.d/lmod.sh /etc/profile.d/modules.sh /usr/share/lmod/lmod/init/bash; do
      # shellcheck disable=SC1090
      [[ -r "$init" ]] && { source "$init"; break; }
    done
  fi
  type module >/dev/null 2>&1 || { echo "personas-job: error: SITE_MODULES is set but this node has no 'module' command" >&2; exit 2; }
  # shellcheck disable=SC2086
  module load $SITE_MODULES
fi
if [[ -n "${SITE_ENV_SETUP:-}" ]]; then
  eval "$SITE_ENV_SETUP"
fi
if [[ -z "${PERSONAS_BINARY:-}" && -n "${SITE_BINARY:-}" ]]; then
  export PERSONAS_BINARY="$SITE_BINARY"
fi
if [[ -n "${SITE_SRUN_ARGS:-}" ]]; then
  export PERSONAS_SRUN_ARGS="${PERSONAS_SRUN_ARGS:-} $SITE_SRUN_ARGS"
fi

echo "personas-job: job ${SLURM_JOB_ID} '${SLURM_JOB_NAME:-}' on ${SLURM_JOB_NODELIST:-?}:" \
     "${SLURM_NTASKS:-1} task(s), ${SLURM_CPUS_PER_TASK:-1} CPU(s) per task," \
     "GPUs per task ${SLURM_GPUS_PER_TASK:-0}; checkout $PERSONAS_ROOT; started $(date -u +%FT%TZ)"

# A warning that comes before the step started (a margin longer than the
# job's time) is noted, not fatal: USR1's default action would end this shell.
personas_early_usr1=0
trap 'personas_early_usr1=1' USR1

# personas_step COMMAND...: runs the job's step so that it can be stopped
# gracefully and resumed. Slurm sends USR1 to this batch shell at the
# --signal=B:USR1@<margin> warning before the time limit (or on
# `scancel --batch --signal=USR1 JOB`); it is passed on to every task of the
# step (`scancel --signal=USR1`: steps only), personas saves its state at the
# next safe point and exits 7 on every rank. Then, when the job may be
# requeued (--requeue) and has restarted fewer than PERSONAS_MAX_REQUEUES
# times (default 20), the job requeues itself: Slurm starts it again (after
# its requeue delay, about 2 minutes) and the same command goes on from where
# it stopped. A TERM to this shell (the time limit itself, scancel) goes to the
# steps too. Returns the step's exit code.
personas_step() {
  local child rc
  if (( personas_early_usr1 )); then
    echo "personas-job: USR1 came before the step started (--signal margin longer than the time left?);" \
         "running it anyway: at the time limit Slurm's TERM stops it the same way" >&2
  fi
  "$@" &
  child=$!
  # shellcheck disable=SC2317  # called by the traps
  forward() {
    echo "personas-job: $1 at $(date -u +%FT%TZ): asking every task to stop at its next safe point" >&2
    scancel --signal="$1" "$SLURM_JOB_ID" 2>/dev/null || kill -s "$1" "$child" 2>/dev/null || true
  }
  trap 'forward USR1' USR1
  trap 'forward TERM' TERM
  rc=0
  wait_through_signals "$child" || rc=$?
  trap - USR1 TERM
  if (( rc == 7 )); then
    local restarts="${SLURM_RESTART_COUNT:-0}" max="${PERSONAS_MAX_REQUEUES:-20}"
    if [[ "$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null)" != *"Requeue=1"* ]]; then
      echo "personas-job: stopped (exit 7); this job cannot be requeued (submit with --requeue): resubmit it to resume" >&2
    elif (( restarts >= max )); then
      echo "personas-job: stopped (exit 7) after $restarts requeues (PERSONAS_MAX_REQUEUES=$max): resubmit to go on" >&2
    else
      echo "personas-job: stopped (exit 7) at $(date -u +%FT%TZ); requeueing job $SLURM_JOB_ID (restart $((restarts + 1))) to resume" >&2
      scontrol requeue "$SLURM_JOB_ID" || echo "personas-job: scontrol requeue failed: resubmit the job to resume" >&2
    fi
  fi
  return "$rc"
}
