# Sourced by bench/run.sh: one measured pgbench run (run_case) and the idle-memory measurement
# (measure_idle). Both append to CSV files in $WORK that bench/report.py reads.
CLK_TCK=$(getconf CLK_TCK)

# CPU of all threads of a process in clock ticks, from one read of its stat line: utime+stime,
# then stime alone (the kernel's share: socket operations and wake-ups). "0 0" once it is gone.
cpu_ticks() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || { echo "0 0"; return; }
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo "$((${12} + ${13})) ${13}"
}
# CPU of the whole PostgreSQL server in clock ticks: the postmaster, its live children, and
# (cutime/cstime) every child that already exited, so backends of direct connections that end
# during a run are counted too.
pg_cpu_ticks() {
    local stats=("/proc/$PG_POSTMASTER_PID/stat") child
    for child in $(pgrep -P "$PG_POSTMASTER_PID"); do stats+=("/proc/$child/stat"); done
    # One awk for all of them: a subshell per backend would cost more than the sample is worth
    # on a busy machine. After "pid (comm) ", utime/stime/cutime/cstime are fields 12-15.
    # A backend that exits between pgrep and cat (direct connections just closed) makes cat
    # fail: under pipefail and set -e that used to end the whole run, silently.
    { cat "${stats[@]}" 2>/dev/null || true; } | awk -v pm="$PG_POSTMASTER_PID" '
        { pid = $1; sub(/^.*\) /, ""); t += $12 + $13; if (pid == pm) t += $14 + $15 }
        END { print t + 0 }'
}
# CLIENTS_CPU: CPU seconds (user+system) of every child this shell has waited for so far, the
# pgbench processes of the runs. Called as a plain command, never in $(...): times reports the
# children of the shell it runs in.
clients_cpu() {
    times >"$WORK/times.txt"
    CLIENTS_CPU=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } }
        END { printf "%.2f", s }' "$WORK/times.txt")
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
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

RESULTS_CSV="$WORK/runs.csv"
echo "workload,clients,round,target,rc,procs,cpu_s,cpu_sys_s,pg_cpu_s,host_busy_pct,peak_rss_kb,hwm_reset,wall_s,run_id,resets,clients_cpu_s" >"$RESULTS_CSV"
IDLE_CSV="$WORK/idle.csv"
echo "target,clients,connected,failed,connect_s,rss_before_kb,rss_idle_kb,rss_after_kb,rc" >"$IDLE_CSV"
FAILURES=0
RUN_SEQ=0
TENANT_NEXT=0   # W3 through pgtenant: the next practice to log in as (rotates over all of them)

# The pgbench processes of one case. W3 through pgtenant needs one process per practice login
# (a login is bound to one practice): ceil(clients / TENANT_PER_PROC) processes. W6 runs one
# process per client for every target and layout, so that its layouts and targets differ only
# in how practices meet the pool, not in what the clients cost (32 pgbench processes take more
# CPU per transaction than 4 processes of 8 clients on a 2-core machine). Everything else is one
# pgbench process.
case_procs() {
    local workload=$1 clients=$2 target=$3
    if [[ $workload == tenant && $target == pgtenant* ]]; then
        echo $(((clients + TENANT_PER_PROC - 1) / TENANT_PER_PROC))
    elif [[ $workload == many-* ]]; then
        echo "$clients"
    else
        echo 1
    fi
}

# Practices a case's pgtenant processes log in as (the next W3/W6 run takes the ones after).
case_practices() {
    local workload=$1 procs=$2
    if [[ $workload == many-* ]]; then
        local layout=${workload##*-}
        echo "${layout%x*}"
    else
        echo "$procs"
    fi
}

# Fills ARGS (pgbench options) and LOGIN/PASSWORD for process k of procs of a case.
case_process() {
    local workload=$1 clients=$2 target=$3 k=$4 procs=$5 seconds=$6
    local jobs=$JOBS
    ((jobs <= clients)) || jobs=$clients
    login_for "$target"
    ARGS=(-h 127.0.0.1 -p "${PORT[$(server_of "$target")]}" -n -T "$seconds")
    case $workload in
        simple|extended|prepared) ARGS+=(-S -M "$workload" -c "$clients" -j "$jobs") ;;
        scale) ARGS+=(-S -M simple -c "$clients" -j "$jobs") ;;
        rows) ARGS+=(-M simple -f "$HERE/workloads/rows.sql" -c "$clients" -j "$jobs") ;;
        latency-*) ARGS+=(-S -M "${workload#latency-}" -c 1 -j 1) ;;
        tenant)
            ARGS+=(-M simple -D practices="$TENANT_PRACTICES" -D patients="$TENANT_PATIENTS")
            case $target in
                direct|pgbouncer) ARGS+=(-f "$HERE/workloads/tenant_middleware.sql" -c "$clients" -j "$jobs") ;;
                *-1msg) ARGS+=(-f "$HERE/workloads/tenant_middleware_1msg.sql" -c "$clients" -j "$jobs") ;;
                pgtenant*)
                    local share=$((clients / procs + (k < clients % procs ? 1 : 0)))
                    local practice=$(((TENANT_NEXT + k) % TENANT_PRACTICES + 1))
                    LOGIN=$(practice_login "$practice") PASSWORD=$TENANT_PASSWORD
                    ARGS+=(-f "$HERE/workloads/tenant_pgtenant.sql" -D practice="$practice" -c "$share" -j 1)
                    ;;
            esac
            ;;
        many-*)
            # many-<read|rw-extended|rw-prepared>-<practices>x<clients per practice>
            local layout=${workload##*-} kind=${workload#many-}
            kind=${kind%-*}
            local practices=${layout%x*} mode=simple script=tenant
            [[ $kind == read ]] || { mode=${kind#rw-} script=tenant_rw; }
            ARGS+=(-M "$mode" -D patients="$TENANT_PATIENTS")
            if [[ $target == pgtenant* ]]; then
                local practice=$(((TENANT_NEXT + k % practices) % TENANT_PRACTICES + 1))
                LOGIN=$(practice_login "$practice") PASSWORD=$TENANT_PASSWORD
                ARGS+=(-f "$HERE/workloads/${script}_pgtenant.sql" -D practice="$practice" -c 1 -j 1)
            else
                ARGS+=(-f "$HERE/workloads/${script}_middleware.sql" -D practices="$practices" -c 1 -j 1)
            fi
            ;;
    esac
    ARGS+=(-U "$LOGIN")
}

# pgtenant_resets <target>: its practice-switch resets so far (pgtenant_practice_switch_resets_total
# from its metrics endpoint); empty when it cannot be read.
pgtenant_resets() {
    local port=${METRICS_PORT[$(server_of "$1")]:-}
    [[ -n $port ]] || return 0
    local reply
    reply=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) || return 0
    sed -n 's/^pgtenant_practice_switch_resets_total \([0-9]*\).*/\1/p' <<<"$reply"
}

# run_case <workload> <clients> <round|warmup> <target> <seconds>
# Runs the case's pgbench process(es) concurrently, samples CPU and memory around them, and
# records one row in runs.csv (warm-ups are not recorded). pgbench output goes to
# runs/<id>.<k>.out/.err, per-transaction latencies to latency/<id>.<k>.*.
run_case() {
    local workload=$1 clients=$2 round=$3 target=$4 seconds=$5
    local pid id procs k rc cpu0 cpu1 sys0 sys1 pg0 pg1 hwm reset t0 t1 host0 host1 children0 cl0
    pid=${PID[$(server_of "$target")]:-}
    procs=$(case_procs "$workload" "$clients" "$target")
    RUN_SEQ=$((RUN_SEQ + 1))
    id=$(printf '%03d-%s-c%s-%s-%s' "$RUN_SEQ" "$workload" "$clients" "$round" "$target")
    local sampling=$SAMPLING
    [[ $workload != latency-* ]] || sampling=1
    cpu0=0 sys0=0 reset=0
    if [[ -n $pid ]]; then
        kill -0 "$pid" 2>/dev/null || echo "bench: $target (pid $pid) is no longer running" >&2
        read -r cpu0 sys0 <<<"$(cpu_ticks "$pid")"
        reset=$(reset_hwm "$pid")
    fi
    local resets0="" resets=""
    [[ $target != pgtenant* ]] || resets0=$(pgtenant_resets "$target")
    children0=$(pgrep -c -P "$PG_POSTMASTER_PID" || true)
    pg0=$(pg_cpu_ticks)
    host0=$(host_jiffies)
    clients_cpu
    cl0=$CLIENTS_CPU
    t0=$(date +%s.%N)
    local pids=()
    for ((k = 0; k < procs; k++)); do
        case_process "$workload" "$clients" "$target" "$k" "$procs" "$seconds"
        [[ $round == warmup ]] || ARGS+=(-l --sampling-rate="$sampling" --log-prefix="$WORK/latency/$id.$k")
        # A generous timeout turns a hung pooler into a recorded failure instead of a stuck run.
        PGPASSWORD=$PASSWORD PGSSLMODE=disable PGCONNECT_TIMEOUT=30 \
            timeout --signal=INT --kill-after=10 $((seconds + 120)) \
            "$PGBENCH" "${ARGS[@]}" "$DB" >"$WORK/runs/$id.$k.out" 2>"$WORK/runs/$id.$k.err" &
        pids+=($!)
    done
    rc=0
    for k in "${!pids[@]}"; do
        local prc=0
        wait "${pids[$k]}" || prc=$?
        # pgbench exits 0 even when some clients failed a transaction; treat any abort as an error.
        if ((prc == 0)) && grep -qiE 'aborted|error|fatal' "$WORK/runs/$id.$k.err"; then prc=99; fi
        if ((prc == 0)) && ! grep -q '^tps = ' "$WORK/runs/$id.$k.out"; then prc=98; fi
        ((rc != 0)) || rc=$prc
    done
    t1=$(date +%s.%N)
    host1=$(host_jiffies)
    clients_cpu
    if [[ ($workload == tenant || $workload == many-*) && $target == pgtenant* ]]; then
        TENANT_NEXT=$(((TENANT_NEXT + $(case_practices "$workload" "$procs")) % TENANT_PRACTICES))
    fi
    if [[ -n $resets0 ]]; then
        local resets1
        resets1=$(pgtenant_resets "$target")
        [[ -z $resets1 ]] || resets=$((resets1 - resets0))
    fi
    # Let the backends of direct connections (and of the floor's, also 1:1) exit (their CPU then
    # moves into the postmaster's cutime) before taking the second sample. Poolers keep theirs.
    [[ $target == direct* || $target == floor ]] || children0=0
    for _ in $(seq 30); do
        ((children0 > 0)) || break
        (($(pgrep -c -P "$PG_POSTMASTER_PID" || true) <= children0)) && break
        sleep 0.1
    done
    pg1=$(pg_cpu_ticks)
    cpu1=$cpu0 sys1=$sys0 hwm=0
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        read -r cpu1 sys1 <<<"$(cpu_ticks "$pid")"
        hwm=$(hwm_kb "$pid")
    fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then rc=97; fi
    local cpu_s cpu_sys_s pg_cpu_s wall host_busy tps clients_cpu_s
    # shellcheck disable=SC2086
    host_busy=$(echo $host0 $host1 | awk '{ if ($4 > $2) printf "%.0f", 100 * ($3 - $1) / ($4 - $2); else print 0 }')
    pg_cpu_s=$(awk -v a="$pg0" -v b="$pg1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    cpu_sys_s=$(awk -v a="$sys0" -v b="$sys1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / t}')
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    clients_cpu_s=$(awk -v a="$cl0" -v b="$CLIENTS_CPU" 'BEGIN {printf "%.2f", b - a}')
    tps=$(cat "$WORK"/runs/"$id".*.out | sed -n 's/^tps = \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
    local what
    what=$(printf '%-16s %-15s c=%-4s' "$workload" "$target" "$clients")
    ((procs == 1)) || what+=" ($procs pgbench processes)"
    if [[ $round == warmup && $rc == 98 ]]; then
        # A warm-up only fills pools and caches; on a loaded machine 128 direct SCRAM logins can
        # outlast it (0 transactions, no tps line). Not an error of any target.
        log "$what warm-up ended before all clients connected (ignored)"
    elif ((rc != 0)); then
        FAILURES=$((FAILURES + 1))
        log "FAILED $id (exit $rc):"
        cat "$WORK"/runs/"$id".*.err | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
        if [[ $target == pgtenant* ]]; then
            echo "    $target log tail:"
            tail -n 10 "$WORK/$(server_of "$target").log" | sed 's/^/    /'
        fi
    else
        log "$(printf '%s round %-6s %7s tps  cpu: pooler %5ss  postgres %5ss  host busy %3s%%' "$what" "$round" "$tps" "$cpu_s" "$pg_cpu_s" "$host_busy")"
    fi
    [[ $round == warmup ]] ||
        echo "$workload,$clients,$round,$target,$rc,$procs,$cpu_s,$cpu_sys_s,$pg_cpu_s,$host_busy,$hwm,$reset,$wall,$id,$resets,$clients_cpu_s" >>"$RESULTS_CSV"
}

# measure_idle <pgbouncer|pgtenant> <clients>
# Memory per idle client: a fresh instance of the pooler (so memory freed by earlier runs cannot
# be reused and hide the cost) serves one query, then VmRSS is read with no client, with
# <clients> authenticated idle clients (bench_idle_clients) once they have settled, and after
# they disconnected. One row in idle.csv.
measure_idle() {
    local kind=$1 clients=$2 name="$1-idle" pid login password database=$DB
    if [[ $kind == pgbouncer ]]; then start_pgbouncer "$name"; else start_pgtenant "$name" "$DB" compat; fi
    pid=${PID[$name]}
    login_for "$kind"
    login=$LOGIN password=$PASSWORD
    local rc=0 answer
    answer=$(PGPASSWORD=$password PGSSLMODE=disable psql -X -At -h 127.0.0.1 -p "${PORT[$name]}" -U "$login" \
        -d "$database" -c 'SELECT 1' 2>&1) || rc=1
    sleep "$IDLE_SETTLE"
    local rss0 rss1 rss2 line="" connected=0 failed=$clients secs=0
    rss0=$(rss_kb "$pid")
    PGPASSWORD=$password "$IDLE_TOOL" --port "${PORT[$name]}" --user "$login" --dbname "$database" \
        --count "$clients" --timeout 600 >"$WORK/runs/$name.out" 2>"$WORK/runs/$name.err" &
    local tool=$!
    for _ in $(seq 6000); do
        line=$(grep '^ready ' "$WORK/runs/$name.out" 2>/dev/null || true)
        [[ -z $line ]] && kill -0 "$tool" 2>/dev/null || break
        sleep 0.1
    done
    if [[ $line =~ ok=([0-9]+)\ failed=([0-9]+)\ seconds=([0-9.]+) ]]; then
        connected=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]} secs=${BASH_REMATCH[3]}
    fi
    sleep "$IDLE_SETTLE"   # let the pooler finish whatever it does after the handshakes
    rss1=$(rss_kb "$pid")
    kill -0 "$pid" 2>/dev/null || rc=97
    stop_pid "$tool"
    sleep "$IDLE_SETTLE"
    rss2=$(rss_kb "$pid")
    kill -0 "$pid" 2>/dev/null || rc=97
    ((failed == 0 && connected == clients)) || ((rc != 0)) || rc=96
    if ((rc != 0)); then
        FAILURES=$((FAILURES + 1))
        log "FAILED idle clients through $kind (exit $rc): $connected of $clients connected${answer:+, probe: $answer}"
        head -n 5 "$WORK/runs/$name.err" | sed 's/^/    /'
        tail -n 5 "$WORK/$name.log" 2>/dev/null | sed 's/^/    /'
    else
        log "$(printf 'idle clients     %-15s n=%-6s connected in %ss; RSS %s KiB -> %s KiB (%s KiB/client), %s KiB after they left' \
            "$kind" "$clients" "$secs" "$rss0" "$rss1" "$(awk -v a="$rss0" -v b="$rss1" -v n="$clients" 'BEGIN {printf "%.2f", (b - a) / n}')" "$rss2")"
    fi
    echo "$kind,$clients,$connected,$failed,$secs,$rss0,$rss1,$rss2,$rc" >>"$IDLE_CSV"
    stop_target "$name"
}
