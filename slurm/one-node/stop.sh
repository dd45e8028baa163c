#!/usr/bin/env bash
# Stop the one-node SLURM cluster of start.sh: slurmd, slurmctld, slurmdbd, munged, MariaDB.
# Idempotent: daemons that are not running are skipped. Configs, job state and the accounting
# database stay, so start.sh brings the same cluster back. Jobs still running keep running
# (their slurmstepd is not stopped) and are picked up again by the next slurmd.
set -euo pipefail

RUN_DIR=/run/runlab-slurm

if [[ $(id -u) -ne 0 ]]; then
    echo "stop.sh: must run as root (try: sudo $0)" >&2
    exit 1
fi

# stop PIDFILE NAME: SIGTERM the daemon named NAME whose pid is in PIDFILE, wait up to 30 s.
stop() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0
    echo "stop.sh: stopping $name ($pid)"
    kill -TERM "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "stop.sh: error: $name ($pid) still running after 30 s" >&2
    exit 1
}

stop "$RUN_DIR/slurmd.pid" slurmd
stop "$RUN_DIR/slurmctld.pid" slurmctld
stop "$RUN_DIR/slurmdbd.pid" slurmdbd
stop /run/munge/munged.pid munged
stop /run/mysqld/mysqld.pid mariadbd
echo "stop.sh: stopped"
