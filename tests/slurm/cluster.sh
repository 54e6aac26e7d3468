#!/usr/bin/env bash
# A single-node Slurm cluster (with accounting) for emotui's launch tests.
#
#   bash tests/slurm/cluster.sh install   # apt packages (Debian/Ubuntu, root); no-op when present
#   bash tests/slurm/cluster.sh start     # munge, MariaDB, slurmdbd, slurmctld, slurmd; no-op when up
#   bash tests/slurm/cluster.sh status    # exit 0 when the node accepts jobs
#   bash tests/slurm/cluster.sh stop      # stop every daemon this script started
#
# Every subcommand is idempotent. State, logs and the MariaDB datadir live under $EMOTUI_SLURM_DIR
# (default /tmp/emotui-slurm); the configs are written to /etc/slurm (where Debian's slurm looks).
# Choices, each for a reason seen on these machines:
# - NodeName=localhost NodeAddr=127.0.0.1 and `slurmd -N localhost`: the host name (e.g. `vm`)
#   need not resolve, 127.0.0.1 always does.
# - proctrack/linuxproc + task/none + select/cons_tres with CR_CPU: no cgroups needed (containers).
# - CPUs=max(8, nproc) with SlurmdParameters=config_overrides: room for 8 one-CPU jobs even on a
#   2-core machine, so the tests' jobs run side by side and a job array's %N throttle (not the
#   CPU count) is what limits concurrency.
# - KillWait=5: a cancelled job frees the node in seconds instead of 30.
# - slurmdbd + MariaDB: without accounting `sacct` exits 1; emotui works without it, but the tests
#   cover the sacct path too. slurmctld registers the cluster in slurmdbd by itself.
set -euo pipefail

DIR="${EMOTUI_SLURM_DIR:-/tmp/emotui-slurm}"
CONF_DIR=/etc/slurm
CLUSTER=emotui
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

log() { printf '[cluster.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts system daemons)"
}

have_binaries() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && command -v slurmdbd >/dev/null \
    && { command -v mariadbd >/dev/null || command -v mysqld >/dev/null \
         || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; }
}

cmd_install() {
  if have_binaries; then
    log "Slurm, munge, slurmdbd and MariaDB already installed"
    return 0
  fi
  need_root
  command -v apt-get >/dev/null || die "apt-get not found: install ${PACKAGES[*]} by hand"
  local t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  # Daemons must not be started by the packages' maintainer scripts (no init system here).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
  log "installed ${PACKAGES[*]} in $((SECONDS - t0)) s"
}

mariadbd_bin() {
  for b in mariadbd mysqld /usr/sbin/mariadbd /usr/sbin/mysqld; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return; fi
  done
  die "MariaDB server not installed; run: bash tests/slurm/cluster.sh install"
}

write_configs() {
  mkdir -p "$CONF_DIR" "$DIR"/{state,spool,log,run,mysql}
  local cpus mem
  cpus=$(nproc)
  [ "$cpus" -lt 8 ] && cpus=8
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by emotui tests/slurm/cluster.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
KillWait=5
JobRequeue=1
MinJobAge=60
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$CONF_DIR/slurmdbd.conf" <<EOF
# Written by emotui tests/slurm/cluster.sh. MariaDB root authenticates over its unix socket.
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
EOF
  chmod 600 "$CONF_DIR/slurmdbd.conf"
}

pid_alive() {  # pid_alive FILE
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [ $((SECONDS - t0)) -ge "$limit" ]; then
      die "$what did not come up within ${limit}s; see $DIR/log/"
    fi
    sleep 0.2
  done
}

start_munge() {
  if pid_alive /run/munge/munged.pid; then return; fi
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; fi
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 700 /etc/munge /var/lib/munge /var/log/munge
  chmod 600 /etc/munge/munge.key
  chmod 755 /run/munge
  runuser -u munge -- munged
  wait_for 10 munged munge -n
}

mysql_up() { mysqladmin --protocol=socket -uroot ping; }

start_mariadb() {
  if mysql_up >/dev/null 2>&1; then return; fi
  mkdir -p /run/mysqld "$DIR/mysql"
  chown mysql:mysql /run/mysqld "$DIR/mysql"
  if [ ! -d "$DIR/mysql/mysql" ]; then
    mysql_install_db --user=mysql --datadir="$DIR/mysql" --auth-root-authentication-method=socket \
      --skip-test-db >"$DIR/log/mysql_install_db.log" 2>&1
  fi
  # setsid: a daemon must not share the caller's process group, or it dies when that group is
  # killed (a pytest run started under `timeout`, a terminal closed, a CI step's cleanup).
  setsid nohup "$(mariadbd_bin)" --user=mysql --datadir="$DIR/mysql" --socket=/run/mysqld/mysqld.sock \
    --pid-file="$DIR/mysql/mariadb.pid" --skip-networking=0 --bind-address=127.0.0.1 \
    --innodb-buffer-pool-size=64M --log-error="$DIR/mysql/mariadb.err" >/dev/null 2>&1 &
  wait_for 30 MariaDB mysql_up
}

start_slurmdbd() {
  if pid_alive "$DIR/run/slurmdbd.pid"; then return; fi
  slurmdbd
  # Listening and answering: sacctmgr talks to slurmdbd directly.
  wait_for 30 slurmdbd sacctmgr -n list cluster
}

node_ready() {
  local state
  state=$(sinfo -h -n localhost -o %t 2>/dev/null) || return 1
  case "$state" in idle*|mix*|alloc*) return 0 ;; *) return 1 ;; esac
}

start_slurm() {
  if ! pid_alive "$DIR/run/slurmctld.pid"; then
    slurmctld
    wait_for 30 slurmctld scontrol ping
  fi
  if ! pid_alive "$DIR/run/slurmd.pid"; then
    slurmd -N localhost
  fi
  if ! node_ready; then
    # A node left down/drained by an earlier run: put it back in service.
    scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
  fi
  wait_for 30 "the node" node_ready
}

cmd_start() {
  if cmd_status >/dev/null 2>&1; then
    # Up, but with an older version of this script's slurm.conf: restart the Slurm daemons.
    local before after
    before=$(cat "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf" 2>/dev/null | md5sum)
    write_configs
    after=$(cat "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf" | md5sum)
    if [ "$before" = "$after" ]; then
      log "cluster already up"
      return 0
    fi
    log "configuration changed: restarting slurmctld and slurmd"
    stop_pidfile slurmd "$DIR/run/slurmd.pid"
    stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
  fi
  need_root
  have_binaries || die "Slurm not installed; run: bash tests/slurm/cluster.sh install"
  local t0=$SECONDS
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurm
  log "cluster up in $((SECONDS - t0)) s (partition debug, node localhost, logs in $DIR/log)"
}

cmd_status() {
  local ok=0
  for d in slurmdbd slurmctld slurmd; do
    if pid_alive "$DIR/run/$d.pid"; then echo "$d: running"; else echo "$d: stopped"; ok=1; fi
  done
  if pid_alive /run/munge/munged.pid; then echo "munged: running"; else echo "munged: stopped"; ok=1; fi
  # slurmdbd keeps running without its database, but then sacct fails: check MariaDB itself.
  if mysql_up >/dev/null 2>&1; then echo "mariadb: running"; else echo "mariadb: stopped"; ok=1; fi
  # sinfo waits ~10 s for a slurmctld that is not there: ask only when the daemons run.
  if [ $ok = 0 ] && node_ready; then sinfo; else echo "node: not ready"; ok=1; fi
  return $ok
}

stop_pidfile() {  # stop_pidfile NAME FILE
  if pid_alive "$2"; then
    local pid; pid=$(cat "$2")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $1"
  fi
}

cmd_stop() {
  stop_pidfile slurmd "$DIR/run/slurmd.pid"
  stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
  stop_pidfile slurmdbd "$DIR/run/slurmdbd.pid"
  stop_pidfile mariadb "$DIR/mysql/mariadb.pid"
  stop_pidfile munged /run/munge/munged.pid
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
