#!/usr/bin/env bash
# pgtenant benchmark suite: direct PostgreSQL vs PgBouncer vs pgtenant, interleaved in one run.
#
#   bench/run.sh <build-dir> [options]        (./run.sh bench [options] does this)
#
#   --quick               smoke run of every workload: 1 round of 2 s, 8 clients, W4 with 200
#                         clients and 200 idle ones, no warm-up, no W3 "1 message" rows, W5
#                         simple only (CI; asserts that every target ran without errors)
#   --workloads "W"       any of: simple extended prepared rows tenant many scale latency
#                         (default: all)
#                           simple, extended, prepared   W1/W2 pgbench -S (-M prepared is not run
#                                                        through PgBouncer 1.18: it cannot); W1
#                                                        also through "the runtime's floor", a
#                                                        1:1 forwarder on pgtenant's runtime
#                                                        (bench/floor_forwarder.cpp)
#                           rows      W7 a 1,000-row SELECT per transaction (large results)
#                           tenant    W3 RLS workload: middleware set_config vs pgtenant binding
#                           scale     W4 many clients on few backends, memory per idle client
#                           latency   W5 one client, simple and extended: latency pgtenant adds
#                           many      W6 many practices on the pool: tenant read, and read+update
#                                     (extended, prepared), 32 practices x 1 client and 4 x 8;
#                                     reports pgtenant's practice-switch resets per 1,000 tx
#   --workers N           pgtenant io_context worker threads (default 1)
#   --rounds N            interleaved rounds per workload and client count (default 3; W4: 2)
#   --duration S          seconds per measured pgbench run (default 10)
#   --clients "A B"       W1/W2 client counts (default "32 128")
#   --tenant-clients "A"  W3 client counts (default "32")
#   --tenant-per-proc N   W3 through pgtenant: clients per pgbench process, each process its own
#                         practice login (default 4: 32 clients = 8 processes)
#   --no-1msg             W3 without the extra "middleware in one message" rows
#   --scale-clients N     W4 clients on the pool (default 2000)
#   --idle-clients N      W4 idle client connections per pooler for memory (default 10000)
#   --pool-size N         backend pool size of both poolers (default 20)
#   --scale N             pgbench scale factor (default 10)
#   --jobs N              pgbench threads (-j, default 2)
#   --out DIR             where the report goes (default bench/results)
#   --keep                keep the temp dir (server logs, pgbench output, latency logs)
#
# PGBOUNCER_BIN=<path to another pgbouncer> adds it as target "pgbouncer-alt" wherever Debian's
# runs (and under -M prepared when it is 1.21 or later: max_prepared_statements), e.g. a newer
# release built by hand for comparison. PGBOUNCER=<path> replaces Debian's. PGTENANT_IO=io_uring
# runs pgtenant on io_uring (the report's header says which I/O backend was asked for).
#
# Starts its own PostgreSQL 15 cluster, PgBouncer and pgtenant on 127.0.0.1 (free ports), all in
# one temp dir that is removed on exit (also on Ctrl-C). Writes <out>/<timestamp>.md, .csv and
# .png (the chart, when python3-matplotlib is installed). Exit status: 0 if every run succeeded
# with no errors, 1 otherwise (logs then kept in <out>/<timestamp>-logs).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# pg_cluster_start/stop, as_pg, free_port, port_open, wait_listening (shared with config/demo.sh).
# shellcheck source=config/pg_cluster.sh
source "$ROOT/config/pg_cluster.sh"
PGBOUNCER=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
PGBOUNCER_BIN=${PGBOUNCER_BIN:-}   # a second PgBouncer beside it (see the header)
PGBENCH=${PGBENCH:-$(command -v pgbench || echo "$PG_BINDIR/pgbench")}
# The report's chart needs python3-matplotlib, which Debian installs for its own interpreter.
REPORT_PYTHON=${REPORT_PYTHON:-$([[ -x /usr/bin/python3 ]] && echo /usr/bin/python3 || echo python3)}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# ---- options ------------------------------------------------------------------------------
ALL_WORKLOADS="simple extended prepared rows tenant many scale latency"
BUILD=""
QUICK=0
WORKERS=1
ROUNDS=3
DURATION=10
CLIENTS="32 128"
TENANT_CLIENTS=32
TENANT_PER_PROC=4
TENANT_1MSG=1
TENANT_PRACTICES=100
TENANT_PATIENTS=1000
SCALE_CLIENTS=2000
IDLE_CLIENTS=10000
WORKLOADS=$ALL_WORKLOADS
POOL_SIZE=20
SCALE=10
JOBS=2
OUT="$HERE/results"
KEEP_WORK=0
explicit=" "
while (($#)); do
    case "$1" in
        --quick) QUICK=1 ;;
        --workers) WORKERS=$2; shift ;;
        --rounds) ROUNDS=$2; explicit+="rounds "; shift ;;
        --duration) DURATION=$2; explicit+="duration "; shift ;;
        --clients) CLIENTS=$2; explicit+="clients "; shift ;;
        --tenant-clients) TENANT_CLIENTS=$2; explicit+="tenant-clients "; shift ;;
        --tenant-per-proc) TENANT_PER_PROC=$2; shift ;;
        --no-1msg) TENANT_1MSG=0 ;;
        --scale-clients) SCALE_CLIENTS=$2; explicit+="scale-clients "; shift ;;
        --idle-clients) IDLE_CLIENTS=$2; explicit+="idle-clients "; shift ;;
        --workloads) WORKLOADS=$2; shift ;;
        --pool-size) POOL_SIZE=$2; shift ;;
        --scale) SCALE=$2; explicit+="scale "; shift ;;
        --jobs) JOBS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --keep) KEEP_WORK=1 ;;
        -h|--help) usage ;;
        -*) echo "bench: unknown option $1" >&2; usage ;;
        *) [[ -z $BUILD ]] || usage; BUILD=$1 ;;
    esac
    shift
done
[[ -n $BUILD ]] || usage
if ((QUICK)); then
    # Explicit options win over the quick defaults.
    quick_default() { [[ $explicit == *" $1 "* ]] || printf -v "$2" '%s' "$3"; }
    quick_default rounds ROUNDS 1
    quick_default duration DURATION 2
    quick_default clients CLIENTS 8
    quick_default tenant-clients TENANT_CLIENTS 8
    quick_default scale-clients SCALE_CLIENTS 200
    quick_default idle-clients IDLE_CLIENTS 200
    quick_default scale SCALE 1
fi
for w in $WORKLOADS; do
    [[ " $ALL_WORKLOADS " == *" $w "* ]] || { echo "bench: unknown workload $w" >&2; exit 2; }
done
want() { [[ " $WORKLOADS " == *" $1 "* ]]; }
WANT_TENANT=0
! want tenant && ! want many || WANT_TENANT=1
BINARY=$(cd "$BUILD" && pwd)/proxy/pgtenant
PG_VERIFIER_LIBRARY=$(cd "$BUILD" && pwd)/auth/server_verifier/pgtenant_verifier.so   # sealed mode's C verifier
IDLE_TOOL=$(cd "$BUILD" && pwd)/bench/bench_idle_clients
FLOOR_TOOL=$(cd "$BUILD" && pwd)/bench/bench_floor_forwarder
[[ -x $BINARY ]] || { echo "bench: no pgtenant binary at $BINARY (build first)" >&2; exit 1; }
[[ -x $PG_BINDIR/initdb ]] || { echo "bench: no PostgreSQL server in $PG_BINDIR (set PG_BINDIR)" >&2; exit 1; }
[[ -x $PGBOUNCER ]] || { echo "bench: pgbouncer not found (apt-get install pgbouncer)" >&2; exit 1; }
[[ -z $PGBOUNCER_BIN || -x $PGBOUNCER_BIN ]] || { echo "bench: PGBOUNCER_BIN=$PGBOUNCER_BIN is not executable" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is needed for the report" >&2; exit 1; }
if want scale && [[ ! -x $IDLE_TOOL ]]; then
    echo "bench: building bench_idle_clients (W4's idle-connection tool)"
    cmake --build "$BUILD" --target bench_idle_clients >/dev/null ||
        { echo "bench: cannot build $IDLE_TOOL" >&2; exit 1; }
fi
if want simple && [[ ! -x $FLOOR_TOOL ]]; then
    echo "bench: building bench_floor_forwarder (W1's runtime floor)"
    cmake --build "$BUILD" --target bench_floor_forwarder >/dev/null ||
        { echo "bench: cannot build $FLOOR_TOOL" >&2; exit 1; }
fi
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*"; }

# W4 needs a file descriptor per client in pgbench, the tool, and each pooler (which inherit
# this shell's limit). Raise the soft limit to the hard one, and the hard one too when root.
NOFILE_NEEDED=$(((SCALE_CLIENTS > IDLE_CLIENTS ? SCALE_CLIENTS : IDLE_CLIENTS) + 1000))
MAX_CLIENT_CONN=$((NOFILE_NEEDED > 10000 ? NOFILE_NEEDED : 10000))
if want scale; then
    ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
    (($(ulimit -n) >= NOFILE_NEEDED)) || ulimit -n "$NOFILE_NEEDED" 2>/dev/null || true
    if (($(ulimit -n) < NOFILE_NEEDED)); then
        echo "bench: W4 needs $NOFILE_NEEDED open files; the limit is $(ulimit -n) (raise ulimit -Hn)" >&2
        exit 1
    fi
fi

# ---- cleanup ------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgtenant-bench.XXXXXX")
KEEP_LOGS=""   # set to a directory to save the servers' logs there before cleanup
# shellcheck source=bench/targets.sh
source "$HERE/targets.sh"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local name
    for name in "${!PID[@]}"; do stop_target "$name"; done
    pg_cluster_stop immediate
    if [[ -n $KEEP_LOGS ]]; then
        mkdir -p "$KEEP_LOGS"
        cp "$WORK"/*.log "$KEEP_LOGS"/ 2>/dev/null || true
        cp -r "$WORK/runs" "$KEEP_LOGS"/ 2>/dev/null || true
        echo "bench: logs of the failed run kept in $KEEP_LOGS" >&2
    fi
    if ((KEEP_WORK)); then
        echo "bench: kept $WORK (--keep)" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/runs" "$WORK/latency"

# ---- PostgreSQL ---------------------------------------------------------------------------
# fsync/synchronous_commit off: this measures pooling, not the disk (the workloads read anyway).
log "starting PostgreSQL in $WORK"
pg_cluster_start "$WORK" "max_connections = 400" "shared_buffers = 256MB" "fsync = off" \
    "synchronous_commit = off" "full_page_writes = off" "logging_collector = off" \
    "log_min_messages = warning" || exit 1
PG_POSTMASTER_PID=$(head -n1 "$PG_DATA/postmaster.pid")
setup_databases
PORT[direct]=$PG_PORT
log "PostgreSQL 15 on 127.0.0.1:$PG_PORT, database $DB, pool role $POOL_ROLE"

# ---- the poolers --------------------------------------------------------------------------
start_pgbouncer pgbouncer
log "PgBouncer $("$PGBOUNCER" --version | head -n1 | awk '{print $2}') on 127.0.0.1:${PORT[pgbouncer]} (pid ${PID[pgbouncer]})"
if [[ -n $PGBOUNCER_BIN ]]; then
    start_pgbouncer pgbouncer-alt "$PGBOUNCER_BIN"
    log "PgBouncer $("$PGBOUNCER_BIN" --version | head -n1 | awk '{print $2}') ($PGBOUNCER_BIN) on 127.0.0.1:${PORT[pgbouncer-alt]} (pid ${PID[pgbouncer-alt]})"
fi
if want simple; then
    start_floor
    log "the runtime's floor (bench_floor_forwarder, 1:1) on 127.0.0.1:${PORT[floor]} (pid ${PID[floor]})"
fi
write_users_file
start_pgtenant pgtenant "$DB" compat
PGTENANT_VERSION=$("$BINARY" --version 2>/dev/null | head -n1 | sed 's/^pgtenant //' || echo unknown)
log "pgtenant ($PGTENANT_VERSION, workers=$WORKERS, compat mode) on 127.0.0.1:${PORT[pgtenant]} (pid ${PID[pgtenant]})"
if ((WANT_TENANT)); then
    start_pgtenant pgtenant-sealed "${DB}_sealed" sealed
    log "pgtenant (sealed mode, database ${DB}_sealed) on 127.0.0.1:${PORT[pgtenant-sealed]} (pid ${PID[pgtenant-sealed]})"
fi

# ---- pre-flight ---------------------------------------------------------------------------
preflight_fail() {
    echo "bench: pre-flight $1" >&2
    KEEP_LOGS="$OUT/preflight-logs"
    exit 1
}
# Each target answers as the pool role (not superuser, not BYPASSRLS); through pgtenant the
# transaction is bound to the practice, which is the work pgtenant adds to every transaction.
for target in direct pgbouncer $([[ -z $PGBOUNCER_BIN ]] || echo pgbouncer-alt) $(want simple && echo floor) pgtenant; do
    login_for "$target"
    answer=$(psql_as "$target" "$LOGIN" "$PASSWORD" "$DB" -c "SELECT current_user, rolsuper, rolbypassrls,
            coalesce(nullif(current_setting('app.current_practice_id', true), ''), '-')
            FROM pg_roles WHERE rolname = current_user" 2>&1) || preflight_fail "query through $target failed: $answer"
    expected="$POOL_ROLE f f -"
    [[ $target != pgtenant ]] || expected="$POOL_ROLE f f $PRACTICE"
    [[ $answer == "$expected" ]] || preflight_fail "through $target: got '$answer', expected '$expected'"
done
log "pre-flight ok: all targets answer as $POOL_ROLE; pgtenant binds practice $PRACTICE"
if ((WANT_TENANT)); then
    # W3: the middleware statements (as pgbench sends them) find practice 7's patient 5 through
    # direct and PgBouncer; through either pgtenant, login p007 sees exactly practice 7's rows.
    probe=$(((7 - 1) * TENANT_PATIENTS + 5))
    middleware=$(sed -e '/^[\\-]/d' -e "s/:uuid_tail/$((100000000000 + 7))/; s/:patient/$probe/" \
        "$HERE/workloads/tenant_middleware.sql")
    for target in direct pgbouncer; do
        login_for "$target"
        answer=$(printf '%s\n' "$middleware" | psql_as "$target" "$LOGIN" "$PASSWORD" "$DB" -v ON_ERROR_STOP=1 2>&1) ||
            preflight_fail "W3 middleware statements through $target failed: $answer"
        [[ $answer == *$'\n'"$probe patient 7-5 "* ]] || preflight_fail "W3 through $target: got '$answer'"
    done
    expected="$TENANT_PATIENTS 1 $(((7 - 1) * TENANT_PATIENTS + 1))"
    for target in pgtenant pgtenant-sealed; do
        answer=$(psql_as "$target" "$(practice_login 7)" "$TENANT_PASSWORD" "$DB" \
            -c 'SELECT count(*), count(DISTINCT practice_id), min(id) FROM patients' 2>&1) ||
            preflight_fail "W3 query through $target failed: $answer"
        [[ $answer == "$expected" ]] || preflight_fail "W3 through $target: got '$answer', expected '$expected'"
    done
    log "pre-flight ok: W3 middleware binds through direct and PgBouncer; pgtenant compat and sealed bind login p007"
fi

# ---- the runs -----------------------------------------------------------------------------
# shellcheck source=bench/measure.sh
source "$HERE/measure.sh"
SAMPLING=$( ((QUICK)) && echo 1 || echo 0.1)

# Which targets run a workload, in the order of one interleaved round. PGBOUNCER_BIN's PgBouncer
# (pgbouncer-alt) runs wherever Debian's does, and -M prepared too where it can.
ALT=""
ALT_PREPARED=""
if [[ -n $PGBOUNCER_BIN ]]; then
    ALT=" pgbouncer-alt"
    ! pgbouncer_prepares "$PGBOUNCER_BIN" || ALT_PREPARED=" pgbouncer-alt"
fi
targets_for() {
    case $1 in
        prepared) echo "direct$ALT_PREPARED pgtenant" ;;   # PgBouncer 1.18 cannot run -M prepared in transaction mode
        tenant) echo "direct pgbouncer$ALT pgtenant pgtenant-sealed$( ((TENANT_1MSG && !QUICK)) && echo " direct-1msg pgbouncer-1msg")" ;;
        many-rw-prepared-*) echo "direct$ALT_PREPARED pgtenant" ;;
        many-*) echo "direct pgbouncer$ALT pgtenant" ;;
        scale) echo "pgbouncer$ALT pgtenant" ;;   # direct: 2,000 connections exceed max_connections
        simple) echo "direct pgbouncer$ALT floor pgtenant" ;;
        *) echo "direct pgbouncer$ALT pgtenant" ;;
    esac
}
clients_for() {
    case $1 in
        tenant) echo "$TENANT_CLIENTS" ;;
        many-*) local layout=${1##*-}; echo $((${layout%x*} * ${layout#*x})) ;;
        scale) echo "$SCALE_CLIENTS" ;;
        latency-*) echo 1 ;;
        *) echo "$CLIENTS" ;;
    esac
}
# pgbench -T counts the time its clients spend connecting; with thousands of SCRAM logins that
# is seconds, so W4 runs get an allowance for it on top (tps excludes connection time).
seconds_for() {
    if [[ $1 == scale ]]; then echo $((DURATION + SCALE_CLIENTS / 200 + (QUICK ? 4 : 5))); else echo "$DURATION"; fi
}
IDLE_SETTLE=$( ((QUICK)) && echo 1 || echo 2)   # seconds before reading a pooler's RSS
rounds_for() {
    if [[ $1 == scale && $ROUNDS -gt 2 ]]; then echo 2; else echo "$ROUNDS"; fi
}

PLAN=""
for w in $WORKLOADS; do
    if [[ $w == latency ]]; then
        PLAN+=" latency-simple"
        ((QUICK)) || PLAN+=" latency-extended"
    elif [[ $w == many ]]; then
        # <kind>-<practices>x<clients per practice>: every practice of a layout is a login of its
        # own through pgtenant, and the middleware's random practice among as many elsewhere.
        # The two layouts of a kind run in the same rounds ("+"), so that their ratio compares
        # runs seconds apart, not minutes apart on a machine whose speed drifts.
        for kind in read rw-extended rw-prepared; do
            if ((QUICK)); then
                PLAN+=" many-$kind-8x1"
            else
                PLAN+=" many-$kind-32x1+many-$kind-4x8"
            fi
        done
    else
        PLAN+=" $w"
    fi
done
read -r LOAD_BEFORE _ </proc/loadavg
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
SECONDS=0
log "plan:$PLAN; $ROUNDS round(s) of ${DURATION}s per target, interleaved"
for item in $PLAN; do
    # An item is one workload, or workloads joined by "+" that share their rounds (W6 layouts;
    # they have the same client count).
    IFS=+ read -r -a group <<<"$item"
    workload=${group[0]}
    seconds=$(seconds_for "$workload")
    for clients in $(clients_for "$workload"); do
        cases=()   # "<workload> <target>", in the order of a round
        for w in "${group[@]}"; do
            for target in $(targets_for "$w"); do cases+=("$w $target"); done
        done
        if ((!QUICK)) && [[ $workload != scale ]]; then
            # Warm-up: fills the pools and the caches; not recorded.
            for c in "${cases[@]}"; do run_case "${c% *}" "$clients" warmup "${c#* }" 3; done
        fi
        # Odd rounds run the targets in order, even rounds in reverse (A B C, C B A, ...), so
        # that the machine getting steadily faster or slower favours no target.
        for round in $(seq "$(rounds_for "$workload")"); do
            order=("${cases[@]}")
            ((round % 2 == 0)) && mapfile -t order < <(printf '%s\n' "${cases[@]}" | tac)
            for c in "${order[@]}"; do run_case "${c% *}" "$clients" "$round" "${c#* }" "$seconds"; done
        done
    done
    if [[ $workload == scale ]]; then
        for kind in pgbouncer pgtenant; do measure_idle "$kind" "$IDLE_CLIENTS"; done
    fi
done
read -r LOAD_AFTER _ </proc/loadavg
log "runs took ${SECONDS}s"

# ---- report -------------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
cat >"$WORK/meta.txt" <<EOF
started=$STARTED_AT
mode=$( ((QUICK)) && echo quick || echo full)
runs_s=$SECONDS
host=$(hostname)
cpus=$(nproc)
kernel=$(uname -r)
loadavg_before=$LOAD_BEFORE
loadavg_after=$LOAD_AFTER
pgtenant=$PGTENANT_VERSION
pgtenant_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo "+dirty")
pgtenant_workers=$WORKERS
pgtenant_io=${PGTENANT_IO:-epoll}
pgbouncer=$("$PGBOUNCER" --version | head -n1)
pgbouncer_alt=$([[ -z $PGBOUNCER_BIN ]] || "$PGBOUNCER_BIN" --version | head -n1)
postgresql=$("$PG_BINDIR/postgres" --version)
pgbench=$("$PGBENCH" --version)
pool_size=$POOL_SIZE
scale=$SCALE
pgbench_jobs=$JOBS
rounds=$ROUNDS
duration_s=$DURATION
scale_seconds=$(seconds_for scale)
latency_sampling_rate=$SAMPLING
tenant_practices=$TENANT_PRACTICES
tenant_patients=$TENANT_PATIENTS
tenant_per_proc=$TENANT_PER_PROC
sealed_verifier=$( ((WANT_TENANT)) && psql -X -At -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "${DB}_sealed" -c \
    "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'pgtenant.practice_id()'::regprocedure" || echo none)
max_connections=400
nofile=$(ulimit -n)
EOF
"$REPORT_PYTHON" "$HERE/report.py" --work "$WORK" --md "$OUT/$STAMP.md" --csv "$OUT/$STAMP.csv" --png "$OUT/$STAMP.png"
echo
cat "$OUT/$STAMP.md"
echo
log "report written to $OUT/$STAMP.md (raw numbers in $STAMP.csv, chart in $STAMP.png)"
if ((FAILURES)); then
    KEEP_LOGS="$OUT/$STAMP-logs"
    log "$FAILURES run(s) failed"
    exit 1
fi
