#!/usr/bin/env bash
# A real single-node SLURM on localhost for the launcher tests (the pitfalls are in the comments below).
#   .ci/slurm.sh start   install (Debian packages), configure, start munge + slurmctld + slurmd, wait for idle
#   .ci/slurm.sh stop    stop the daemons by their pid files
# Needs root and Debian's package registry; prints why and exits 0 when it cannot (the SLURM test then skips).
set -u
STATE=${SLURM_SCRATCH:-/tmp/scaling-slurm}
CONF=$STATE/slurm.conf

start() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "slurm.sh: not root or no apt-get: SLURM tests will skip"; return 0
  fi
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       slurmctld slurmd slurm-client munge) >/dev/null 2>&1 || { echo "slurm.sh: apt-get install failed: SLURM tests will skip"; return 0; }
  fi
  mkdir -p "$STATE"/{spool,state,log} /run/munge /etc/munge /etc/slurm
  chown munge:munge /run/munge 2>/dev/null || true
  if [ ! -s /etc/munge/munge.key ]; then
    (mungekey --create 2>/dev/null || create-munge-key -f 2>/dev/null || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null)
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null; chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged" || munged --force
  host=$(hostname -s)
  node=$(slurmd -C 2>/dev/null | head -n 1 | sed "s/NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/; s/ UpTime=.*//")
  cat > "$CONF" <<CONFEOF
ClusterName=scaling
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=86400
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFEOF
  ln -sf "$CONF" /etc/slurm/slurm.conf
  # submitit polls with sacct, which needs accounting: a stand-in answering from squeue (SLURM.md pitfall 1).
  install -m 755 "$(dirname "$0")/sacct" /usr/local/bin/sacct
  slurmctld -f "$CONF" && slurmd -f "$CONF" || { echo "slurm.sh: daemons failed to start: SLURM tests will skip"; return 0; }
  for _ in $(seq 50); do
    sinfo -h -o %t 2>/dev/null | grep -q idle && { echo "slurm.sh: SLURM up ($(sinfo -h -o '%P %D %t %c'))"; return 0; }
    sleep 0.2
  done
  echo "slurm.sh: node not idle after 10 s: SLURM tests will skip"
}

stop() {
  for pid in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
    [ -s "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
  done
  return 0
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop"; exit 2 ;;
esac
