#!/usr/bin/env bash
# `make test-slurm`: a one-node Slurm cluster on this machine, for the tests marked slurm.
#
#   tests/slurm_cluster.sh COMMAND...
#
# Installs slurm-wlm and munge from Debian's packages when missing (needs root), writes a
# one-node slurm.conf for localhost with this machine's CPUs and memory into a temporary
# directory, starts munged, slurmctld and slurmd there (loopback only, state and logs in that
# directory), waits until sinfo shows the node idle, runs COMMAND with SLURM_CONF set, and stops
# the daemons it started by their pids, also when COMMAND fails. Every wait is bounded: a
# missing package or a daemon that does not come up is one line on stderr and exit code 1.
set -euo pipefail

WAIT_S=${SLURM_WAIT_S:-60}  # how long each daemon may take to come up
say() { printf 'test-slurm: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
[ $# -gt 0 ] || fail "usage: tests/slurm_cluster.sh COMMAND..."

start=$(now)
missing=()
for tool in munged mungekey slurmctld slurmd sbatch srun sinfo scontrol scancel; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}; install slurm-wlm and munge (apt-get install slurm-wlm munge) or run as root"
  log=$(mktemp)
  say "missing ${missing[*]}: installing slurm-wlm and munge with apt-get"
  if ! { timeout 300 apt-get update -q && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q slurm-wlm munge; } >"$log" 2>&1; then
    fail "apt-get could not install slurm-wlm and munge: $(grep -E '^(E|W):' "$log" | head -1)"
  fi
  say "installed $(dpkg-query -W -f='${Package} ${Version}, ' slurm-wlm munge | sed 's/, $//') in $(took "$start")"
fi

dir=$(mktemp -d -t slurm-test.XXXXXX)
pids=() names=()
stop() {
  local code=$?
  if [ ${#pids[@]} -gt 0 ]; then
    scancel --full --quiet --user "$(id -un)" 2>/dev/null || true  # the jobs first: their steps outlive slurmd
    for _ in $(seq 50); do [ -z "$(squeue --noheader 2>/dev/null)" ] && break; sleep 0.2; done
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    say "stopped ${names[*]} (pids ${pids[*]}); logs in $dir"
  fi
  exit "$code"
}
trap stop EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for WHAT LOG CONDITION...: up to WAIT_S seconds
  local what=$1 log=$2 deadline=$(( $(date +%s) + WAIT_S ))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail "$what did not come up in $WAIT_S s: $(tail -n 1 "$log" 2>/dev/null || echo 'no log')"
    fi
    sleep 0.2
  done
}

up=$(now)
mkdir -p "$dir/state" "$dir/spool"
mungekey --create --keyfile "$dir/munge.key"
munged --force --socket "$dir/munge.socket" --key-file "$dir/munge.key" --pid-file "$dir/munged.pid" \
  --log-file "$dir/munged.log" --seed-file "$dir/munged.seed"
wait_for munged "$dir/munged.log" test -s "$dir/munged.pid"
pids+=("$(cat "$dir/munged.pid")") names+=(munged)
wait_for munged "$dir/munged.log" bash -c "munge --socket '$dir/munge.socket' -n | unmunge --socket '$dir/munge.socket'"

cpus=$(nproc)
memory_mb=$(( $(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024 * 95 / 100 ))  # a little for the OS
cat > "$dir/slurm.conf" <<EOF
ClusterName=shapo-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=2
KillWait=5
OverTimeLimit=0
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >>"$dir/slurmctld.log" 2>&1 &
pids+=($!) names+=(slurmctld)
wait_for slurmctld "$dir/slurmctld.log" scontrol ping
slurmd -D -N localhost -f "$SLURM_CONF" >>"$dir/slurmd.log" 2>&1 &
pids+=($!) names+=(slurmd)
wait_for "slurmd (the node idle in sinfo)" "$dir/slurmd.log" bash -c '[ "$(sinfo --noheader -o %t)" = idle ]'
say "munged, slurmctld and slurmd up in $(took "$up"): $(sinfo --noheader -o '%P %D node %c CPUs %m MB %t')"

tests=$(now)
set +e
"$@"
code=$?
set -e
say "$* exited with $code in $(took "$tests")"
exit "$code"
