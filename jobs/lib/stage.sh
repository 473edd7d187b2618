# shellcheck shell=bash
# Shared by jobs/<stage>.sh: argument handling, binary lookup and the choice of
# launcher. Sourced, not run. Each stage script calls:  personas_job STAGE "$@"
#
# A stage script runs `personas STAGE --config CONFIG --run.dir RUN [EXTRA...]`
#   - inside a Slurm allocation:   srun --mpi=pmix personas ...   (ranks = the allocation's tasks)
#   - elsewhere with N > 1 ranks:  mpirun -np N personas ...
#   - elsewhere with 1 rank:       personas ...
# The environment variables below (all optional) choose otherwise.

JOBS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$JOBS_DIR/.." && pwd)"
# shellcheck source=SCRIPTDIR/wait_child.sh
source "$JOBS_DIR/lib/wait_child.sh"

jobs_usage() {
  local stage="$1"
  cat <<USAGE
usage: jobs/$stage.sh CONFIG [RUN_DIR] [-- PERSONAS_ARGS...]
       PERSONAS_CONFIG=... PERSONAS_RUN_DIR=... jobs/$stage.sh

Runs \`personas $stage --config CONFIG --run.dir RUN_DIR\` through the right
launcher. RUN_DIR defaults to the config's [run] dir. Arguments after \`--\`
go to personas unchanged (e.g. -- --log.level debug).

environment:
  PERSONAS_CONFIG      config file, when not given as an argument
  PERSONAS_RUN_DIR     run directory, when not given as an argument
  PERSONAS_BINARY      the personas executable (default: build/personas of
                       this checkout, else personas on PATH)
  PERSONAS_LAUNCHER    auto (default) | srun | mpirun | none
                       auto: srun inside a Slurm allocation, else mpirun when
                       PERSONAS_NP > 1 (or inside a PBS/LSF job), else none
  PERSONAS_NP          ranks for mpirun (default 1); srun takes the allocation's
  PERSONAS_MPIRUN      mpirun command (default mpirun)
  PERSONAS_MPIRUN_ARGS extra mpirun arguments (word-split)
  PERSONAS_SRUN_ARGS   extra srun arguments (word-split), e.g. "--ntasks=2"
  PERSONAS_DRY_RUN=1   print the command instead of running it
USAGE
}

# find_personas: prints the executable to run, or fails with a hint.
find_personas() {
  if [[ -n "${PERSONAS_BINARY:-}" ]]; then
    [[ -x "$PERSONAS_BINARY" ]] || { echo "jobs: error: PERSONAS_BINARY=$PERSONAS_BINARY is not an executable file" >&2; return 1; }
    echo "$PERSONAS_BINARY"
  elif [[ -x "$REPO_DIR/build/personas" ]]; then
    echo "$REPO_DIR/build/personas"
  elif command -v personas >/dev/null 2>&1; then
    command -v personas
  else
    echo "jobs: error: no personas executable: build it (cmake -S . -B build && cmake --build build -j) or set PERSONAS_BINARY" >&2
    return 1
  fi
}

personas_job() {
  local stage="$1"
  shift
  local config="${PERSONAS_CONFIG:-}" run_dir="${PERSONAS_RUN_DIR:-}"
  local -a extra=()
  local positional=0
  while (( $# > 0 )); do
    case "$1" in
      -h|--help) jobs_usage "$stage"; return 0 ;;
      --) shift; extra=("$@"); break ;;
      -*) jobs_usage "$stage" >&2; echo "jobs: error: unknown option '$1' (personas arguments go after --)" >&2; return 2 ;;
      *)
        positional=$((positional + 1))
        case $positional in
          1) config="$1" ;;
          2) run_dir="$1" ;;
          *) jobs_usage "$stage" >&2; echo "jobs: error: unexpected argument '$1'" >&2; return 2 ;;
        esac ;;
    esac
    shift
  done
  if [[ -z "$config" ]]; then
    jobs_usage "$stage" >&2
    echo "jobs: error: no config: give CONFIG as the first argument or set PERSONAS_CONFIG" >&2
    return 2
  fi
  [[ -r "$config" ]] || { echo "jobs: error: config file '$config' not found or not readable" >&2; return 2; }

  local binary
  binary="$(find_personas)" || return 2

  local -a command=("$binary" "$stage" --config "$config")
  [[ -n "$run_dir" ]] && command+=(--run.dir "$run_dir")
  # Slurm gives each task cpus-per-task CPUs; use them all as threads unless
  # the caller chose a thread count.
  if [[ -n "${SLURM_CPUS_PER_TASK:-}" && " ${extra[*]} " != *" --run.threads"[\ =]* ]]; then
    command+=(--run.threads "$SLURM_CPUS_PER_TASK")
  fi
  command+=("${extra[@]}")

  local launcher="${PERSONAS_LAUNCHER:-auto}" np="${PERSONAS_NP:-}"
  if [[ -n "$np" && ! "$np" =~ ^[1-9][0-9]*$ ]]; then
    echo "jobs: error: PERSONAS_NP='$np' is not a positive number of ranks" >&2
    return 2
  fi
  if [[ "$launcher" == auto ]]; then
    if [[ -n "${SLURM_PROCID:-}" && -n "${SLURM_STEP_ID:-}" ]]; then
      launcher=none   # already one task of an srun step: do not nest srun
    elif [[ -n "${SLURM_JOB_ID:-}" ]]; then
      launcher=srun
    elif [[ -n "$np" && "$np" -gt 1 ]] || [[ -z "$np" && ( -n "${PBS_NODEFILE:-}" || -n "${LSB_JOBID:-}" ) ]]; then
      launcher=mpirun
    else
      launcher=none
    fi
  fi

  local -a launch=()
  case "$launcher" in
    srun)
      [[ -n "${SLURM_JOB_ID:-}" ]] || { echo "jobs: error: PERSONAS_LAUNCHER=srun outside a Slurm allocation (use sbatch/salloc, or PERSONAS_LAUNCHER=mpirun)" >&2; return 2; }
      # Slurm 22.05+ no longer passes the job's --cpus-per-task to srun by itself.
      [[ -n "${SLURM_CPUS_PER_TASK:-}" ]] && export SRUN_CPUS_PER_TASK="$SLURM_CPUS_PER_TASK"
      # shellcheck disable=SC2206
      launch=(srun --mpi=pmix ${PERSONAS_SRUN_ARGS:-}) ;;
    mpirun)
      launch=("${PERSONAS_MPIRUN:-mpirun}")
      if [[ -n "$np" ]]; then
        launch+=(-np "$np")
        (( np > $(nproc) )) && launch+=(--oversubscribe)
      fi
      [[ $(id -u) -eq 0 ]] && launch+=(--allow-run-as-root)
      # shellcheck disable=SC2206
      launch+=(${PERSONAS_MPIRUN_ARGS:-}) ;;
    none) ;;
    *) echo "jobs: error: PERSONAS_LAUNCHER='$launcher' (expected auto, srun, mpirun or none)" >&2; return 2 ;;
  esac

  echo "jobs: ${launch[*]}${launch[*]:+ }${command[*]}" >&2
  if [[ "${PERSONAS_DRY_RUN:-0}" == 1 ]]; then
    return 0
  fi
  if [[ "$launcher" == mpirun ]]; then
    run_under_mpirun "${launch[@]}" "${command[@]}"
  else
    "${launch[@]}" "${command[@]}"
  fi
}

# run_under_mpirun MPIRUN_COMMAND...: runs mpirun so that a TERM or INT to this
# script (a batch system's time limit, kill) becomes a graceful stop with exit
# 7. Open MPI's mpirun forwards only USR1/USR2 (and TSTP, CONT, ...) to the
# ranks; on TERM or INT it sends TERM to every rank, SIGKILL one second later
# (odls_base_sigkill_timeout), and exits 1 whatever the ranks did. So this
# passes USR1 to mpirun instead: every rank saves at its next safe point and
# exits 7, and mpirun exits 7 (docs/exit-codes.md, "mpirun").
run_under_mpirun() {
  local child rc
  "$@" &
  child=$!
  # shellcheck disable=SC2317  # called by the traps
  to_usr1() {
    echo "jobs: $1 received: passing USR1 to mpirun (pid $child): every rank stops at its next safe point" >&2
    kill -s USR1 "$child" 2>/dev/null || true
  }
  trap 'to_usr1 TERM' TERM
  trap 'to_usr1 INT' INT
  trap 'to_usr1 USR1' USR1
  rc=0
  wait_through_signals "$child" || rc=$?
  trap - TERM INT USR1
  return "$rc"
}
