#!/usr/bin/env bash
# Starts a single-node Slurm on this machine (root, no systemd needed):
# munged as user munge, then slurmctld, then slurmd, and waits until `sinfo`
# shows the node idle. Running it again while everything is up does nothing.
#
# Usage: slurm/local/start.sh            (as root)
# Settings (environment): PERSONAS_LOCAL_SLURM_CPUS (4: CPUs the node
# advertises, more than the cores so 3-rank jobs fit), ..._PARTITION (local),
# ..._TIMEOUT (60 s to wait for the node), ..._ADDR (127.0.0.1),
# ..._CTLD_PORT (6817), ..._SLURMD_PORT (6818), SLURM_CONF
# (/etc/slurm/slurm.conf). See docs/slurm.md.
# Exit codes: 0 running, 1 failed to start (log tails printed),
# 3 cannot run here (not root, packages missing, foreign slurm.conf).
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { awk 'NR >= 2 && !/^#/ {exit} NR >= 2 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; die "unknown argument '$1'" 2 ;;
esac

# ---- can this machine run it? ------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "must run as root (it starts daemons and writes $CONF)" 3
missing=()
for tool in munged munge unmunge slurmctld slurmd sinfo scontrol sbatch srun; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool")
done
(( ${#missing[@]} == 0 )) ||
  die "missing ${missing[*]}; install with: scripts/install-deps.sh --with-slurm (Debian packages slurm-wlm munge)" 3
id munge >/dev/null 2>&1 || die "no 'munge' user (the munge package creates it)" 3
SLURM_USER=root
id slurm >/dev/null 2>&1 && SLURM_USER=slurm
if [[ -e "$CONF" ]] && ! grep -q "$MARKER" "$CONF"; then
  die "$CONF exists and was not written by this script; refusing to overwrite a real cluster's configuration (set SLURM_CONF to another path to use both)" 3
fi
PATH="$PATH:/usr/sbin:/sbin"

mkdir -p "$RUN_DIR"
exec 9>"$LOCK"
flock -w 120 9 || die "another start/stop holds $LOCK"

# ---- already up? ---------------------------------------------------------------
if pid_of "$MUNGE_PID" munged >/dev/null && pid_of "$SLURMCTLD_PID" slurmctld >/dev/null &&
   pid_of "$SLURMD_PID" slurmd >/dev/null; then
  state="$(node_state || true)"
  if usable "$state"; then
    say "already running (node $NODE $state, partition $PARTITION, conf $CONF)"
    exit 0
  fi
fi

# ---- directories, key, configuration ----------------------------------------
install -d -o munge -g munge -m 0755 "$MUNGE_RUN"
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
install -d -o "$SLURM_USER" -g "$SLURM_USER" -m 0755 "$SPOOL_CTLD" "$LOG_DIR" "$RUN_DIR"
install -d -o root -g root -m 0755 "$SPOOL_SLURMD" "$(dirname "$CONF")"
if [[ ! -s "$MUNGE_KEY" ]]; then
  say "creating munge key $MUNGE_KEY (1024 random bytes)"
  (umask 077 && dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none)
fi
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
new_conf="$(mktemp "${CONF}.XXXXXX")"
sed -e "s|@MARKER@|$MARKER|" -e "s|@NODE@|$NODE|g" -e "s|@ADDR@|$ADDR|g" \
    -e "s|@CPUS@|$CPUS|" -e "s|@MEMORY_MB@|$mem_mb|" -e "s|@PARTITION@|$PARTITION|" \
    -e "s|@SLURM_USER@|$SLURM_USER|" -e "s|@CTLD_PORT@|$CTLD_PORT|" -e "s|@SLURMD_PORT@|$SLURMD_PORT|" \
    -e "s|@SPOOL_CTLD@|$SPOOL_CTLD|" -e "s|@SPOOL_SLURMD@|$SPOOL_SLURMD|" \
    -e "s|@LOG_DIR@|$LOG_DIR|g" -e "s|@RUN_DIR@|$RUN_DIR|g" \
    "$LOCAL_SLURM_DIR/slurm.conf.in" > "$new_conf"
chmod 0644 "$new_conf"
mv -f "$new_conf" "$CONF"
export SLURM_CONF="$CONF"

# Daemons get 9>&- so they do not inherit (and hold) the lock.
# ---- munged -----------------------------------------------------------------
if ! pid_of "$MUNGE_PID" munged >/dev/null; then
  say "starting munged"
  rm -f "$MUNGE_RUN/munge.socket.2" "$MUNGE_RUN/munge.socket.2.lock"
  runuser -u munge -- munged 9>&- || { log_tails; die "munged did not start"; }
  touch "$MUNGE_OURS"
fi
for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
munge -n | unmunge >/dev/null 2>&1 || { log_tails; die "munge does not answer (munge -n | unmunge fails)"; }

# ---- slurmctld, then slurmd ---------------------------------------------------
if ! pid_of "$SLURMCTLD_PID" slurmctld >/dev/null; then
  say "starting slurmctld"
  slurmctld -f "$CONF" 9>&- || { log_tails; die "slurmctld did not start"; }
fi
for _ in $(seq 50); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
if ! pid_of "$SLURMD_PID" slurmd >/dev/null; then
  say "starting slurmd (node $NODE, $CPUS CPUs advertised)"
  slurmd -f "$CONF" 9>&- || { log_tails; die "slurmd did not start"; }
fi

# ---- wait for the node ------------------------------------------------------
deadline=$((SECONDS + START_TIMEOUT))
resumed=0
while :; do
  state="$(node_state || true)"
  usable "$state" && break
  case "$state" in
    down*|drain*|drng*|fail*)
      # A node left down by an earlier unclean stop: bring it back once.
      if (( resumed == 0 )); then
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        resumed=1
      fi ;;
  esac
  if (( SECONDS >= deadline )); then
    log_tails
    die "node $NODE is not idle after ${START_TIMEOUT}s (sinfo says '${state:-nothing}'); logs above, status: slurm/local/status.sh"
  fi
  sleep 0.5
done
say "up: node $NODE $state with $CPUS CPUs, partition $PARTITION (default), conf $CONF"
