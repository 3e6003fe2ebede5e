#!/bin/sh
# normlab sweep --slurm against a real single-node Slurm: writes slurm.conf (this host as the
# one node, no cgroups, no accounting) and a munge key into a temporary directory, starts
# munged, slurmctld and slurmd on it, submits a 2 x 2 sweep as a job array, waits for it
# (bounded), collects, and compares the table and sweep.csv with the same sweep run locally.
# Every daemon it started is stopped by its PID on the way out, whatever happens. Skipped with
# the reason where Slurm or munge is not installed or cannot start here.
# Prints PASS/FAIL/SKIP lines for tests/run.sh.
cd "$(dirname "$0")/../.." || exit 2
BIN=$(realpath "${NORMLAB_BIN:-./normlab}") || exit 2
export LC_ALL=C
NAME=slurm_sweep_on_a_real_cluster

for c in munged slurmctld slurmd sbatch squeue sinfo scancel; do
    if ! command -v "$c" >/dev/null 2>&1; then
        echo "SKIP $NAME: $c is not installed (Debian: slurm-wlm and munge)"
        exit 0
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP $NAME: slurmd runs jobs as their user only when started as root"
    exit 0
fi

T=$(mktemp -d /tmp/nl_slurm_cluster.XXXXXX) || exit 2
chmod 755 "$T" # munged wants its socket's directory searchable by all
PIDS=""
JOB=""
cleanup() {
    if [ -n "$JOB" ]; then
        scancel "$JOB" 2>/dev/null
        i=0
        while [ $i -lt 20 ] && [ -n "$(squeue -h -j "$JOB" 2>/dev/null)" ]; do
            sleep 0.5
            i=$((i + 1))
        done
    fi
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do
        i=0
        while [ $i -lt 50 ] && kill -0 "$p" 2>/dev/null; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$p" 2>/dev/null
    done
    [ -n "$KEEP" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
skip() {
    echo "SKIP $NAME: $1: $(tail -n 2 "$2" 2>/dev/null | tr '\n' ' ')"
    exit 0
}

# --- munge ---------------------------------------------------------------------------------
head -c 1024 /dev/urandom >"$T/munge.key"
chmod 600 "$T/munge.key"
munged -F -f --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
    --log-file="$T/munged.log" --seed-file="$T/munged.seed" >"$T/munged.out" 2>&1 &
PIDS="$!"
i=0
while [ $i -lt 50 ] && [ ! -S "$T/munge.sock" ]; do
    sleep 0.1
    i=$((i + 1))
done
[ -S "$T/munge.sock" ] || skip "munged did not start" "$T/munged.log"

# --- slurm.conf: this host, ports of its own ---------------------------------------------
H=$(hostname -s)
P=$((20000 + $$ % 20000))
mkdir "$T/state" "$T/spool"
cat >"$T/slurm.conf" <<EOF
ClusterName=normlabtest
SlurmctldHost=$H
SlurmctldPort=$P
SlurmdPort=$((P + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=normlab Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"
slurmctld -D -i >"$T/slurmctld.out" 2>&1 &
PIDS="$PIDS $!"
slurmd -D >"$T/slurmd.out" 2>&1 &
PIDS="$PIDS $!"
i=0
while [ $i -lt 100 ] && [ "$(sinfo -h -n "$H" -o %t 2>/dev/null)" != idle ]; do
    sleep 0.2
    i=$((i + 1))
done
[ "$(sinfo -h -n "$H" -o %t 2>/dev/null)" = idle ] ||
    skip "slurmctld and slurmd did not bring the node up" "$T/slurmd.log"

# --- the sweep, on Slurm and here ---------------------------------------------------------
TINY="--set model.d_model=16 --set model.heads=2 --set model.seq_len=16 --set train.batch=4
      --set train.eval_batches=2 --set train.eval_every=5 --steps 12"
VARY="--vary model.placement=pre,post --vary model.layers=1,2"
# shellcheck disable=SC2086
JOB=$("$BIN" sweep default $VARY $TINY --out "$T/s" --slurm --sbatch-args "--time=5" 2>"$T/submit.err")
rc=$?
case "$JOB" in
'' | *[!0-9]*)
    echo "FAIL $NAME: submission: rc $rc, job '$JOB'; $(tail -n 2 "$T/submit.err" | tr '\n' ' ')"
    exit 0
    ;;
esac
i=0
while [ $i -lt 300 ] && [ -n "$(squeue -h -j "$JOB" 2>/dev/null)" ]; do
    sleep 0.2
    i=$((i + 1))
done
if [ -n "$(squeue -h -j "$JOB" 2>/dev/null)" ]; then
    echo "FAIL $NAME: job $JOB still queued or running after 60 s: $(squeue -h -j "$JOB" | head -n 2 | tr '\n' ' ')"
    exit 0
fi
JOB="" # finished: nothing to cancel
"$BIN" sweep --collect "$T/s" >"$T/slurm.out" 2>"$T/collect.err"
rc=$?
# shellcheck disable=SC2086
"$BIN" sweep default $VARY $TINY --out "$T/local" >"$T/local.out" 2>"$T/local.err"
fields() { tail -n +2 "$1/sweep.csv" | cut -d, -f1-9,11 | sort; }
logs=$(ls "$T"/s/slurm/*_*.log 2>/dev/null | wc -l)
if [ "$rc" -eq 0 ] && [ "$logs" -eq 4 ] && grep -q '4 of 4 runs finished' "$T/collect.err" &&
    cmp -s "$T/slurm.out" "$T/local.out" && [ "$(fields "$T/s")" = "$(fields "$T/local")" ]; then
    echo "PASS $NAME"
else
    echo "FAIL $NAME: rc $rc, $logs task logs; $(tr '\n' ' ' <"$T/collect.err") \
$(diff "$T/slurm.out" "$T/local.out" | tr '\n' '|') $(cat "$T"/s/slurm/*.log 2>/dev/null | tail -n 3)"
fi
