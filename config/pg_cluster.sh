# Throwaway PostgreSQL 15 cluster for the demo (config/demo.sh) and the benchmarks
# (bench/run.sh). Source it (bash), then:
#
#   pg_cluster_start DIR [CONF_LINE ...]   initdb into DIR/data, start on 127.0.0.1 and a free
#                                          port; each CONF_LINE is appended to postgresql.conf
#   pg_cluster_stop [fast|immediate]       stop it (default fast); safe to call when not started
#
# With PG_VERIFIER_LIBRARY naming a built pgtenant_verifier.so, the cluster can load it (a copy
# in DIR/lib, on dynamic_library_path), so config/sealed_install.sql installs the C verifier.
#
# pg_cluster_start sets PG_PORT, PG_DATA, PG_SOCK (the Unix socket directory), PG_LOG and
# PG_CLUSTER_STARTED=1; on failure it prints the log and returns 1. Authentication: trust on the
# Unix socket (superuser `postgres`, for setup) and SCRAM-SHA-256 on 127.0.0.1 (what clients,
# poolers and pgtenant use). PostgreSQL refuses to run as root: as root, the server runs as user
# `postgres` and DIR is handed to it.
#
# Also defines the small helpers both scripts need: as_pg, free_port, port_open, wait_listening.

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_CLUSTER_STARTED=0

# Runs a command as the user the server runs as (postgres when we are root).
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

# True once something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_listening <pid> <port>: true once <port> answers while <pid> still runs; false if the
# process exits first or 10 s pass (the caller stops it and retries on another port).
wait_listening() {
    local pid=$1 port=$2
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

pg_cluster_start() {
    local dir=$1
    shift
    PG_DATA=$dir/data
    PG_SOCK=$dir/sock
    PG_LOG=$dir/postgres.log
    [[ -x $PG_BINDIR/initdb ]] || { echo "no PostgreSQL server in $PG_BINDIR (set PG_BINDIR)" >&2; return 1; }
    mkdir -p "$PG_SOCK" || return 1
    [[ $(id -u) -ne 0 ]] || chown postgres "$dir" "$PG_SOCK" || return 1
    as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PG_DATA/pg_hba.conf" || return 1
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$PG_SOCK'"
        (($# == 0)) || printf '%s\n' "$@"
        if [[ -n ${PG_VERIFIER_LIBRARY:-} && -f $PG_VERIFIER_LIBRARY ]]; then
            mkdir -p "$dir/lib" && cp "$PG_VERIFIER_LIBRARY" "$dir/lib/" || return 1
            echo "dynamic_library_path = '\$libdir:$dir/lib'"
        fi
    } >>"$PG_DATA/postgresql.conf" || return 1
    # A free port can be taken between free_port and the server's bind: retry.
    for _ in 1 2 3; do
        PG_PORT=$(free_port)
        if as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" -w start >/dev/null; then
            PG_CLUSTER_STARTED=1
            return 0
        fi
    done
    cat "$PG_LOG" >&2
    return 1
}

pg_cluster_stop() {
    ((PG_CLUSTER_STARTED)) || return 0
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m "${1:-fast}" -w stop >/dev/null 2>&1 || true
    PG_CLUSTER_STARTED=0
}
