#!/usr/bin/env bash
# Stops the single-node Slurm started by slurm/local/start.sh: `scontrol
# shutdown` (slurmctld and slurmd), then munged by its pid if start.sh started
# it. Stopping what is not running is not an error.
# Usage: slurm/local/stop.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PATH="$PATH:/usr/sbin:/sbin"
case "${1:-}" in
  -h|--help) awk 'NR >= 2 && !/^#/ {exit} NR >= 2 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: slurm/local/stop.sh)" 2 ;;
esac
[[ $(id -u) -eq 0 ]] || die "must run as root" 3
mkdir -p "$RUN_DIR"
exec 9>"$LOCK"
flock -w 120 9 || die "another start/stop holds $LOCK"

ctld="$(pid_of "$SLURMCTLD_PID" || true)"
slurmd="$(pid_of "$SLURMD_PID" || true)"
if [[ -n "$ctld" || -n "$slurmd" ]]; then
  say "scontrol shutdown"
  if [[ -n "$ctld" ]]; then SLURM_CONF="$CONF" timeout 15 scontrol shutdown >/dev/null 2>&1 || true; fi
  for pid in $ctld $slurmd; do
    if ! wait_gone "$pid" 20; then
      say "pid $pid still running after 20 s; sending SIGTERM"
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 || { kill -KILL "$pid" 2>/dev/null || true; }
    fi
  done
fi
rm -f "$SLURMCTLD_PID" "$SLURMD_PID"

munged="$(pid_of "$MUNGE_PID" || true)"
if [[ -n "$munged" && -e "$MUNGE_OURS" ]]; then
  say "stopping munged (pid $munged)"
  kill -TERM "$munged"
  wait_gone "$munged" 10 || kill -KILL "$munged" 2>/dev/null || true
elif [[ -n "$munged" ]]; then
  say "leaving munged (pid $munged) running: start.sh did not start it"
fi
rm -f "$MUNGE_OURS"
say "stopped"
