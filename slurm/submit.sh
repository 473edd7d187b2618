#!/usr/bin/env bash
# Submits the Personas pipeline to Slurm with the resources of the site file,
# printing the plan (every sbatch line, with its dependency) first.
#
# usage: slurm/submit.sh CONFIG [--chain|--single] [--dry-run] [--wait]
#                        [--site FILE] [--run-dir DIR] [--from STAGE]
#                        [--until STAGE] [-- PERSONAS_ARGS...]
#   --single     (default) one job runs every stage: slurm/pipeline.sbatch
#   --chain      one job per stage, each --dependency=afterok on the previous:
#                prepare distill embed cluster on CPU nodes with many ranks,
#                model and report on one rank, train eval on GPU nodes with
#                one rank per GPU (as set by SITE_KIND_<stage> in the site file)
#   --dry-run    print the plan, submit nothing
#   --wait       return when the job(s) ended; exit 0 only if all succeeded
#   --site FILE  site settings (default $PERSONAS_SLURM_SITE or slurm/site.conf)
#   --run-dir D  run directory (default: the config's [run] dir)
#   --from/--until STAGE   a part of the chain (--chain) or of `personas run`
#   -- ARGS      passed to every personas command (e.g. -- --train.lr 1e-4)
# Job logs go to RUN_DIR/slurm/<job name>-<job id>.out.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=SCRIPTDIR/../jobs/lib/stages.sh
source "$ROOT/jobs/lib/stages.sh"
STAGES=("${PERSONAS_STAGES[@]}")

usage() { awk 'NR >= 5 && !/^#/ {exit} NR >= 5 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }
die() { echo "slurm/submit.sh: error: $*" >&2; exit 2; }

config="" mode=single dry_run=0 wait=0 site="${PERSONAS_SLURM_SITE:-$ROOT/slurm/site.conf}"
run_dir="" from="" until="" extra=()
while (( $# > 0 )); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --chain) mode=chain ;;
    --single) mode=single ;;
    --dry-run) dry_run=1 ;;
    --wait) wait=1 ;;
    --site) site="${2:?--site needs a file}"; shift ;;
    --run-dir) run_dir="${2:?--run-dir needs a directory}"; shift ;;
    --from) from="${2:?--from needs a stage}"; shift ;;
    --until) until="${2:?--until needs a stage}"; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) [[ -z "$config" ]] || die "two configs given ('$config' and '$1')"; config="$1" ;;
  esac
  shift
done
[[ -n "$config" ]] || { usage >&2; die "no CONFIG given"; }
[[ -r "$config" ]] || die "config file '$config' not found or not readable"
[[ -r "$site" ]] || die "site file '$site' not found (--site or PERSONAS_SLURM_SITE)"
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
site="$(cd "$(dirname "$site")" && pwd)/$(basename "$site")"
# shellcheck disable=SC1090
source "$site"

stage_index() {
  local i
  for i in "${!STAGES[@]}"; do [[ "${STAGES[$i]}" == "$1" ]] && { echo "$i"; return; }; done
  die "unknown stage '$1' (stages: ${STAGES[*]})"
}
first=0 last=$(( ${#STAGES[@]} - 1 ))
[[ -n "$from" ]] && first="$(stage_index "$from")"
[[ -n "$until" ]] && last="$(stage_index "$until")"
(( first <= last )) || die "--from $from comes after --until $until"

# The run directory: --run-dir, else the config's [run] dir (as personas reads
# it: '#' and ';' start comments), else personas' default.
if [[ -z "$run_dir" ]]; then
  run_dir="$(awk '
    { sub(/[#;].*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") }
    /^\[.*\]$/ { section = substr($0, 2, length($0) - 2); next }
    section == "run" && /^dir[ \t]*=/ { sub(/^dir[ \t]*=[ \t]*/, ""); dir = $0 }
    END { print dir }' "$config")"
  for arg_index in "${!extra[@]}"; do   # a --run.dir among the personas args wins
    [[ "${extra[$arg_index]}" == --run.dir ]] && run_dir="${extra[$((arg_index + 1))]:-}"
  done
  : "${run_dir:=runs/default}"
fi
[[ "$run_dir" == /* ]] || run_dir="$PWD/$run_dir"
log_dir="$run_dir/slurm"
if [[ -n "${PERSONAS_BINARY:-}" && "$PERSONAS_BINARY" != /* ]]; then PERSONAS_BINARY="$PWD/$PERSONAS_BINARY"; fi
for value in "$ROOT" "$site" "${PERSONAS_BINARY:-}"; do
  [[ "$value" != *,* ]] || die "'$value' contains a comma, which sbatch --export cannot carry"
done

# Arguments every job shares.
common=(--parsable --chdir="$PWD" --output="$log_dir/%x-%j.out")
exports="ALL,PERSONAS_ROOT=$ROOT,PERSONAS_SLURM_SITE=$site"
[[ -n "${PERSONAS_BINARY:-}" ]] && exports+=",PERSONAS_BINARY=$PERSONAS_BINARY"
common+=(--export="$exports")
[[ -n "${SITE_ACCOUNT:-}" ]] && common+=(--account="$SITE_ACCOUNT")
[[ -n "${SITE_QOS:-}" ]] && common+=(--qos="$SITE_QOS")
# The time-limit warning (slurm/lib/job.sh personas_step): stop, exit 7, requeue.
[[ "${SITE_STOP_MARGIN:-300}" =~ ^[1-9][0-9]*$ ]] ||
  die "site file: SITE_STOP_MARGIN='${SITE_STOP_MARGIN}' is not a positive number of seconds"
common+=(--signal="B:USR1@${SITE_STOP_MARGIN:-300}" --requeue --open-mode=append)
# shellcheck disable=SC2206
[[ -n "${SITE_SBATCH_ARGS:-}" ]] && common+=($SITE_SBATCH_ARGS)

# resources KIND: the sbatch resource arguments of a kind of node.
resources() {
  local kind="$1" upper partition nodes tasks cpus gpus mem time
  upper="$(tr '[:lower:]' '[:upper:]' <<< "$kind")"
  partition="$(eval echo "\${SITE_${upper}_PARTITION:-}")"
  nodes="$(eval echo "\${SITE_${upper}_NODES:-1}")"
  tasks="$(eval echo "\${SITE_${upper}_TASKS_PER_NODE:-1}")"
  cpus="$(eval echo "\${SITE_${upper}_CPUS_PER_TASK:-1}")"
  mem="$(eval echo "\${SITE_${upper}_MEM:-}")"
  time="$(eval echo "\${SITE_${upper}_TIME:-}")"
  case "$kind" in
    gpu) gpus="${SITE_GPUS_PER_TASK:-0}" ;;
    single) gpus="${SITE_SINGLE_GPUS_PER_TASK:-0}" ;;
    serial) gpus=0 nodes=1 tasks=1 ;;
    cpu) gpus=0 ;;
    *) die "site file: unknown kind '$kind' (expected cpu, gpu or serial)" ;;
  esac
  local -a out=()
  [[ -n "$partition" ]] && out+=(--partition="$partition")
  out+=(--nodes="$nodes" --ntasks-per-node="$tasks" --ntasks="$((nodes * tasks))" --cpus-per-task="$cpus")
  (( gpus > 0 )) && out+=(--gpus-per-task="$gpus")
  [[ -n "$mem" ]] && out+=(--mem="$mem")
  [[ -n "$time" ]] && out+=(--time="$time")
  printf '%s\n' "${out[@]}"
}

# quote ARGS: shell words, quoted only where needed (the plan stays readable).
quote() {
  local arg out=()
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=,%@+-]+$ ]]; then out+=("$arg"); else out+=("$(printf '%q' "$arg")"); fi
  done
  echo "${out[*]}"
}

names=() lines=()   # one planned sbatch per entry; @DEP@ stands for the dependency
personas_args=("$config" "$run_dir")
(( ${#extra[@]} > 0 )) && personas_args+=(-- "${extra[@]}")
if [[ "$mode" == single ]]; then
  run_args=("${extra[@]}")
  [[ -n "$from" ]] && run_args+=(--run.from "$from")
  [[ -n "$until" ]] && run_args+=(--run.until "$until")
  args=("$config" "$run_dir")
  (( ${#run_args[@]} > 0 )) && args+=(-- "${run_args[@]}")
  mapfile -t res < <(resources single)
  names+=(run)
  (( wait )) && res+=(--wait)   # sbatch --wait: returns with the job's exit code
  lines+=("$(quote sbatch "${common[@]}" --job-name=personas-run "${res[@]}" "$ROOT/slurm/pipeline.sbatch" "${args[@]}")")
else
  for ((i = first; i <= last; i++)); do
    stage="${STAGES[$i]}"
    kind="$(eval echo "\${SITE_KIND_${stage}:-cpu}")"
    mapfile -t res < <(resources "$kind")
    dep=()
    (( i > first )) && dep=(--dependency=afterok:@DEP@ --kill-on-invalid-dep=yes)
    names+=("$stage")
    lines+=("$(quote sbatch "${common[@]}" --job-name="personas-$stage" "${res[@]}" "${dep[@]}" \
                 "$ROOT/slurm/stage.sbatch" "$stage" "${personas_args[@]}")")
  done
fi

echo "personas on Slurm: $mode, config $config, run dir $run_dir, site $site"
echo "plan (${#lines[@]} job(s)$([[ $mode == chain ]] && echo ', each after the previous one succeeds (afterok)')):"
for i in "${!lines[@]}"; do
  shown="${lines[$i]//@DEP@/\$${names[$((i > 0 ? i - 1 : 0))]}_job}"
  printf '  %-8s %s\n' "${names[$i]}:" "$shown"
done
if (( dry_run )); then
  echo "dry run: nothing submitted"
  exit 0
fi

command -v sbatch >/dev/null 2>&1 || die "sbatch not found: is this a Slurm login node? (or use --dry-run)"
mkdir -p "$log_dir"
if [[ "$mode" == single ]] && (( wait )); then
  echo "submitting run and waiting for it (job log in $log_dir/)"
  set +e
  eval "${lines[0]}"
  rc=$?
  set -e
  echo "job ended with exit code $rc"
  exit $rc
fi

previous="" ids=()
for i in "${!lines[@]}"; do
  line="${lines[$i]//@DEP@/$previous}"
  submitted="$(eval "$line")" || die "sbatch refused the ${names[$i]} job (jobs already submitted: ${ids[*]:-none}; cancel them with scancel)"
  previous="${submitted%%;*}"
  ids+=("$previous")
  echo "submitted ${names[$i]}: job $previous"
done
echo "logs: $log_dir/personas-<stage>-<job id>.out; watch: squeue -j $(IFS=,; echo "${ids[*]}")"
(( wait )) || exit 0

# --wait for a chain: poll the queue until every job left it, then read their
# final states (kept by slurmctld for MinJobAge seconds after the end).
id_list="$(IFS=,; echo "${ids[*]}")"
while [[ -n "$(squeue -h -j "$id_list" -o %i 2>/dev/null)" ]]; do sleep 5; done
failed=0
for i in "${!ids[@]}"; do
  state="$(scontrol show job -o "${ids[$i]}" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)"
  state="${state:-UNKNOWN}"
  echo "  ${names[$i]}: job ${ids[$i]} $state"
  [[ "$state" == COMPLETED ]] || failed=1
done
(( failed == 0 )) || { echo "slurm/submit.sh: the chain did not complete; logs in $log_dir/" >&2; exit 1; }
echo "chain completed"
