# shellcheck shell=bash disable=SC2034
# Shared by slurm/local/{start,stop,status}.sh: paths and small helpers for a
# single-node Slurm (munged + slurmctld + slurmd) run as root without systemd.
# Every path can be overridden from the environment; docs/slurm.md lists them.

LOCAL_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Where the generated slurm.conf goes. Slurm's clients (sinfo, sbatch, srun)
# read /etc/slurm/slurm.conf unless SLURM_CONF says otherwise.
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
# The generated file carries this marker; start.sh never overwrites a
# slurm.conf without it (a real cluster's configuration).
MARKER="generated-by: personas slurm/local/start.sh"

NODE="$(hostname -s)"
ADDR="${PERSONAS_LOCAL_SLURM_ADDR:-127.0.0.1}"
CPUS="${PERSONAS_LOCAL_SLURM_CPUS:-4}"
PARTITION="${PERSONAS_LOCAL_SLURM_PARTITION:-local}"
CTLD_PORT="${PERSONAS_LOCAL_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${PERSONAS_LOCAL_SLURM_SLURMD_PORT:-6818}"
START_TIMEOUT="${PERSONAS_LOCAL_SLURM_TIMEOUT:-60}"

SPOOL_CTLD=/var/spool/slurmctld
SPOOL_SLURMD=/var/spool/slurmd
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge
MUNGE_PID="$MUNGE_RUN/munged.pid"
MUNGE_LOG=/var/log/munge/munged.log
# start.sh leaves this file when it started munged itself, so stop.sh ends
# only a munged it owns (never a site's own munge service).
MUNGE_OURS="$RUN_DIR/personas-started-munged"
LOCK="$RUN_DIR/personas-local.lock"

SLURMCTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"

say() { echo "local-slurm: $*"; }
die() { echo "local-slurm: error: $*" >&2; exit "${2:-1}"; }

# pid_of FILE NAME: the pid in FILE if that process is alive and is NAME
# (a stale pid file may name a pid reused by another program), else fails.
pid_of() {
  local file="$1" name="$2" pid
  [[ -r "$file" ]] || return 1
  pid="$(tr -dc '0-9' < "$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
  echo "$pid"
}

# wait_gone PID SECONDS: waits for a process to exit; 1 if it is still there.
wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS >= deadline )) && return 1
    sleep 0.2
  done
  return 0
}

# The state sinfo reports for our node (idle, mix, alloc, down*, ...), or nothing.
node_state() {
  SLURM_CONF="$CONF" timeout 10 sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n1
}

# usable STATE: the node takes jobs (a trailing * means slurmd does not answer).
usable() {
  [[ "$1" =~ ^(idle|mix|alloc|comp)[~#%!^-]?$ ]]
}

log_tails() {
  local f
  for f in "$MUNGE_LOG" "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
    [[ -r "$f" ]] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 20 "$f" >&2
  done
}
