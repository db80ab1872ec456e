#!/usr/bin/env bash
# pgtenant benchmark suite: direct PostgreSQL vs PgBouncer vs pgtenant, interleaved in one run.
#
#   bench/run.sh <build-dir> [options]        (./run.sh bench [options] does this)
#
#   --quick          smoke run: 1 round, 3 s runs, 8 clients, no warm-up (CI; asserts it ran)
#   --workers N      pgtenant io_context worker threads (default 1)
#   --rounds N       interleaved rounds per workload and client count (default 3)
#   --duration S     seconds per pgbench run (default 15)
#   --clients "A B"  client counts (default "32 128")
#   --workloads "W"  any of: simple extended prepared (default "simple extended prepared";
#                    PgBouncer 1.18 cannot run -M prepared in transaction mode: skipped there)
#   --pool-size N    backend pool size of both poolers (default 20)
#   --scale N        pgbench scale factor (default 10)
#   --jobs N         pgbench threads (-j, default 2)
#   --out DIR        where the report goes (default bench/results)
#
# Starts its own PostgreSQL 15 cluster, PgBouncer and pgtenant on 127.0.0.1 (free ports), all in
# one temp dir that is removed on exit (also on Ctrl-C). Writes <out>/<timestamp>.md and .csv.
# Exit status: 0 if every pgbench run succeeded, 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PGBOUNCER=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
PGBENCH=${PGBENCH:-$(command -v pgbench || echo "$PG_BINDIR/pgbench")}

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# ---- options ------------------------------------------------------------------------------
BUILD=""
QUICK=0
WORKERS=1
ROUNDS=3
DURATION=15
CLIENTS="32 128"
WORKLOADS="simple extended prepared"
POOL_SIZE=20
SCALE=10
JOBS=2
OUT="$HERE/results"
explicit=()
while (($#)); do
    case "$1" in
        --quick) QUICK=1 ;;
        --workers) WORKERS=$2; shift ;;
        --rounds) ROUNDS=$2; explicit+=(rounds); shift ;;
        --duration) DURATION=$2; explicit+=(duration); shift ;;
        --clients) CLIENTS=$2; explicit+=(clients); shift ;;
        --workloads) WORKLOADS=$2; shift ;;
        --pool-size) POOL_SIZE=$2; shift ;;
        --scale) SCALE=$2; shift ;;
        --jobs) JOBS=$2; shift ;;
        --out) OUT=$2; shift ;;
        -h|--help) usage ;;
        -*) echo "bench: unknown option $1" >&2; usage ;;
        *) [[ -z $BUILD ]] || usage; BUILD=$1 ;;
    esac
    shift
done
[[ -n $BUILD ]] || usage
if ((QUICK)); then
    # Explicit options win over the quick defaults.
    [[ " ${explicit[*]} " == *" rounds "* ]] || ROUNDS=1
    [[ " ${explicit[*]} " == *" duration "* ]] || DURATION=3
    [[ " ${explicit[*]} " == *" clients "* ]] || CLIENTS=8
fi
for w in $WORKLOADS; do
    [[ $w == simple || $w == extended || $w == prepared ]] || { echo "bench: unknown workload $w" >&2; exit 2; }
done
BINARY=$(cd "$BUILD" && pwd)/proxy/pgtenant
[[ -x $BINARY ]] || { echo "bench: no pgtenant binary at $BINARY (build first)" >&2; exit 1; }
[[ -x $PG_BINDIR/initdb ]] || { echo "bench: no PostgreSQL server in $PG_BINDIR (set PG_BINDIR)" >&2; exit 1; }
[[ -x $PGBOUNCER ]] || { echo "bench: pgbouncer not found (apt-get install pgbouncer)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is needed for the report" >&2; exit 1; }

# PostgreSQL and PgBouncer refuse to run as root: run them as user postgres then.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*"; }

# ---- cleanup ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgtenant-bench.XXXXXX")
PGTENANT_PID=""
PGBOUNCER_PID=""
PG_STARTED=0
KEEP_LOGS=""   # set to a directory to save the poolers' logs there before cleanup

stop_pid() {
    local pid=$1
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$PGTENANT_PID"
    stop_pid "$PGBOUNCER_PID"
    if ((PG_STARTED)); then
        as_pg "$PG_BINDIR/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n $KEEP_LOGS ]]; then
        mkdir -p "$KEEP_LOGS"
        cp "$WORK"/pgtenant.log "$WORK"/pgbouncer.log "$WORK"/postgres.log "$KEEP_LOGS"/ 2>/dev/null || true
        cp -r "$WORK/runs" "$KEEP_LOGS"/ 2>/dev/null || true
        echo "bench: logs of the failed run kept in $KEEP_LOGS" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/sock" "$WORK/runs" "$WORK/latency"
[[ $(id -u) -ne 0 ]] || chown postgres "$WORK" "$WORK/sock"

# ---- PostgreSQL ---------------------------------------------------------------------------
log "starting PostgreSQL in $WORK"
as_pg "$PG_BINDIR/initdb" -D "$WORK/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C --no-sync >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; exit 1; }
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$WORK/data/pg_hba.conf"
# fsync/synchronous_commit off: this measures pooling, not the disk (select-only anyway).
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/sock'
max_connections = 400
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
EOF
for _ in 1 2 3; do
    PG_PORT=$(free_port)
    if as_pg "$PG_BINDIR/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -o "-p $PG_PORT" -w start >/dev/null; then
        PG_STARTED=1
        break
    fi
done
((PG_STARTED)) || { cat "$WORK/postgres.log" >&2; exit 1; }

POOL_ROLE=bench_pool
POOL_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
CLIENT_LOGIN=bench
CLIENT_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
PRACTICE=0b0b0b0b-1111-4222-8333-444444444444
DB=bench
SUPER=(psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/sock" -p "$PG_PORT" -U postgres)
"${SUPER[@]}" -d postgres -c "CREATE DATABASE $DB"
"${SUPER[@]}" -d postgres -v pw="$POOL_PASSWORD" <<EOF
CREATE ROLE $POOL_ROLE LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'pw';
EOF
log "pgbench -i -s $SCALE"
"$PGBENCH" -i -q -s "$SCALE" -h "$WORK/sock" -p "$PG_PORT" -U postgres "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
    { cat "$WORK/pgbench-init.log" >&2; exit 1; }
"${SUPER[@]}" -d "$DB" <<EOF
GRANT SELECT, UPDATE, INSERT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history
    TO $POOL_ROLE;
VACUUM ANALYZE;
EOF
log "PostgreSQL 15 on 127.0.0.1:$PG_PORT, database $DB, pool role $POOL_ROLE"

# ---- PgBouncer ----------------------------------------------------------------------------
# Same database, same pool role, same pool size, transaction pooling. The userlist holds the
# pool role's plain password so PgBouncer can do SCRAM both with clients and with PostgreSQL.
BOUNCER_PORT=""
start_pgbouncer() {
    BOUNCER_PORT=$(free_port)
    printf '"%s" "%s"\n' "$POOL_ROLE" "$POOL_PASSWORD" >"$WORK/userlist.txt"
    cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PG_PORT dbname=$DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 10000
max_db_connections = $POOL_SIZE
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
log_stats = 0
stats_period = 3600
server_tls_sslmode = disable
EOF
    [[ $(id -u) -ne 0 ]] || chown postgres "$WORK/userlist.txt" "$WORK/pgbouncer.ini"
    chmod 600 "$WORK/userlist.txt"
    local user_args=()
    [[ $(id -u) -ne 0 ]] || user_args=(-u postgres)   # pgbouncer drops to postgres itself: $! stays its pid
    "$PGBOUNCER" "${user_args[@]}" "$WORK/pgbouncer.ini" >>"$WORK/pgbouncer.out" 2>&1 &
    PGBOUNCER_PID=$!
    for _ in $(seq 100); do
        kill -0 "$PGBOUNCER_PID" 2>/dev/null || break
        port_open "$BOUNCER_PORT" && return 0
        sleep 0.1
    done
    stop_pid "$PGBOUNCER_PID"
    PGBOUNCER_PID=""
    return 1
}
for _ in 1 2 3; do start_pgbouncer && break; done
[[ -n $PGBOUNCER_PID ]] || { echo "bench: PgBouncer did not start" >&2; cat "$WORK"/pgbouncer.{out,log} >&2 2>/dev/null; exit 1; }
log "PgBouncer $("$PGBOUNCER" --version | head -n1 | awk '{print $2}') on 127.0.0.1:$BOUNCER_PORT (pid $PGBOUNCER_PID)"

# ---- pgtenant -----------------------------------------------------------------------------
PROXY_PORT=""
start_pgtenant() {
    PROXY_PORT=$(free_port)
    cat >"$WORK/users.toml" <<EOF
[[login]]
name = "$CLIENT_LOGIN"
practice = "$PRACTICE"
scram = "$(printf '%s\n' "$CLIENT_PASSWORD" | "$BINARY" scram-verifier)"
EOF
    cat >"$WORK/pgtenant.toml" <<EOF
[server]
listen_addr = "127.0.0.1"
listen_port = $PROXY_PORT
workers = $WORKERS
log_level = "warn"

[backend]
host = "127.0.0.1"
port = $PG_PORT
database = "$DB"
user = "$POOL_ROLE"
password_env = "BENCH_POOL_PASSWORD"

[pool]
size = $POOL_SIZE
min_idle = 0
wait_timeout_ms = 30000
mode = "transaction"

[tenant]
users_file = "users.toml"
setting = "app.current_practice_id"
EOF
    BENCH_POOL_PASSWORD=$POOL_PASSWORD "$BINARY" --config "$WORK/pgtenant.toml" >>"$WORK/pgtenant.log" 2>&1 &
    PGTENANT_PID=$!
    for _ in $(seq 100); do
        kill -0 "$PGTENANT_PID" 2>/dev/null || break
        port_open "$PROXY_PORT" && return 0
        sleep 0.1
    done
    stop_pid "$PGTENANT_PID"
    PGTENANT_PID=""
    return 1
}
for _ in 1 2 3; do start_pgtenant && break; done
[[ -n $PGTENANT_PID ]] || { echo "bench: pgtenant did not start" >&2; cat "$WORK/pgtenant.log" >&2; exit 1; }
PGTENANT_VERSION=$("$BINARY" --version 2>/dev/null | head -n1 | sed 's/^pgtenant //' || echo unknown)
log "pgtenant ($PGTENANT_VERSION, workers=$WORKERS) on 127.0.0.1:$PROXY_PORT (pid $PGTENANT_PID)"

# ---- measurement helpers ------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# utime+stime of all threads of a process, in clock ticks.
cpu_ticks() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $((${12} + ${13}))
}
# CPU of the whole PostgreSQL server in clock ticks: the postmaster, its live children, and
# (cutime/cstime) every child that already exited, so backends of direct connections that end
# during a run are counted too.
PG_POSTMASTER_PID=$(head -n1 "$WORK/data/postmaster.pid")
pg_cpu_ticks() {
    local line rest total child
    read -r line <"/proc/$PG_POSTMASTER_PID/stat" || { echo 0; return; }
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    total=$((${12} + ${13} + ${14} + ${15}))
    for child in $(pgrep -P "$PG_POSTMASTER_PID"); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}
# Busy and total jiffies of the whole machine (every CPU), from /proc/stat.
host_jiffies() {
    local _cpu user nice system idle iowait irq softirq steal _rest
    read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}
# Resets the peak-RSS counter (VmHWM) to the current RSS; 1 if the kernel allowed it.
reset_hwm() { { echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null && echo 1 || echo 0; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

target_port() {
    case "$1" in
        direct) echo "$PG_PORT" ;;
        pgbouncer) echo "$BOUNCER_PORT" ;;
        pgtenant) echo "$PROXY_PORT" ;;
    esac
}
target_pid() {
    case "$1" in
        pgbouncer) echo "$PGBOUNCER_PID" ;;
        pgtenant) echo "$PGTENANT_PID" ;;
        *) echo "" ;;
    esac
}

RESULTS_CSV="$WORK/runs.csv"
echo "workload,clients,round,target,rc,cpu_s,pg_cpu_s,host_busy_pct,peak_rss_kb,hwm_reset,wall_s,run_id" >"$RESULTS_CSV"
FAILURES=0
RUN_SEQ=0
SAMPLING=$( ((QUICK)) && echo 1 || echo 0.1)

# run_pgbench <workload> <clients> <round|warmup> <target> <seconds>
run_pgbench() {
    local workload=$1 clients=$2 round=$3 target=$4 seconds=$5
    local port pid user password id cpu0 cpu1 pg0 pg1 hwm reset rc t0 t1
    port=$(target_port "$target")
    pid=$(target_pid "$target")
    if [[ $target == pgtenant ]]; then
        user=$CLIENT_LOGIN password=$CLIENT_PASSWORD
    else
        user=$POOL_ROLE password=$POOL_PASSWORD
    fi
    RUN_SEQ=$((RUN_SEQ + 1))
    id=$(printf '%03d-%s-c%s-%s-%s' "$RUN_SEQ" "$workload" "$clients" "$round" "$target")
    local jobs=$JOBS
    ((jobs <= clients)) || jobs=$clients
    local args=(-h 127.0.0.1 -p "$port" -U "$user" -n -S -M "$workload" -c "$clients" -j "$jobs" -T "$seconds")
    [[ $round == warmup ]] || args+=(-l --sampling-rate="$SAMPLING" --log-prefix="$WORK/latency/$id")
    cpu0=0 reset=0
    if [[ -n $pid ]]; then
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench: $target (pid $pid) is no longer running" >&2
        fi
        cpu0=$(cpu_ticks "$pid")
        reset=$(reset_hwm "$pid")
    fi
    local children0
    children0=$(pgrep -c -P "$PG_POSTMASTER_PID" || true)
    pg0=$(pg_cpu_ticks)
    local host0 host1
    host0=$(host_jiffies)
    t0=$(date +%s.%N)
    rc=0
    # A generous timeout turns a hung pooler into a recorded failure instead of a stuck run.
    PGPASSWORD=$password PGSSLMODE=disable PGCONNECT_TIMEOUT=10 \
        timeout --signal=INT --kill-after=10 $((seconds + 60)) \
        "$PGBENCH" "${args[@]}" "$DB" >"$WORK/runs/$id.out" 2>"$WORK/runs/$id.err" || rc=$?
    t1=$(date +%s.%N)
    host1=$(host_jiffies)
    # Let the backends of direct connections exit (their CPU then moves into the postmaster's
    # cutime) before taking the second sample. Poolers keep theirs: nothing to wait for.
    [[ $target == direct ]] || children0=0
    for _ in $(seq 30); do
        ((children0 > 0)) || break
        (($(pgrep -c -P "$PG_POSTMASTER_PID" || true) <= children0)) && break
        sleep 0.1
    done
    pg1=$(pg_cpu_ticks)
    cpu1=$cpu0 hwm=0
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        cpu1=$(cpu_ticks "$pid")
        hwm=$(hwm_kb "$pid")
    fi
    # pgbench exits 0 even when some clients failed a transaction; treat any abort as an error.
    if ((rc == 0)) && grep -qiE 'aborted|error|fatal' "$WORK/runs/$id.err"; then rc=99; fi
    if ((rc == 0)) && ! grep -q '^tps = ' "$WORK/runs/$id.out"; then rc=98; fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then rc=97; fi
    local cpu_s pg_cpu_s wall host_busy
    # shellcheck disable=SC2086
    host_busy=$(echo $host0 $host1 | awk '{ if ($4 > $2) printf "%.0f", 100 * ($3 - $1) / ($4 - $2); else print 0 }')
    pg_cpu_s=$(awk -v a="$pg0" -v b="$pg1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    local tps
    tps=$(sed -n 's/^tps = \([0-9]*\).*/\1/p' "$WORK/runs/$id.out")
    if [[ $round == warmup && $rc == 98 ]]; then
        # A warm-up only fills pools and caches; on a loaded machine 128 direct SCRAM logins can
        # outlast it (0 transactions, no tps line). Not an error of any target.
        log "$(printf '%-9s %-9s c=%-4s warm-up ended before all clients connected (ignored)' "$workload" "$target" "$clients")"
    elif ((rc != 0)); then
        FAILURES=$((FAILURES + 1))
        log "FAILED $id (exit $rc):"
        tail -n 5 "$WORK/runs/$id.err" | sed 's/^/    /'
        [[ $target != pgtenant ]] || { echo "    pgtenant log tail:"; tail -n 10 "$WORK/pgtenant.log" | sed 's/^/    /'; }
    else
        log "$(printf '%-9s %-9s c=%-4s round %-6s %7s tps  cpu: pooler %5ss  postgres %5ss  host busy %3s%%' "$workload" "$target" "$clients" "$round" "$tps" "$cpu_s" "$pg_cpu_s" "$host_busy")"
    fi
    [[ $round == warmup ]] ||
        echo "$workload,$clients,$round,$target,$rc,$cpu_s,$pg_cpu_s,$host_busy,$hwm,$reset,$wall,$id" >>"$RESULTS_CSV"
}

# ---- pre-flight ---------------------------------------------------------------------------
# Each target answers as the pool role (not superuser, not BYPASSRLS); through pgtenant the
# transaction is bound to the practice, which is the work pgtenant adds to every transaction.
TARGETS=(direct pgbouncer pgtenant)
for target in "${TARGETS[@]}"; do
    if [[ $target == pgtenant ]]; then user=$CLIENT_LOGIN password=$CLIENT_PASSWORD; else user=$POOL_ROLE password=$POOL_PASSWORD; fi
    answer=$(PGPASSWORD=$password PGSSLMODE=disable PGCONNECT_TIMEOUT=10 psql -X -At -F ' ' -h 127.0.0.1 \
        -p "$(target_port "$target")" -U "$user" -d "$DB" -c "SELECT current_user, rolsuper, rolbypassrls,
            coalesce(nullif(current_setting('app.current_practice_id', true), ''), '-')
            FROM pg_roles WHERE rolname = current_user" 2>&1) ||
        { echo "bench: pre-flight query through $target failed: $answer" >&2; KEEP_LOGS="$OUT/preflight-logs"; exit 1; }
    expected="$POOL_ROLE f f -"
    [[ $target != pgtenant ]] || expected="$POOL_ROLE f f $PRACTICE"
    [[ $answer == "$expected" ]] ||
        { echo "bench: pre-flight through $target: got '$answer', expected '$expected'" >&2; exit 1; }
done
log "pre-flight ok: all targets answer as $POOL_ROLE; pgtenant binds practice $PRACTICE"

# ---- the runs -----------------------------------------------------------------------------
# PgBouncer 1.18 has no prepared-statement support in transaction pooling.
skip_target() { [[ $1 == prepared && $2 == pgbouncer ]]; }

read -r LOAD_BEFORE _ </proc/loadavg
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "plan: workloads [$WORKLOADS], clients [$CLIENTS], $ROUNDS round(s) of ${DURATION}s per target, interleaved ${TARGETS[*]}"
for workload in $WORKLOADS; do
    for clients in $CLIENTS; do
        if ((!QUICK)); then
            # Warm-up: fills both pools and the caches; not recorded.
            for target in "${TARGETS[@]}"; do
                skip_target "$workload" "$target" || run_pgbench "$workload" "$clients" warmup "$target" 5
            done
        fi
        for round in $(seq "$ROUNDS"); do
            for target in "${TARGETS[@]}"; do
                skip_target "$workload" "$target" || run_pgbench "$workload" "$clients" "$round" "$target" "$DURATION"
            done
        done
    done
done
read -r LOAD_AFTER _ </proc/loadavg

# ---- report -------------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
cat >"$WORK/meta.txt" <<EOF
started=$STARTED_AT
mode=$( ((QUICK)) && echo quick || echo full)
host=$(hostname)
cpus=$(nproc)
kernel=$(uname -r)
loadavg_before=$LOAD_BEFORE
loadavg_after=$LOAD_AFTER
pgtenant=$PGTENANT_VERSION
pgtenant_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo "+dirty")
pgtenant_workers=$WORKERS
pgbouncer=$("$PGBOUNCER" --version | head -n1)
postgresql=$("$PG_BINDIR/postgres" --version)
pgbench=$("$PGBENCH" --version)
pool_size=$POOL_SIZE
scale=$SCALE
pgbench_jobs=$JOBS
rounds=$ROUNDS
duration_s=$DURATION
latency_sampling_rate=$SAMPLING
EOF
python3 "$HERE/report.py" --work "$WORK" --md "$OUT/$STAMP.md" --csv "$OUT/$STAMP.csv"
echo
cat "$OUT/$STAMP.md"
echo
log "report written to $OUT/$STAMP.md (raw numbers in $STAMP.csv)"
if ((FAILURES)); then
    KEEP_LOGS="$OUT/$STAMP-logs"
    log "$FAILURES run(s) failed"
    exit 1
fi
