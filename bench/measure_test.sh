#!/usr/bin/env bash
# bench/measure.sh's CPU sampling must survive processes that exit while it samples: a run
# under `set -euo pipefail` (as bench/run.sh runs) that used to die silently after a direct
# run, when backends of closed connections vanished between pgrep and reading their stats.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
# shellcheck source=bench/measure.sh
source "$HERE/measure.sh"

sleep 30 &
PG_POSTMASTER_PID=$!
trap 'kill $PG_POSTMASTER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
# A child list naming a process that is gone, as pgrep does when a backend exits right after.
pgrep() { echo 999999999; }
ticks=$(pg_cpu_ticks)
[[ $ticks =~ ^[0-9]+$ ]] || { echo "pg_cpu_ticks printed '$ticks'" >&2; exit 1; }
ticks=$(cpu_ticks 999999999)
[[ $ticks == "0 0" ]] || { echo "cpu_ticks of a gone process printed '$ticks'" >&2; exit 1; }
# The kernel's share is stime alone: checked on a process that burnt some user time and then
# stopped, so its counters hold still while both are read.
bash -c 'for ((i = 0; i < 400000; i++)); do :; done; kill -STOP $$' &
busy=$!
for _ in $(seq 100); do [[ $(awk '{print $3}' "/proc/$busy/stat") == T ]] && break; sleep 0.05; done
read -r -a stat <<<"$(sed 's/^.*) //' "/proc/$busy/stat")"
read -r all sys <<<"$(cpu_ticks $busy)"
{ kill -9 $busy && wait $busy; } 2>/dev/null || true
[[ $all == $((stat[11] + stat[12])) && $sys == "${stat[12]}" && $all -gt $sys ]] ||
    { echo "cpu_ticks: all '$all' sys '$sys', /proc utime '${stat[11]}' stime '${stat[12]}'" >&2; exit 1; }
# The clients' CPU counts children the shell waited for, grandchildren included (pgbench runs
# under timeout), and nothing before that.
clients_cpu
before=$CLIENTS_CPU
timeout 30 bash -c 'for ((i = 0; i < 400000; i++)); do :; done' &
wait $!
clients_cpu
spent=$(awk -v a="$before" -v b="$CLIENTS_CPU" 'BEGIN {print (b - a > 0.05) ? "yes" : "no"}')
[[ $spent == yes ]] || { echo "clients_cpu: $before s before a busy child, $CLIENTS_CPU s after" >&2; exit 1; }
echo "measure.sh: CPU sampling survives vanished processes; the kernel share is stime; clients' CPU counts waited-for children"
