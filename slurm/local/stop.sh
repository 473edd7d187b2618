#!/usr/bin/env bash
# Stops the single-node Slurm started by slurm/local/start.sh: `scontrol
# shutdown` (slurmctld and slurmd), then munged by its pid if start.sh started
# it. Stopping what is not running is not an error.
# Usage: slurm/local/stop.sh
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
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

ctld="$(pid_of "$SLURMCTLD_PID" slurmctld || true)"
slurmd="$(pid_of "$SLURMD_PID" slurmd || true)"
shutdown_ok=0
if [[ -n "$ctld" ]]; then
  say "scontrol shutdown"
  SLURM_CONF="$CONF" timeout 15 scontrol shutdown >/dev/null 2>&1 && shutdown_ok=1
  (( shutdown_ok )) || say "scontrol shutdown failed; ending the daemons by pid"
fi
[[ -n "$slurmd" && -z "$ctld" ]] && say "slurmctld is not running; ending slurmd (pid $slurmd)"
(( shutdown_ok )) || for pid in $ctld $slurmd; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in $ctld $slurmd; do
  wait_gone "$pid" 15 && continue
  say "pid $pid still running after 15 s; sending SIGTERM"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
done
rm -f "$SLURMCTLD_PID" "$SLURMD_PID"

munged="$(pid_of "$MUNGE_PID" munged || true)"
if [[ -n "$munged" && -e "$MUNGE_OURS" ]]; then
  say "stopping munged (pid $munged)"
  kill -TERM "$munged"
  wait_gone "$munged" 10 || kill -KILL "$munged" 2>/dev/null || true
elif [[ -n "$munged" ]]; then
  say "leaving munged (pid $munged) running: start.sh did not start it"
fi
rm -f "$MUNGE_OURS"
say "stopped"
