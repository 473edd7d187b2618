# shellcheck shell=bash
# Sourced by jobs/lib/stage.sh and slurm/lib/job.sh.
# wait_through_signals PID: waits for the background child PID while traps
# handle signals sent to this script, and returns the child's own exit status.
# A trapped signal ends `wait` early (status > 128) while the child still
# runs, so it waits again; if the child ended meanwhile, a second wait gives
# its own status (127: already reaped, keep the first).
wait_through_signals() {
  local child="$1" rc again
  while :; do
    rc=0
    wait "$child" || rc=$?
    kill -0 "$child" 2>/dev/null && continue
    again=0
    wait "$child" 2>/dev/null || again=$?
    (( again != 127 )) && rc=$again
    return "$rc"
  done
}
