#!/bin/sh
# slurm_down.sh STATE_DIR
#
# Stop the daemons started by slurm_up.sh STATE_DIR, in reverse order, using
# only their PID files: cancel remaining jobs, then slurmd(s), slurmctld,
# slurmdbd, mariadbd, munged.  TERM, wait up to SLURM_STOP_TIMEOUT (default 20s), then KILL.
# A PID is only signalled if /proc/PID/comm is the expected daemon (guards
# against stale PID files / PID reuse).  Idempotent: missing or stale PID files
# are skipped.  Works from inside or outside the `unshare -n` namespace.
set -u

STATE=${1:?usage: slurm_down.sh STATE_DIR}
[ -d "$STATE" ] || { echo "[slurm_down] $STATE does not exist, nothing to do"; exit 0; }
STATE=$(cd "$STATE" && pwd)
T=${SLURM_STOP_TIMEOUT:-20}
export SLURM_CONF="$STATE/slurm.conf"
T0=$(date +%s)
rc=0

log() { echo "[slurm_down $(($(date +%s) - T0))s] $*"; }

# pid_of PIDFILE COMM -> prints pid if alive and /proc/pid/comm == COMM
pid_of() {
    [ -s "$1" ] || return 1
    _p=$(tr -dc '0-9' < "$1")
    [ -n "$_p" ] && [ -r "/proc/$_p/comm" ] || return 1
    [ "$(cat /proc/$_p/comm 2>/dev/null)" = "$2" ] || return 1
    echo "$_p"
}

# stop PIDFILE COMM
stop() {
    if ! _pid=$(pid_of "$1" "$2"); then
        [ -e "$1" ] && log "$2: stale/absent pid file $1, skipping"
        rm -f "$1"
        return 0
    fi
    log "stopping $2 (pid $_pid)"
    kill -TERM "$_pid" 2>/dev/null
    _end=$(($(date +%s) + T))
    while kill -0 "$_pid" 2>/dev/null; do
        # a zombie we cannot reap counts as gone
        [ "$(awk '{print $3}' /proc/$_pid/stat 2>/dev/null)" = Z ] && break
        if [ "$(date +%s)" -ge "$_end" ]; then
            log "$2 (pid $_pid) still alive after ${T}s: KILL"
            kill -KILL "$_pid" 2>/dev/null
            sleep 1
            kill -0 "$_pid" 2>/dev/null && [ "$(awk '{print $3}' /proc/$_pid/stat 2>/dev/null)" != Z ] \
                && { log "ERROR: $2 (pid $_pid) survived KILL"; rc=1; }
            break
        fi
        sleep 0.2
    done
    rm -f "$1"
}

# Run slurm clients in the daemons' network namespace (127.0.0.1 there is not
# the caller's 127.0.0.1 when we are called from outside `unshare -n`).
in_ctld_ns() {
    if _c=$(pid_of "$STATE/run/slurmctld.pid" slurmctld) &&
       [ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/$_c/ns/net)" ]; then
        nsenter -n -t "$_c" -- "$@"
    else
        "$@"
    fi
}

# 1. cancel jobs so no slurmstepd / job processes outlive slurmd
if pid_of "$STATE/run/slurmctld.pid" slurmctld >/dev/null; then
    jobs=$(in_ctld_ns timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs% }" ]; then
        log "cancelling jobs: $jobs"
        in_ctld_ns timeout 10 scancel $jobs 2>/dev/null
        end=$(($(date +%s) + T))
        while [ -n "$(in_ctld_ns timeout 10 squeue -h -t R,CG,PD -o %i 2>/dev/null)" ] &&
              [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
    fi
fi

# 2. daemons in reverse start order
for f in "$STATE"/run/slurmd-*.pid; do
    [ -e "$f" ] && stop "$f" slurmd
done
stop "$STATE/run/slurmctld.pid" slurmctld
stop "$STATE/run/slurmdbd.pid"  slurmdbd
stop "$STATE/mysql/mariadbd.pid" mariadbd
stop "$STATE/munge/munged.pid"  munged

if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$STATE/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
log "done (rc=$rc)"
exit $rc
