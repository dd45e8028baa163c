#!/usr/bin/env bash
# Re-capture the squeue/sacct outputs in this folder from the one-node cluster
# (sudo slurm/one-node/start.sh). Uses exactly the commands of runlab.scheduler. Takes ~2 minutes.
# Writes jobs.json (scenario -> job id) next to the captures.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

sub() { sbatch --parsable --output=/dev/null "$@"; }
state() { squeue --noheader --states=all --jobs="$1" --format=%T 2>/dev/null | head -n1; }
wait_state() { until [[ $(state "$1") == "$2" ]]; do sleep 0.2; done; }
wait_gone() { while squeue --noheader --jobs="$1" --format=%i 2>/dev/null | grep -q .; do sleep 0.5; done; }
squeue_q() { squeue --noheader --array --states=all --jobs="$1" --format='%i|%T|%M'; }
sacct_q() { sacct --noheader --parsable2 --allocations --jobs="$1" --format=JobID,State,ElapsedRaw; }
out=$OLDPWD

# Phase 1: jobs that end quickly, while one job heads for its time limit.
timeout=$(sub --time=1 --wrap 'sleep 300')
wait_state "$timeout" RUNNING
completed=$(sub --wrap 'sleep 1')
failed=$(sub --wrap 'sleep 1; exit 3')
wait_gone "$completed,$failed"
cancelled=$(sub --wrap 'sleep 300')
wait_state "$cancelled" RUNNING
scancel "$cancelled"
wait_gone "$cancelled"
array_done=$(sub --array=1-4 --wrap 'sleep 1; test "$SLURM_ARRAY_TASK_ID" -ne 3')
wait_gone "$array_done"
requeued=$(sub --wrap 'sleep 5')
wait_state "$requeued" RUNNING
scontrol requeue "$requeued"
squeue_q "$requeued" >"$out/squeue_requeued.txt"
sleep 2
squeue_q "$requeued" >"$out/squeue_requeued_pending.txt"
sacct_q "$requeued" >"$out/sacct_requeued_pending.txt"

# Phase 2: a full node (the timeout job and a long one), so that later jobs pend.
wait_gone "$requeued"
running=$(sub --wrap 'sleep 300')
wait_state "$running" RUNNING
pending=$(sub --wrap 'sleep 1')
array_pending=$(sub --array=1-3 --wrap 'sleep 1')
sleep 1
all="$timeout,$completed,$failed,$cancelled,$array_done,$requeued,$running,$pending,$array_pending"
squeue_q "$all" >"$out/squeue_live.txt"
sacct_q "$all" >"$out/sacct_live.txt"

# Phase 3: everything ends; the timeout job hits its 1-minute limit.
scancel "$running"
wait_gone "$all"
squeue_q "$all" >"$out/squeue_ended.txt"
# Accounting lags slurmctld; wait until slurmdbd has every task as ended.
for _ in $(seq 100); do
    sacct_q "$all" >"$out/sacct_ended.txt"
    [[ $(grep -cvE '\|(PENDING|RUNNING)\|' "$out/sacct_ended.txt") -eq 14 ]] && break
    sleep 0.2
done
squeue_q "$array_done" >"$out/squeue_array_master.txt"

# Held work: an array that never starts (sacct shows it as one row, "ID_[1-5%2]") and a job
# requeued on hold.
held_array=$(sub --hold --array=1-5%2 --wrap true)
requeue_held=$(sub --wrap 'sleep 300')
wait_state "$requeue_held" RUNNING
scontrol requeuehold "$requeue_held"
for _ in $(seq 100); do
    sacct_q "$held_array,$requeue_held" >"$out/sacct_held.txt"
    [[ $(grep -c 'PENDING' "$out/sacct_held.txt") -eq 2 ]] && break
    sleep 0.2
done
squeue_q "$held_array,$requeue_held" >"$out/squeue_held.txt"
scancel "$held_array" "$requeue_held"

# Accounting lag on a new array: for a moment sacct lists it as one plain job.
array_lag=$(sub --array=0-3 --wrap true)
for _ in $(seq 100); do
    sacct_q "$array_lag" >"$out/sacct_array_lag.txt"
    grep -q "^$array_lag|" "$out/sacct_array_lag.txt" && break
    sleep 0.05
done
wait_gone "$array_lag"
squeue_q "$array_lag" >"$out/squeue_array_lag.txt"

# Errors: a single unknown id, and sacct without accounting.
{ squeue_q 999999 || echo "rc=$?"; } >"$out/squeue_unknown_single.txt" 2>&1
{ squeue_q "$completed,999999" || echo "rc=$?"; } >"$out/squeue_unknown_mixed.txt" 2>&1
sed 's/^AccountingStorageType=.*/AccountingStorageType=accounting_storage\/none/' /etc/slurm/slurm.conf >"$work/slurm.conf"
{ SLURM_CONF=$work/slurm.conf sacct_q "$completed" || echo "rc=$?"; } >"$out/sacct_no_accounting.txt" 2>&1
dbd_pid=$(cat /run/runlab-slurm/slurmdbd.pid)
kill "$dbd_pid"
while kill -0 "$dbd_pid" 2>/dev/null; do sleep 0.2; done
{ sacct_q "$completed" || echo "rc=$?"; } >"$out/sacct_slurmdbd_down.txt" 2>&1
"$out/../../../../slurm/one-node/start.sh" >/dev/null
mysqladmin shutdown
{ sacct_q "$completed" || echo "rc=$?"; } >"$out/sacct_mariadb_down.txt" 2>&1
"$out/../../../../slurm/one-node/start.sh" >/dev/null
scontrol show config >"$out/scontrol_show_config.txt"

cat >"$out/jobs.json" <<JSON
{
  "timeout": "$timeout",
  "completed": "$completed",
  "failed": "$failed",
  "cancelled": "$cancelled",
  "array_done": "$array_done",
  "requeued": "$requeued",
  "running": "$running",
  "pending": "$pending",
  "array_pending": "$array_pending",
  "held_array": "$held_array",
  "requeue_held": "$requeue_held",
  "array_lag": "$array_lag"
}
JSON
echo "captured into $out"
