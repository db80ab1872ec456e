#!/usr/bin/env bash
# pgtenant embedded demo: a throwaway PostgreSQL 15 cluster with the MealCircle demo schema,
# pgtenant in front of it, and two practice logins that each see only their own patients.
#
#   config/demo.sh [--no-wait] <path-to-pgtenant>   start the demo (./run.sh demo does this)
#   config/demo.sh stop                              stop a running demo
#
# --no-wait runs the showcase, checks the isolation it shows, and stops everything again
# (the smoke test uses it). Everything lives in one temp dir that is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE_FILE=${PGTENANT_DEMO_STATE:-${TMPDIR:-/tmp}/pgtenant-demo.pid}
# pg_cluster_start/stop, as_pg, free_port, port_open, wait_listening (shared with bench/run.sh).
# shellcheck source=config/pg_cluster.sh
source "$ROOT/config/pg_cluster.sh"

PRACTICE_A=11111111-1111-1111-1111-111111111111
PRACTICE_B=22222222-2222-2222-2222-222222222222
ALICE_PASSWORD=alice-demo-password
BOB_PASSWORD=bob-demo-password

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

stop_running_demo() {
    if [[ ! -f $STATE_FILE ]]; then
        echo "pgtenant demo: not running (no $STATE_FILE)"
        return 0
    fi
    local pid
    pid=$(cat "$STATE_FILE")
    if kill -0 "$pid" 2>/dev/null; then
        echo "pgtenant demo: stopping (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    else
        echo "pgtenant demo: stale state file, removing it"
        rm -f "$STATE_FILE"
    fi
}

NO_WAIT=0
BINARY=""
for arg in "$@"; do
    case "$arg" in
        --no-wait) NO_WAIT=1 ;;
        stop) stop_running_demo; exit 0 ;;
        -h|--help) usage ;;
        -*) echo "pgtenant demo: unknown option $arg" >&2; usage ;;
        *) BINARY=$arg ;;
    esac
done
[[ -n $BINARY ]] || usage
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
[[ -x $BINARY ]] || { echo "pgtenant demo: $BINARY is not an executable" >&2; exit 1; }
# The C verifier built next to the binary (build/auth/server_verifier), when there is one.
PG_VERIFIER_LIBRARY=${PG_VERIFIER_LIBRARY:-$(dirname "$BINARY")/../auth/server_verifier/pgtenant_verifier.so}
[[ -x $PG_BINDIR/initdb ]] || { echo "pgtenant demo: no PostgreSQL server in $PG_BINDIR (set PG_BINDIR)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgtenant-demo.XXXXXX")
PGTENANT_PID=""
INTERRUPTED=0

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $PGTENANT_PID ]] && kill -0 "$PGTENANT_PID" 2>/dev/null; then
        kill -TERM "$PGTENANT_PID" 2>/dev/null || true
        wait "$PGTENANT_PID" 2>/dev/null || true
    fi
    pg_cluster_stop fast
    if [[ $status -ne 0 && $INTERRUPTED -eq 0 && -f $WORK/pgtenant.log ]]; then
        echo "---- pgtenant log (last 30 lines) ----" >&2
        tail -n 30 "$WORK/pgtenant.log" >&2
    fi
    rm -rf "$WORK"
    if [[ -f $STATE_FILE && $(cat "$STATE_FILE" 2>/dev/null) == "$$" ]]; then
        rm -f "$STATE_FILE"
    fi
    echo "pgtenant demo: stopped and cleaned up"
    exit "$status"
}
trap cleanup EXIT
trap 'INTERRUPTED=1; exit 130' INT
trap 'INTERRUPTED=1; exit 143' TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# ---- PostgreSQL -------------------------------------------------------------------------
step "Starting a throwaway PostgreSQL cluster in $WORK"
pg_cluster_start "$WORK" "fsync = off" || exit 1
echo "PostgreSQL 15 on 127.0.0.1:$PG_PORT"

POOL_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
# client_min_messages quiets the NOTICEs of the schema's idempotent DROP ... IF EXISTS.
SUPER=(env PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres)
"${SUPER[@]}" -v pool_password="$POOL_PASSWORD" -f "$ROOT/config/demo_schema.sql"
"${SUPER[@]}" -f "$ROOT/config/demo_data.sql"
echo "Loaded config/demo_schema.sql and config/demo_data.sql (RLS enabled and forced)"
# Sealed mode (the default for new installs): policies verify a signed context token.
"${SUPER[@]}" -v pool_role=pgtenant_pool -f "$ROOT/config/sealed_install.sql"
"${SUPER[@]}" -f "$ROOT/config/sealed_demo.sql"
KEY_LINE=$("$BINARY" keygen --kid demo 2>/dev/null)
(umask 077 && printf '%s\n' "$KEY_LINE" >"$WORK/pgtenant.key")
"${SUPER[@]}" -c "SELECT pgtenant.add_key('demo', '${KEY_LINE#* }')" >/dev/null
echo "Installed config/sealed_install.sql and sealed_demo.sql; key 'demo' in $WORK/pgtenant.key"
"${SUPER[@]}" -v pool_role=pgtenant_pool -f "$ROOT/config/hardening.sql" >/dev/null
echo "Applied config/hardening.sql (no TEMP, no plpgsql DO blocks, no signal or large-object functions)"

# ---- pgtenant ---------------------------------------------------------------------------
step "Starting pgtenant"
verifier() { printf '%s\n' "$1" | "$BINARY" scram-verifier; }
cat >"$WORK/users.toml" <<EOF
# Logins of the demo: each is bound to one practice by pgtenant, never by the client.
[[login]]
name = "alice"
practice = "$PRACTICE_A"
scram = "$(verifier "$ALICE_PASSWORD")"

[[login]]
name = "bob"
practice = "$PRACTICE_B"
scram = "$(verifier "$BOB_PASSWORD")"
EOF
PROXY_PORT=""
for _ in 1 2 3; do
    PROXY_PORT=$(free_port)
    cat >"$WORK/pgtenant.toml" <<EOF
[server]
listen_addr = "127.0.0.1"
listen_port = $PROXY_PORT
workers = 1
log_level = "info"

[backend]
host = "127.0.0.1"
port = $PG_PORT
database = "postgres"
user = "pgtenant_pool"
password = "$POOL_PASSWORD"

[pool]
size = 10
min_idle = 0
wait_timeout_ms = 5000
mode = "transaction"

[tenant]
users_file = "users.toml"
setting = "app.current_practice_id"
allow_maintenance = false
mode = "sealed"
key_file = "pgtenant.key"
EOF
    "$BINARY" --config "$WORK/pgtenant.toml" >>"$WORK/pgtenant.log" 2>&1 &
    PGTENANT_PID=$!
    wait_listening "$PGTENANT_PID" "$PROXY_PORT" && break
    kill -TERM "$PGTENANT_PID" 2>/dev/null || true
    wait "$PGTENANT_PID" 2>/dev/null || true
    PGTENANT_PID=""
done
[[ -n $PGTENANT_PID ]] || { echo "pgtenant did not start" >&2; cat "$WORK/pgtenant.log" >&2; exit 1; }
echo "$("$BINARY" --version 2>/dev/null | head -n1) listening on 127.0.0.1:$PROXY_PORT (pid $PGTENANT_PID)"
echo "$$" >"$STATE_FILE"

# ---- showcase ---------------------------------------------------------------------------
as_login() {
    local user=$1 password=$2
    shift 2
    PGPASSWORD=$password PGSSLMODE=disable psql -X -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PROXY_PORT" -U "$user" -d postgres "$@"
}

# Shows the query the way a forgetful application would run it, then checks what it saw.
show_isolation() {
    local user=$1 password=$2 practice=$3
    step "As $user: SELECT * FROM patients   (no WHERE clause)"
    as_login "$user" "$password" -c 'SELECT * FROM patients'
    as_login "$user" "$password" -c 'SELECT (SELECT name FROM practices) AS practice,
                                            (SELECT count(*) FROM meal_logs) AS meal_logs'
    local seen
    seen=$(as_login "$user" "$password" -At -c 'SELECT DISTINCT practice_id FROM patients UNION SELECT DISTINCT practice_id FROM meal_logs')
    if [[ $seen != "$practice" ]]; then
        echo "ISOLATION BROKEN: $user saw practices: $seen" >&2
        exit 1
    fi
    echo "-> $user sees only practice $practice"
}

show_isolation alice "$ALICE_PASSWORD" "$PRACTICE_A"
show_isolation bob "$BOB_PASSWORD" "$PRACTICE_B"

step "As alice, trying to read bob's practice by changing the setting herself"
echo "A statement guard refuses the obvious spelling (42501):"
as_login alice "$ALICE_PASSWORD" -c "SELECT * FROM patients WHERE set_config('app.current_practice_id', '$PRACTICE_B', true) IS NOT NULL" 2>&1 || true
echo "Hidden inside query_to_xml() no text check sees it, but sealed policies ignore the plain setting:"
leaked=$(as_login alice "$ALICE_PASSWORD" -At -c "SELECT count(*) FROM (SELECT query_to_xml('select set_config(''app.current_practice_id'', ''$PRACTICE_B'', true)', false, false, '')) AS attack, patients WHERE practice_id = '$PRACTICE_B'")
echo "-> rows of bob's practice alice could read: $leaked"
if [[ $leaked != 0 ]]; then
    echo "ISOLATION BROKEN: alice read $leaked of bob's rows" >&2
    exit 1
fi

step "pgtenant check: the database's posture, as the pool role sees it"
"$BINARY" check --config "$WORK/pgtenant.toml" || { echo "pgtenant check found a critical problem" >&2; exit 1; }

step "The same tables as the superuser (RLS bypassed), for comparison"
"${SUPER[@]}" -c 'SELECT practice_id, count(*) AS patients FROM patients GROUP BY 1 ORDER BY 1'

if ((NO_WAIT)); then
    step "--no-wait: demo checked, shutting down"
    exit 0
fi

step "Connect yourself"
cat <<EOF
  as alice (Riverside Nutrition):
    PGPASSWORD=$ALICE_PASSWORD psql -h 127.0.0.1 -p $PROXY_PORT -U alice -d postgres
  as bob (Harbor Dietetics):
    PGPASSWORD=$BOB_PASSWORD psql -h 127.0.0.1 -p $PROXY_PORT -U bob -d postgres
  directly to PostgreSQL as the superuser (bypasses RLS):
    psql -h $PG_SOCK -p $PG_PORT -U postgres -d postgres

  Try:  SELECT * FROM patients;   SELECT * FROM meal_logs;   SELECT current_setting('app.current_practice_id');
  pgtenant log: $WORK/pgtenant.log

Stop with Ctrl-C here, or from another shell:  $ROOT/config/demo.sh stop
EOF
# Wait on pgtenant so an unexpected exit ends the demo too; signals interrupt the wait.
wait "$PGTENANT_PID" || true
PGTENANT_PID=""
echo "pgtenant exited; see the log above" >&2
exit 1
