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
