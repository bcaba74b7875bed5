#!/usr/bin/env bash
# A single-node Slurm on 127.0.0.1 for the scale-out tests: munged,
# slurmctld and slurmd from Debian's slurm-wlm and munge packages, with a
# configuration of their own under a state directory (no systemd, no
# cgroups: proctrack/linuxproc, task/none).
#
#   scripts/slurm.sh start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm.sh stop DIR    # stops what `start` started, by pid file
#
# Nothing listens beyond loopback (CommunicationParameters=NoInAddrAny,
# NoCtldInAddrAny). Jobs run as root, as this script does.
set -euo pipefail

cmd=${1:?usage: slurm.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm.sh start|stop DIR}")

stop_pid() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    # Bounded: 10 s, then KILL.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

if [ "$cmd" = stop ]; then
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: slurm.sh start|stop DIR" >&2; exit 2; }

for tool in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch; do
  [ -x "$tool" ] || { echo "slurm.sh: $tool is missing (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
mkdir -p "$dir"/{state,spool,log,munge}
chown munge:munge "$dir/munge"
[ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force; chown munge:munge /etc/munge/munge.key; }

# munged with a socket of its own, found by Slurm's auth plugin through
# AuthInfo below.
runuser -u munge -- /usr/sbin/munged --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed"

# Ports below the kernel's ephemeral range (where the tests' own servers
# and clients take theirs, 32768 and up on Linux), and free now: a port
# taken under slurmctld fails it with "Address already in use".
free_port() {
  local port
  for _ in $(seq 50); do
    port=$(( 10000 + RANDOM % 22000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "slurm.sh: no free port found" >&2
  return 1
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

cpus=$(nproc)
cat > "$dir/slurm.conf" <<EOF
ClusterName=gather-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it may start again
# (120 s by default); 5 is the least Slurm takes.
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=5
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay known for an hour, so that one can be requeued.
MinJobAge=3600
MaxArraySize=1001
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
# Bounded wait for the node to take jobs: 30 s of wall clock, each sinfo
# within 3 s (with no controller, one sinfo alone retries for most of a
# minute), and an end as soon as a daemon has died.
deadline=$(( SECONDS + 30 ))
while [ "$SECONDS" -lt "$deadline" ]; do
  if timeout 3 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  for daemon in slurmctld slurmd; do
    pid=$(cat "$dir/$daemon.pid" 2>/dev/null) || continue
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "slurm.sh: $daemon exited; its log:" >&2
      tail -n 20 "$dir/log/$daemon.log" >&2 || true
      bash "${BASH_SOURCE[0]}" stop "$dir" || true
      exit 1
    fi
  done
  sleep 0.2
done
echo "slurm.sh: the node did not become idle within 30 s; logs in $dir/log" >&2
timeout 3 sinfo >&2 || true
tail -n 20 "$dir"/log/*.log >&2 || true
bash "${BASH_SOURCE[0]}" stop "$dir" || true
exit 1
