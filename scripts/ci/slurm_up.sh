#!/bin/sh
# slurm_up.sh --install     apt-get install the packages (needs network: run it
#                           OUTSIDE `unshare -n`), then exit
# slurm_up.sh STATE_DIR     (installs too if packages are missing and network works)
#
# Start a single-host SLURM cluster with accounting (munged, mariadbd,
# slurmdbd, slurmctld, one or two slurmd) as plain background daemons,
# no systemd, no cgroups.  All generated configs, PID files, logs, spool
# and database files live under STATE_DIR (munge's socket stays in
# /run/munge, see MUNGE_SOCKET).  Meant to run as real root, ideally inside
#     unshare -n sh -c 'ip link set lo up && ./slurm_up.sh /tmp/slurm-state && ...'
#
# Afterwards:  export SLURM_CONF=STATE_DIR/slurm.conf  (also printed at the end;
# /etc/slurm/slurm.conf is symlinked to it unless SLURM_LINK_ETC=0).
#
# Tunables (environment):
#   SLURM_NODES       "n1 n2" (default) or "n1": node names, all on this host
#   SLURM_NODE_CPUS   CPUs advertised per node   (default: CPUs that `slurmd -C` finds)
#   SLURM_NODE_MEM    RealMemory MB per node     (default: 80% of RAM / number of nodes, max 8192)
#   SLURM_DEFMEM      DefMemPerCPU MB            (default 256)
#   SLURM_MAXTIME     partition MaxTime          (default 60 = minutes)
#   SLURM_CLUSTER     cluster name               (default ci)
#   SLURM_EXTRA_USERS users to register besides root (default: $SUDO_USER if set)
#   SLURM_TIMEOUT     seconds for each wait      (default 60)
#   SLURM_INSTALL     1 = apt-get install if missing (default 1)
#   MUNGE_SOCKET      default /run/munge/munge.socket.2
#   SLURM_LINK_ETC    1 = symlink /etc/slurm/slurm.conf -> STATE_DIR/slurm.conf (default 1)
set -eu

INSTALL_ONLY=
if [ "${1:-}" = --install ]; then INSTALL_ONLY=1; set -- /nonexistent; fi
STATE=${1:?usage: slurm_up.sh STATE_DIR | slurm_up.sh --install}
T=${SLURM_TIMEOUT:-60}
NODES=${SLURM_NODES:-n1 n2}
CLUSTER=${SLURM_CLUSTER:-ci}
DEFMEM=${SLURM_DEFMEM:-256}
MAXTIME=${SLURM_MAXTIME:-60}
MUNGE_SOCKET=${MUNGE_SOCKET:-/run/munge/munge.socket.2}
EXTRA_USERS=${SLURM_EXTRA_USERS:-${SUDO_USER:-}}
DBPASS=slurmdbpass
T0=$(date +%s)

log() { echo "[slurm_up $(($(date +%s) - T0))s] $*"; }
die() { echo "[slurm_up] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- install
if [ "${SLURM_INSTALL:-1}" = 1 ]; then
    missing=
    for b in munged mungekey mariadbd mariadb-install-db slurmdbd slurmctld slurmd sbatch sacct sacctmgr; do
        command -v $b >/dev/null 2>&1 || missing=1
    done
    if [ -n "$missing" ]; then
        log "installing slurm-wlm slurmdbd munge mariadb-server (apt)"
        ti=$(date +%s)
        export DEBIAN_FRONTEND=noninteractive
        # keep the packages' init scripts / systemd units from starting the
        # daemons with the distro configs (we start our own below)
        own_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d; own_policy=1
        fi
        ilog=/tmp/slurm_up-apt.$$.log
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                   slurm-wlm slurmdbd munge mariadb-server; } >"$ilog" 2>&1; then
            [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
            tail -n 15 "$ilog" >&2
            die "apt-get install failed (full log $ilog). No network inside 'unshare -n': run 'slurm_up.sh --install' before entering the namespace."
        fi
        [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
        rm -f "$ilog"
        log "install took $(($(date +%s) - ti))s"
    else
        log "packages already installed"
    fi
fi
[ -n "$INSTALL_ONLY" ] && exit 0
for b in munged mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr; do
    command -v $b >/dev/null 2>&1 || die "$b not found (set SLURM_INSTALL=1?)"
done

# ---------------------------------------------------------------- helpers
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
chmod 755 "$STATE"         # munge / mysql users must be able to traverse it
mkdir -p "$STATE/log" "$STATE/run" "$STATE/ctld" "$STATE/spool" "$STATE/munge" "$STATE/mysql"
export SLURM_CONF="$STATE/slurm.conf"

# alive PIDFILE -> 0 if the pid in PIDFILE is a live process
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for DESC LOGFILE CMD...  : retry CMD every 0.5s for $T seconds
wait_for() {
    _desc=$1; _log=$2; shift 2
    _end=$(($(date +%s) + T))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$_end" ]; then
            echo "[slurm_up] TIMEOUT after ${T}s waiting for: $_desc" >&2
            for _l in $_log; do
                echo "----- tail -n 40 $_l -----" >&2
                tail -n 40 "$_l" >&2 2>/dev/null || echo "(no log)" >&2
            done
            exit 1
        fi
        sleep 0.5
    done
    log "ready: $_desc"
}

# start_daemon NAME: start a slurm daemon (it forks; its PID file is in $STATE/run) unless it is running
start_daemon() {
    if alive "$STATE/run/$1.pid"; then
        log "$1 already running"
    else
        log "starting $1"
        "$1" >>"$STATE/log/$1.stderr" 2>&1 \
            || { tail -n 30 "$STATE/log/$1.log" "$STATE/log/$1.stderr" >&2 2>/dev/null; die "$1 failed to start"; }
    fi
}

# ---------------------------------------------------------------- loopback
# inside a fresh `unshare -n` lo is down; bring it up if we may
if ! ip -o addr show dev lo 2>/dev/null | grep -q 'inet 127.0.0.1'; then
    ip link set lo up 2>/dev/null || true
fi
ip -o addr show dev lo 2>/dev/null | grep -q 'inet 127.0.0.1' \
    || die "loopback 127.0.0.1 is not up (run: ip link set lo up)"
# Slurm resolves every address (also the wildcard it listens on) with
# getaddrinfo(AF_INET, AI_ADDRCONFIG).  glibc's AI_ADDRCONFIG does not count
# 127.0.0.1 (exactly INADDR_LOOPBACK) as "IPv4 configured", so in a namespace
# whose only address is 127.0.0.1 it fails with EAI_NONAME and the daemons die
# ("slurm_set_addr: Unable to resolve "(null)"" ... fatal).  Any other IPv4
# address, e.g. 127.0.0.2 on lo, makes it work.
if ! ip -4 -o addr show 2>/dev/null | awk '{print $4}' | grep -qv '^127\.0\.0\.1/'; then
    log "only 127.0.0.1 configured: adding 127.0.0.2/8 to lo (glibc AI_ADDRCONFIG)"
    ip addr add 127.0.0.2/8 dev lo || die "cannot add 127.0.0.2 to lo"
fi

# ---------------------------------------------------------------- configs
HOST=$(hostname -s)
if [ -n "${SLURM_NODE_CPUS:-}" ]; then
    NODEHW="CPUs=$SLURM_NODE_CPUS"
else
    # CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=.. as slurmd sees them
    NODEHW=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=.*//')
fi
NNODES=$(echo $NODES | wc -w)
if [ -z "${SLURM_NODE_MEM:-}" ]; then
    MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    MEM=$((MEM * 8 / 10 / NNODES)); [ "$MEM" -gt 8192 ] && MEM=8192
else
    MEM=$SLURM_NODE_MEM
fi
NODELIST=$(echo $NODES | tr ' ' ',')

{
cat <<EOF
# generated by slurm_up.sh
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
SlurmctldPort=6817
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageEnforce=associations
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEFMEM
EnforcePartLimits=ALL
KillWait=5
InactiveLimit=0
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
EOF
port=6818
for n in $NODES; do
    echo "NodeName=$n NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$port $NODEHW RealMemory=$MEM State=UNKNOWN"
    port=$((port + 10))
done
echo "PartitionName=debug Nodes=$NODELIST Default=YES MaxTime=$MAXTIME State=UP OverSubscribe=NO"
} > "$STATE/slurm.conf"

cat > "$STATE/slurmdbd.conf" <<EOF
# generated by slurm_up.sh
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
DebugLevel=info
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
chown root:root "$STATE/slurmdbd.conf"
chmod 600 "$STATE/slurmdbd.conf"
chmod 644 "$STATE/slurm.conf"
for n in $NODES; do mkdir -p "$STATE/spool/$n"; done

if [ "${SLURM_LINK_ETC:-1}" = 1 ]; then
    mkdir -p /etc/slurm
    if [ ! -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then
        ln -sfn "$STATE/slurm.conf" /etc/slurm/slurm.conf
    else
        log "NOTE: /etc/slurm/slurm.conf is a real file; left alone, use SLURM_CONF"
    fi
fi

# ---------------------------------------------------------------- munged
MUNGE_DIR=$(dirname "$MUNGE_SOCKET")
mkdir -p "$MUNGE_DIR"; chown munge:munge "$MUNGE_DIR"; chmod 755 "$MUNGE_DIR"
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key --force && chown munge:munge /etc/munge/munge.key
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 700 /etc/munge; chmod 600 /etc/munge/munge.key
chown munge:munge "$STATE/munge"; chmod 700 "$STATE/munge"
munge_ok() { munge -S "$MUNGE_SOCKET" -n 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }
if alive "$STATE/munge/munged.pid"; then
    log "munged already running"
elif munge_ok; then
    # e.g. the distro's munged started by systemd on apt install: a unix
    # socket is not tied to a network namespace, so just use it (and leave
    # it alone in slurm_down.sh: no PID file of ours)
    log "using the munged already serving $MUNGE_SOCKET (not ours, not stopped by slurm_down.sh)"
else
    log "starting munged"
    # munged refuses to run as root: drop to the munge user
    start_munged() {
        runuser -u munge -- munged "$@" \
            --socket="$MUNGE_SOCKET" \
            --pid-file="$STATE/munge/munged.pid" \
            --log-file="$STATE/munge/munged.log" \
            --seed-file="$STATE/munge/munged.seed" \
            --key-file=/etc/munge/munge.key 2>"$STATE/log/munged.stderr"
    }
    if ! start_munged; then
        # munged insists that every directory above its log/seed/pid files is
        # owned by root or munge and not group/world-writable (sticky dirs such
        # as /tmp are fine).  A STATE_DIR inside e.g. a CI workspace owned by
        # the runner user fails with "Logfile is insecure: invalid ownership";
        # --force downgrades those checks to warnings.
        if grep -q insecure "$STATE/log/munged.stderr"; then
            log "munged: $(head -1 "$STATE/log/munged.stderr") -> retrying with --force"
            start_munged --force \
                || { cat "$STATE/log/munged.stderr" >&2; die "munged failed to start"; }
        else
            cat "$STATE/log/munged.stderr" >&2; tail -n 20 "$STATE/munge/munged.log" >&2 2>/dev/null
            die "munged failed to start"
        fi
    fi
fi
wait_for "munge credential round trip" "$STATE/munge/munged.log" munge_ok

# ---------------------------------------------------------------- mariadbd
mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
DB="$STATE/mysql"
chown mysql:mysql "$DB"; chmod 750 "$DB"
MYSOCK="$DB/mysqld.sock"
if [ ! -d "$DB/data/mysql" ]; then
    log "initialising MariaDB data dir $DB/data"
    mkdir -p "$DB/data"; chown mysql:mysql "$DB/data"
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB/data" \
        --skip-test-db --auth-root-authentication-method=socket \
        > "$STATE/log/mariadb-install-db.log" 2>&1 \
        || { tail -n 30 "$STATE/log/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
fi
if alive "$DB/mariadbd.pid"; then
    log "mariadbd already running"
else
    log "starting mariadbd"
    # setsid -f: own session/process group like the self-daemonising daemons,
    # so killing the caller's process group does not take mariadbd down
    setsid -f mariadbd --no-defaults --user=mysql --datadir="$DB/data" \
        --socket="$MYSOCK" --pid-file="$DB/mariadbd.pid" \
        --log-error="$STATE/log/mariadbd.log" \
        --bind-address=127.0.0.1 --port=3306 --skip-name-resolve \
        --innodb-buffer-pool-size=128M --innodb-log-file-size=64M \
        --innodb-lock-wait-timeout=900 --max-connections=100 \
        </dev/null >>"$STATE/log/mariadbd.log" 2>&1
fi
wait_for "mariadbd accepting connections" "$STATE/log/mariadbd.log" \
    mariadb --no-defaults --socket="$MYSOCK" -uroot -e 'SELECT 1'
mariadb --no-defaults --socket="$MYSOCK" -uroot <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF

# ---------------------------------------------------------------- slurmdbd
start_daemon slurmdbd
wait_for "slurmdbd answering sacctmgr" "$STATE/log/slurmdbd.log $STATE/log/slurmdbd.stderr" \
    sacctmgr -n -P list cluster format=cluster

# register cluster / account / users (idempotent)
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi
if ! sacctmgr -n -P list account format=account | grep -qx ci; then
    sacctmgr -i add account ci Cluster="$CLUSTER" Description=ci Organization=ci >/dev/null
fi
for u in root $EXTRA_USERS; do
    if ! sacctmgr -n -P list assoc cluster="$CLUSTER" account=ci user="$u" format=user | grep -qx "$u"; then
        sacctmgr -i add user "$u" Account=ci Cluster="$CLUSTER" >/dev/null
    fi
done
log "accounting: cluster=$CLUSTER account=ci users=root $EXTRA_USERS"

# ---------------------------------------------------------------- slurmctld
start_daemon slurmctld
wait_for "slurmctld (scontrol ping)" "$STATE/log/slurmctld.log $STATE/log/slurmctld.stderr" \
    sh -c 'scontrol ping | grep -q UP'

# ---------------------------------------------------------------- slurmd(s)
for n in $NODES; do
    if alive "$STATE/run/slurmd-$n.pid"; then
        log "slurmd $n already running"
    else
        log "starting slurmd -N $n"
        slurmd -N "$n" >>"$STATE/log/slurmd-$n.stderr" 2>&1 \
            || { tail -n 30 "$STATE/log/slurmd-$n.log" "$STATE/log/slurmd-$n.stderr" >&2 2>/dev/null; die "slurmd $n failed to start"; }
    fi
done
nodes_idle() {
    # every node idle (or mixed/alloc if jobs already run), none down/unknown
    out=$(sinfo -h -N -o '%N %T') || return 1
    [ "$(echo "$out" | wc -l)" -eq "$NNODES" ] || return 1
    ! echo "$out" | grep -Ev ' (idle|mixed|allocated)$' | grep -q .
}
slurmd_logs=; for n in $NODES; do slurmd_logs="$slurmd_logs $STATE/log/slurmd-$n.log $STATE/log/slurmd-$n.stderr"; done
wait_for "all nodes ($NODELIST) idle" "$STATE/log/slurmctld.log$slurmd_logs" nodes_idle

sinfo
log "cluster up in $(($(date +%s) - T0))s.  export SLURM_CONF=$SLURM_CONF"
