#!/usr/bin/env bash
# Start a one-node SLURM cluster on this host: munged, MariaDB, slurmdbd, slurmctld, slurmd.
# Debian/Ubuntu, as root. Idempotent: a second call while everything is up changes nothing.
# Stop it with slurm/one-node/stop.sh. See slurm/README.md.
#
# Environment (all optional):
#   RUNLAB_SLURM_PARTITION  name of the one (default) partition               [debug]
#   RUNLAB_SLURM_CPUS       CPUs the node advertises; above nproc it oversubscribes the
#                           cores (SlurmdParameters=config_overrides)             [$(nproc)]
#   RUNLAB_SLURM_CLUSTER    ClusterName, also registered in slurmdbd; to change it
#                           later, first remove /var/spool/runlab-slurm           [runlab]
#   RUNLAB_SLURM_LOG_DIR    daemon logs                                           [/var/log/runlab-slurm]
#   RUNLAB_SLURM_WAIT_S     how long to wait for each daemon and the idle node    [60]
set -euo pipefail

PARTITION="${RUNLAB_SLURM_PARTITION:-debug}"
CPUS="${RUNLAB_SLURM_CPUS:-$(nproc)}"
CLUSTER="${RUNLAB_SLURM_CLUSTER:-runlab}"
LOG_DIR="${RUNLAB_SLURM_LOG_DIR:-/var/log/runlab-slurm}"
WAIT_S="${RUNLAB_SLURM_WAIT_S:-60}"

RUN_DIR=/run/runlab-slurm
SPOOL_DIR=/var/spool/runlab-slurm
CONF_DIR=/etc/slurm
DB_NAME=slurm_acct_db
DB_USER=slurm
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

say() { printf 'start.sh: %s\n' "$*"; }
die() { printf 'start.sh: error: %s\n' "$*" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
    echo "start.sh: must run as root (try: sudo $0)" >&2
    exit 1
fi
[[ $CPUS =~ ^[1-9][0-9]*$ ]] || die "RUNLAB_SLURM_CPUS must be a positive integer, got '$CPUS'"
[[ $PARTITION =~ ^[A-Za-z0-9_-]+$ ]] || die "RUNLAB_SLURM_PARTITION must be [A-Za-z0-9_-]+, got '$PARTITION'"
[[ $CLUSTER =~ ^[a-z0-9_-]+$ ]] || die "RUNLAB_SLURM_CLUSTER must be [a-z0-9_-]+, got '$CLUSTER'"

# wait_for SECONDS WHAT CMD...: poll CMD every 0.2 s; die naming WHAT and the logs on timeout.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what; see the logs in $LOG_DIR"
        sleep 0.2
    done
}

# pid_alive PIDFILE NAME: the pid in PIDFILE runs a process called NAME.
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

# stop_pid PIDFILE NAME: SIGTERM the daemon and wait until it is gone.
stop_pid() {
    pid_alive "$1" "$2" || return 0
    local pid
    pid=$(<"$1")
    kill -TERM "$pid"
    wait_for 30 "$2 to stop" bash -c "! kill -0 $pid"
}

# stop_if_stale PIDFILE NAME CONF: stop the daemon when CONF changed after it started.
stop_if_stale() {
    if [[ $3 -nt $1 ]] && pid_alive "$1" "$2"; then
        say "$3 changed: restarting $2"
        stop_pid "$1" "$2"
    fi
}

# write_if_changed PATH MODE CONTENT: write atomically only when different; status 0 when written.
write_if_changed() {
    local path=$1 mode=$2 content=$3
    if [[ -f $path ]] && [[ "$(cat "$path")" == "$content" ]]; then
        chmod "$mode" "$path"
        return 1
    fi
    (umask 077 && printf '%s\n' "$content" >"$path.tmp")
    chmod "$mode" "$path.tmp"
    mv -f "$path.tmp" "$path"
    return 0
}

# --- packages ---------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian/Ubuntu only"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$LOG_DIR"
    { apt-get update && apt-get install -y --no-install-recommends "${PACKAGES[@]}"; } >"$LOG_DIR/apt.log" 2>&1 ||
        { tail -n 20 "$LOG_DIR/apt.log" >&2; die "package installation failed; full log in $LOG_DIR/apt.log"; }
fi

HOST=$(hostname -s)
mkdir -p "$LOG_DIR" "$RUN_DIR" "$SPOOL_DIR/slurmctld" "$SPOOL_DIR/slurmd" "$CONF_DIR"

# --- munge ------------------------------------------------------------------------------------
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    key=/etc/munge/munge.key
    if [[ ! -f $key ]] || [[ $(stat -c %s "$key") -ne 1024 ]]; then
        dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chown munge:munge "$key"
    chmod 400 "$key"
    install -d -o munge -g munge -m 755 /run/munge
    touch "$LOG_DIR/munged.log"
    chown munge:munge "$LOG_DIR/munged.log"
    say "starting munged"
    runuser -u munge -- munged --log-file="$LOG_DIR/munged.log" </dev/null
    wait_for "$WAIT_S" munged munge_ok
fi

# --- MariaDB ----------------------------------------------------------------------------------
mysql_ok() { mysqladmin --connect-timeout=2 ping; }
if ! mysql_ok >/dev/null 2>&1; then
    install -d -o mysql -g mysql -m 755 /run/mysqld
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOG_DIR/mariadb-install.log" 2>&1
    touch "$LOG_DIR/mariadb.log"
    chown mysql:mysql "$LOG_DIR/mariadb.log"
    say "starting MariaDB"
    setsid mysqld_safe --skip-syslog --log-error="$LOG_DIR/mariadb.log" </dev/null >>"$LOG_DIR/mysqld_safe.log" 2>&1 &
    wait_for "$WAIT_S" MariaDB mysql_ok
fi

# --- configs ----------------------------------------------------------------------------------
# The slurmdbd password is made once and kept in slurmdbd.conf (mode 600).
db_pass=$(sed -n 's/^StoragePass=//p' "$CONF_DIR/slurmdbd.conf" 2>/dev/null || true)
if [[ -z $db_pass ]] || ! MYSQL_PWD=$db_pass mysql -u "$DB_USER" -e "USE $DB_NAME" >/dev/null 2>&1; then
    [[ -n $db_pass ]] || db_pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    mysql -u root <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$db_pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$db_pass';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
SQL
fi

write_if_changed "$CONF_DIR/slurmdbd.conf" 600 "# Written by slurm/one-node/start.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$db_pass
StorageLoc=$DB_NAME" || true

mem_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mem=$((mem_mib * 95 / 100))
overrides=""
((CPUS > $(nproc))) && overrides="SlurmdParameters=config_overrides"

write_if_changed "$CONF_DIR/slurm.conf" 644 "# Written by slurm/one-node/start.sh: a one-node cluster for tests.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
MailProg=/bin/true
Epilog=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
StateSaveLocation=$SPOOL_DIR/slurmctld
SlurmdSpoolDir=$SPOOL_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ReturnToService=2
JobRequeue=1
MaxArraySize=1001
MaxJobCount=50000
MinJobAge=300
KillWait=5
InactiveLimit=0
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
PriorityType=priority/basic
$overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$real_mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP" || true

# --- slurmdbd ---------------------------------------------------------------------------------
dbd_ok() { sacctmgr -n -P list cluster format=Cluster; }
stop_if_stale "$RUN_DIR/slurmdbd.pid" slurmdbd "$CONF_DIR/slurmdbd.conf"
if ! pid_alive "$RUN_DIR/slurmdbd.pid" slurmdbd; then
    say "starting slurmdbd"
    slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.out" 2>&1
    wait_for "$WAIT_S" slurmdbd dbd_ok
fi
if ! dbd_ok | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi

# --- slurmctld and slurmd ---------------------------------------------------------------------
stop_if_stale "$RUN_DIR/slurmd.pid" slurmd "$CONF_DIR/slurm.conf"
stop_if_stale "$RUN_DIR/slurmctld.pid" slurmctld "$CONF_DIR/slurm.conf"
if ! pid_alive "$RUN_DIR/slurmctld.pid" slurmctld; then
    say "starting slurmctld"
    slurmctld </dev/null >>"$LOG_DIR/slurmctld.out" 2>&1
    wait_for "$WAIT_S" slurmctld scontrol ping
fi
if ! pid_alive "$RUN_DIR/slurmd.pid" slurmd; then
    say "starting slurmd"
    slurmd </dev/null >>"$LOG_DIR/slurmd.out" 2>&1
fi

node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null; }
node_ready() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
if ! node_ready; then
    if [[ $(node_state) == *drain* ]]; then
        say "node $HOST was drained ($(sinfo -h -N -n "$HOST" -o %E)); resuming it"
        scontrol update NodeName="$HOST" State=RESUME
    fi
    wait_for "$WAIT_S" "node $HOST to become idle (sinfo -N -o '%N %T %E' says why)" node_ready
fi
wait_for "$WAIT_S" sacct sacct -n -X -S now

say "cluster '$CLUSTER' up: node $HOST ($CPUS CPUs, ${real_mem} MiB), partition '$PARTITION'; logs in $LOG_DIR"
