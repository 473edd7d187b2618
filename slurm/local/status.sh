#!/usr/bin/env bash
# Shows the local single-node Slurm: daemons, node state, queue.
# Usage: slurm/local/status.sh     exit 0 when all three daemons run and the
# node is usable (idle/mix/alloc), else 1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PATH="$PATH:/usr/sbin:/sbin"
ok=0
for daemon in munged:"$MUNGE_PID" slurmctld:"$SLURMCTLD_PID" slurmd:"$SLURMD_PID"; do
  name="${daemon%%:*}" file="${daemon#*:}"
  if pid="$(pid_of "$file" "$name")"; then
    printf '  %-10s running (pid %s)\n' "$name" "$pid"
  else
    printf '  %-10s not running\n' "$name"
    ok=1
  fi
done
echo "  conf       $CONF$([[ -e "$CONF" ]] || echo ' (missing)')"
state="$(node_state || true)"
echo "  node       $NODE ${state:-unknown}"
usable "$state" || ok=1
if [[ $ok -eq 0 ]]; then
  SLURM_CONF="$CONF" sinfo 2>&1 | sed 's/^/  /'
  SLURM_CONF="$CONF" squeue 2>&1 | sed 's/^/  /'
fi
exit $ok
