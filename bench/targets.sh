# Sourced by bench/run.sh: the databases, and the targets it measures.
#
# A target is a name: direct (PostgreSQL itself), pgbouncer, pgtenant (compat mode, database
# bench), pgtenant-sealed (sealed mode, database bench_sealed, started only for W3) and floor
# (bench_floor_forwarder: a 1:1 byte forwarder on pgtenant's runtime, W1 only). W3's
# direct-1msg and pgbouncer-1msg rows use direct's and pgbouncer's servers. PORT[name] and
# PID[name] (none for direct) describe a running target; its log is $WORK/<name>.log.
declare -A PORT=() PID=() METRICS_PORT=()

POOL_ROLE=bench_pool
POOL_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
CLIENT_LOGIN=bench                                   # W1, W2, W4, W5 through pgtenant
CLIENT_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
PRACTICE=0b0b0b0b-1111-4222-8333-444444444444        # the practice of login bench
TENANT_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')  # p001..p100 (W3)
DB=bench

# W3 practice n (1..TENANT_PRACTICES): its uuid (see bench/tenant_schema.sql) and its login.
practice_uuid() { printf '00000000-0000-0000-0000-%d' $((100000000000 + $1)); }
practice_login() { printf 'p%03d' "$1"; }

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
stop_target() {
    stop_pid "${PID[$1]:-}"
    PID[$1]=""
}

# ---- databases ----------------------------------------------------------------------------
# bench: the pgbench tables (W1, W2, W4, W5) and, for W3, patients with the compat policy.
# bench_sealed (W3 only): the same patients with the sealed policy, for pgtenant in sealed mode
# (both policies on one table would be OR-ed together).
setup_databases() {
    local super=(psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres)
    "${super[@]}" -d postgres -c "CREATE DATABASE $DB"
    "${super[@]}" -d postgres -v pw="$POOL_PASSWORD" <<EOF
CREATE ROLE $POOL_ROLE LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'pw';
EOF
    log "pgbench -i -s $SCALE"
    "$PGBENCH" -i -q -s "$SCALE" -h "$PG_SOCK" -p "$PG_PORT" -U postgres "$DB" >"$WORK/pgbench-init.log" 2>&1 ||
        { cat "$WORK/pgbench-init.log" >&2; return 1; }
    "${super[@]}" -d "$DB" <<EOF
GRANT SELECT, UPDATE, INSERT ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history
    TO $POOL_ROLE;
VACUUM ANALYZE;
EOF
    ((WANT_TENANT)) || return 0
    log "W3 schema: $TENANT_PRACTICES practices x $TENANT_PATIENTS patients, compat policy in $DB, sealed in ${DB}_sealed"
    local tenant=(-v pool_role="$POOL_ROLE" -v practices="$TENANT_PRACTICES" -v patients="$TENANT_PATIENTS"
        -f "$HERE/tenant_schema.sql")
    "${super[@]}" -d "$DB" -v policy=compat "${tenant[@]}"
    # Hardening's required part in both databases: among it, the pool role may not read
    # pg_prepared_statements, so pgtenant keeps prepared statements across practice switches.
    "${super[@]}" -d "$DB" -v pool_role="$POOL_ROLE" -v required_only=1 \
        -f "$ROOT/config/hardening.sql" >/dev/null
    "${super[@]}" -d postgres -c "CREATE DATABASE ${DB}_sealed"
    "${super[@]}" -d "${DB}_sealed" -v policy=sealed "${tenant[@]}"
    "${super[@]}" -d "${DB}_sealed" -v pool_role="$POOL_ROLE" -f "$ROOT/config/sealed_install.sql" >/dev/null
    # What sealed mode refuses to start without (pgtenant check's critical findings).
    "${super[@]}" -d "${DB}_sealed" -v pool_role="$POOL_ROLE" -v required_only=1 \
        -f "$ROOT/config/hardening.sql" >/dev/null
    local key_line
    key_line=$("$BINARY" keygen --kid bench 2>/dev/null)
    (umask 077 && printf '%s\n' "$key_line" >"$WORK/sealed.key")
    "${super[@]}" -d "${DB}_sealed" >/dev/null <<EOF
SELECT pgtenant.add_key('bench', '${key_line#* }');
SELECT pgtenant.enable_sealed_policy('public.patients');
EOF
}

# ---- PgBouncer ----------------------------------------------------------------------------
# Same database, same pool role, same pool size, transaction pooling. The userlist holds the
# pool role's SCRAM verifier exactly as PostgreSQL stores it (no plain password, like pgtenant's
# users file): PgBouncer verifies clients without running PBKDF2 per login, and logs in to
# PostgreSQL by SCRAM pass-through with the keys of the client's proof.
# Whether PgBouncer binary $1 keeps prepared statements in transaction mode (1.21 and later:
# max_prepared_statements).
pgbouncer_prepares() {
    local version
    version=$("$1" --version 2>/dev/null | head -n1 | awk '{print $2}')
    local major=${version%%.*} minor=${version#*.}
    minor=${minor%%.*}
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] && ((major > 1 || minor >= 21))
}

# start_pgbouncer <name> [binary]
start_pgbouncer() {
    local name=$1 bin=${2:-$PGBOUNCER} port pid verifier prepared=""
    ! pgbouncer_prepares "$bin" || prepared="max_prepared_statements = 200"
    verifier=$(psql -X -At -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres \
        -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$POOL_ROLE'")
    for _ in 1 2 3; do
        port=$(free_port)
        printf '"%s" "%s"\n' "$POOL_ROLE" "$verifier" >"$WORK/userlist.txt"
        cat >"$WORK/$name.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PG_PORT dbname=$DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = $MAX_CLIENT_CONN
max_db_connections = $POOL_SIZE
logfile = $WORK/$name.log
pidfile = $WORK/$name.pid
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
log_stats = 0
stats_period = 3600
server_tls_sslmode = disable
$prepared
EOF
        [[ $(id -u) -ne 0 ]] || chown postgres "$WORK/userlist.txt" "$WORK/$name.ini"
        chmod 600 "$WORK/userlist.txt"
        local user_args=()
        [[ $(id -u) -ne 0 ]] || user_args=(-u postgres)   # pgbouncer drops to postgres itself: $! stays its pid
        "$bin" "${user_args[@]}" "$WORK/$name.ini" >>"$WORK/$name.out" 2>&1 &
        pid=$!
        if wait_listening "$pid" "$port"; then
            PORT[$name]=$port PID[$name]=$pid
            return 0
        fi
        stop_pid "$pid"
    done
    echo "bench: PgBouncer ($name) did not start" >&2
    cat "$WORK/$name.out" "$WORK/$name.log" >&2 2>/dev/null
    return 1
}

# ---- the runtime's floor ------------------------------------------------------------------
# start_floor: bench_floor_forwarder in front of PostgreSQL (a server connection per client).
start_floor() {
    local port pid
    for _ in 1 2 3; do
        port=$(free_port)
        "$FLOOR_TOOL" "$port" "$PG_PORT" >>"$WORK/floor.log" 2>&1 &
        pid=$!
        if wait_listening "$pid" "$port"; then
            PORT[floor]=$port PID[floor]=$pid
            return 0
        fi
        stop_pid "$pid"
    done
    echo "bench: bench_floor_forwarder did not start" >&2
    cat "$WORK/floor.log" >&2
    return 1
}

# ---- pgtenant -----------------------------------------------------------------------------
# One users file for every instance: login bench (practice $PRACTICE) and, for W3, one login per
# practice, p001..p100, all with TENANT_PASSWORD.
write_users_file() {
    local verifier n
    {
        printf '[[login]]\nname = "%s"\npractice = "%s"\nscram = "%s"\n' "$CLIENT_LOGIN" "$PRACTICE" \
            "$(printf '%s\n' "$CLIENT_PASSWORD" | "$BINARY" scram-verifier)"
        if ((WANT_TENANT)); then
            # One verifier for the shared password: a SCRAM verifier does not depend on the name.
            verifier=$(printf '%s\n' "$TENANT_PASSWORD" | "$BINARY" scram-verifier)
            for n in $(seq "$TENANT_PRACTICES"); do
                printf '\n[[login]]\nname = "%s"\npractice = "%s"\nscram = "%s"\n' \
                    "$(practice_login "$n")" "$(practice_uuid "$n")" "$verifier"
            done
        fi
    } >"$WORK/users.toml"
}

# start_pgtenant <name> <database> <compat|sealed>
start_pgtenant() {
    local name=$1 database=$2 mode=$3 port pid key="" metrics
    [[ $mode != sealed ]] || key='key_file = "sealed.key"'
    for _ in 1 2 3; do
        port=$(free_port)
        metrics=$(free_port)
        cat >"$WORK/$name.toml" <<EOF
[server]
listen_addr = "127.0.0.1"
listen_port = $port
workers = $WORKERS
log_level = "warn"
max_client_conn = $MAX_CLIENT_CONN
metrics_port = $metrics

[backend]
host = "127.0.0.1"
port = $PG_PORT
database = "$database"
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
mode = "$mode"
$key
EOF
        BENCH_POOL_PASSWORD=$POOL_PASSWORD "$BINARY" --config "$WORK/$name.toml" >>"$WORK/$name.log" 2>&1 &
        pid=$!
        if wait_listening "$pid" "$port"; then
            PORT[$name]=$port PID[$name]=$pid METRICS_PORT[$name]=$metrics
            return 0
        fi
        stop_pid "$pid"
    done
    echo "bench: pgtenant ($name) did not start" >&2
    cat "$WORK/$name.log" >&2
    return 1
}

# ---- who logs in where ----------------------------------------------------------------------
# Sets LOGIN and PASSWORD for a target (a pgtenant target's practice logins are chosen per run).
login_for() {
    case $1 in
        pgtenant|pgtenant-sealed) LOGIN=$CLIENT_LOGIN PASSWORD=$CLIENT_PASSWORD ;;
        *) LOGIN=$POOL_ROLE PASSWORD=$POOL_PASSWORD ;;
    esac
}
server_of() { echo "${1%-1msg}"; }   # direct-1msg runs against direct, pgbouncer-1msg against pgbouncer

# psql through a target as a login: psql_as <target> <login> <password> <database> psql-args...
psql_as() {
    local target=$1 login=$2 password=$3 database=$4
    shift 4
    PGPASSWORD=$password PGSSLMODE=disable PGCONNECT_TIMEOUT=10 psql -X -At -F ' ' -h 127.0.0.1 \
        -p "${PORT[$(server_of "$target")]}" -U "$login" -d "$database" "$@"
}
