#!/usr/bin/env bash
# A one-node Slurm cluster with accounting on this Debian machine, to try `hydra/launcher=slurm*` for real:
#   sudo scripts/local_slurm.sh start    # install (once), configure, start munged, mariadbd, slurmdbd, slurmctld, slurmd
#   sudo scripts/local_slurm.sh status   # which of its daemons run, and the node as Slurm sees it
#   sudo scripts/local_slurm.sh stop     # stop the daemons this script started (by their pid files), nothing else
# Idempotent: `start` twice starts nothing twice. No systemd: the daemons are started directly.
# Settings that work without cgroups (containers, CI): proctrack/linuxproc, task/none, no job accounting
# gathering; cons_tres with CR_Core_Memory and a DefMemPerCPU so jobs share the node instead of each taking
# all of its memory; EnforcePartLimits=ALL so an impossible request is refused at submission, not left
# PENDING forever; a requeued job waits 10 s (cred_expire), not 2 minutes, before it starts again. Accounting (slurmdbd + MariaDB) is what lets submitit see a cancelled job end (sacct).
set -euo pipefail

RUN_DIR=/run/mixnam-slurm          # pid files of the daemons this script started
LOG_DIR=/var/log/mixnam-slurm
STATE_DIR=/var/lib/mixnam-slurm
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
MARKER="# written by mixnam scripts/local_slurm.sh"
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop goes backwards
DB_PASS=mixnam-local-slurm                           # a local-only database, reachable through its socket only

die() { echo "local_slurm: $*" >&2; exit 1; }
say() { echo "local_slurm: $*"; }

pid_of() { local file="$RUN_DIR/$1.pid"; [[ -s $file ]] && kill -0 "$(cat "$file")" 2>/dev/null && cat "$file"; }
running() { pid_of "$1" >/dev/null; }

wait_for() {  # wait_for <seconds> <what> <command...>: poll until the command succeeds
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    die "$what did not come up within ${seconds}s (logs: $LOG_DIR)"
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    ((${#missing[@]} == 0)) && return
    command -v apt-get >/dev/null || die "needs Debian/Ubuntu (apt-get); install ${missing[*]} by hand"
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ours_or_absent() { [[ ! -e $1 ]] || grep -qF "$MARKER" "$1" || die "$1 exists and was not written by this script; \
move it away to let this script configure the local cluster"; }

write_configs() {
    ours_or_absent "$CONF"; ours_or_absent "$DBD_CONF"
    local host node
    host=$(hostname -s)
    node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d"
    cat >"$CONF" <<EOF
$MARKER
ClusterName=mixnam
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
EnforcePartLimits=ALL
ReturnToService=2
KillWait=5
MinJobAge=60
$node
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DBD_CONF" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm "$DBD_CONF" "$LOG_DIR"; chmod 600 "$DBD_CONF"
}

start_munged() {
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && ! running munged && { say "munged: one is already running"; return; }
    install -d -o munge -g munge -m 0755 /run/munge
    chown munge "$RUN_DIR"   # munged writes its own pid file, as the munge user
    runuser -u munge -- /usr/sbin/munged --pid-file="$RUN_DIR/munged.pid"
    wait_for 10 munged bash -c "munge -n | unmunge"
}

start_mariadbd() {
    install -d -o mysql -g mysql /run/mysqld
    nohup /usr/sbin/mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/mixnam.pid >>"$LOG_DIR/mariadb.log" 2>&1 &
    echo $! >"$RUN_DIR/mariadbd.pid"
    wait_for 30 mariadbd mysqladmin --socket=/run/mysqld/mysqld.sock ping
    mysql --socket=/run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() { /usr/sbin/slurmdbd; wait_for 30 slurmdbd sacctmgr -n show cluster; }
start_slurmctld() { /usr/sbin/slurmctld; wait_for 30 slurmctld scontrol ping; }
start_slurmd() {
    /usr/sbin/slurmd
    wait_for 30 "the node" bash -c "sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'"
}

start() {
    ((EUID == 0)) || die "run as root (sudo $0 start): it installs packages and starts system daemons"
    install_packages
    write_configs
    for daemon in "${DAEMONS[@]}"; do
        if running "$daemon"; then say "$daemon already running (pid $(pid_of "$daemon"))"; continue; fi
        "start_$daemon"
        say "$daemon started (pid $(pid_of "$daemon" || echo 'not ours'))"
    done
    sinfo
}

stop() {
    local i daemon pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        daemon=${DAEMONS[i]}
        if pid=$(pid_of "$daemon"); then
            kill "$pid"
            for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -0 "$pid" 2>/dev/null && { say "$daemon (pid $pid) ignored SIGTERM for 30s; killing it"; kill -9 "$pid"; }
            say "$daemon stopped (pid $pid)"
        fi
        rm -f "$RUN_DIR/$daemon.pid"
    done
}

status() {
    local daemon down=0
    for daemon in "${DAEMONS[@]}"; do
        if running "$daemon"; then echo "$daemon: running (pid $(pid_of "$daemon"))"; else echo "$daemon: stopped"; down=1; fi
    done
    ((down)) || sinfo
    return $down
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
