#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into a Markdown report and a CSV.

Input (in --work): runs.csv (one row per recorded pgbench run, written by run.sh),
runs/<id>.out (pgbench's stdout), latency/<id>.* (pgbench -l per-transaction logs, sampled),
meta.txt (key=value lines describing the run).
"""
import argparse
import math
import csv
import glob
import os
import re
import statistics
import sys

TARGETS = ["direct", "pgbouncer", "pgtenant"]
WORKLOAD_NAMES = {
    "simple": "W1 select-only, simple protocol (`pgbench -S -M simple`)",
    "extended": "W2 select-only, extended protocol (`pgbench -S -M extended`)",
}
WORKLOAD_SHORT = {"simple": "W1 simple", "extended": "W2 extended", "prepared": "W2 prepared"}


def parse_pgbench(path):
    """tps (without connection time), average latency (ms), transactions processed."""
    out = {"tps": None, "lat_avg_ms": None, "transactions": None, "failed_tx": None}
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return out
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
    if m:
        out["tps"] = float(m.group(1))
    m = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
    if m:
        out["lat_avg_ms"] = float(m.group(1))
    m = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    if m:
        out["transactions"] = int(m.group(1))
    m = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    if m:
        out["failed_tx"] = int(m.group(1))
    return out


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def latencies_us(prefix):
    """Per-transaction latencies (µs) from pgbench -l logs: column 3 is the latency."""
    values = []
    for path in glob.glob(glob.escape(prefix) + ".*"):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    values.append(int(parts[2]))
    values.sort()
    return values


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, none="—"):
    return none if value is None else format(value, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--csv", required=True)
    args = ap.parse_args()

    meta = {}
    with open(os.path.join(args.work, "meta.txt"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v

    runs = []
    with open(os.path.join(args.work, "runs.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            row.update(parse_pgbench(os.path.join(args.work, "runs", row["run_id"] + ".out")))
            lat = latencies_us(os.path.join(args.work, "latency", row["run_id"]))
            row["p50_ms"] = percentile(lat, 50) / 1000.0 if lat else None
            row["p99_ms"] = percentile(lat, 99) / 1000.0 if lat else None
            row["lat_samples"] = len(lat)
            row["ok"] = row["rc"] == "0"
            runs.append(row)

    # Raw per-run CSV, kept next to the report.
    fields = ["workload", "clients", "round", "target", "rc", "tps", "lat_avg_ms", "p50_ms", "p99_ms",
              "lat_samples", "transactions", "failed_tx", "cpu_s", "pg_cpu_s", "host_busy_pct", "peak_rss_kb", "hwm_reset", "wall_s", "run_id"]
    with open(args.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in runs:
            w.writerow(r)

    # Aggregate per (workload, clients, target) over rounds.
    groups = []
    for r in runs:
        key = (r["workload"], int(r["clients"]))
        if key not in groups:
            groups.append(key)
    agg = {}
    for key in groups:
        for t in TARGETS:
            rs = [r for r in runs if (r["workload"], int(r["clients"])) == key and r["target"] == t]
            ok = [r for r in rs if r["ok"]]
            tx = sum(r["transactions"] or 0 for r in ok)
            cpu = sum(float(r["cpu_s"]) for r in ok)
            pg_cpu = [float(r["pg_cpu_s"]) for r in ok if r.get("pg_cpu_s") not in (None, "")]
            rss = [int(r["peak_rss_kb"]) for r in ok if int(r["peak_rss_kb"] or 0) > 0]
            tps = [r["tps"] for r in ok if r["tps"] is not None]
            agg[key + (t,)] = {
                "runs": len(rs),
                "ok": len(ok),
                "tps": median(tps),
                "tps_min": min(tps) if tps else None,
                "tps_max": max(tps) if tps else None,
                "lat": median([r["lat_avg_ms"] for r in ok]),
                "p50": median([r["p50_ms"] for r in ok]),
                "p99": median([r["p99_ms"] for r in ok]),
                "cpu_per_1k": (cpu / tx * 1000.0) if (tx and t != "direct") else None,
                "pg_cpu_per_1k": (sum(pg_cpu) / tx * 1000.0) if (tx and len(pg_cpu) == len(ok)) else None,
                "host_busy": median([float(r["host_busy_pct"]) for r in ok if r.get("host_busy_pct")]),
                "rss_mib": (max(rss) / 1024.0) if rss and t != "direct" else None,
                "by_round": {r["round"]: r["tps"] for r in ok},
            }

    md = []
    md.append(f"# pgtenant benchmark — {meta.get('started', '?')} ({meta.get('mode', '?')} mode)")
    md.append("")
    md.append(f"pgtenant {meta.get('pgtenant', '?')} at {meta.get('pgtenant_commit', '?')} "
              f"({meta.get('pgtenant_workers')} worker thread(s)) vs {meta.get('pgbouncer', '?')} vs direct "
              f"{meta.get('postgresql', '?')}; {meta.get('pgbench', '?')}.")
    md.append(f"Pool size {meta.get('pool_size')} for both poolers (transaction pooling), pgbench scale "
              f"{meta.get('scale')}, `-j {meta.get('pgbench_jobs')}`, {meta.get('rounds')} interleaved round(s) of "
              f"{meta.get('duration_s')} s per target (direct, pgbouncer, pgtenant, direct, ...). "
              f"{meta.get('cpus')} CPUs shared by pgbench, the pooler and PostgreSQL; load average "
              f"{meta.get('loadavg_before')} before, {meta.get('loadavg_after')} after. "
              f"PostgreSQL runs with fsync off (pooling benchmark, not a disk benchmark).")
    md.append("")
    md.append("| workload | clients | target | median tps | tps min–max | avg latency ms | p50 ms | p99 ms "
              "| pooler CPU s / 1k tx | PostgreSQL CPU s / 1k tx | pooler peak RSS MiB | host CPU busy % | ok runs |")
    md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (wl, c) in groups:
        for t in TARGETS:
            a = agg[(wl, c, t)]
            md.append(
                f"| {WORKLOAD_SHORT.get(wl, wl)} | {c} | {t} | {fmt(a['tps'], ',.0f')} | "
                f"{fmt(a['tps_min'], ',.0f')}–{fmt(a['tps_max'], ',.0f')} | {fmt(a['lat'], '.3f')} | "
                f"{fmt(a['p50'], '.3f')} | {fmt(a['p99'], '.3f')} | {fmt(a['cpu_per_1k'], '.4f')} | "
                f"{fmt(a['pg_cpu_per_1k'], '.4f')} | "
                f"{fmt(a['rss_mib'], '.1f')} | {fmt(a['host_busy'], '.0f')} | {a['ok']}/{a['runs']} |")
    md.append("")
    md.append("Ratios (of the medians; in brackets the range of the per-round ratios, each round's runs being "
              "back to back):")
    md.append("")
    md.append("| workload | clients | pgtenant / PgBouncer tps | pgtenant / direct tps | PgBouncer / direct tps "
              "| pgtenant / PgBouncer pooler CPU per tx | pgtenant / PgBouncer PostgreSQL CPU per tx "
              "| pgtenant − PgBouncer p50 ms |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|")

    def per_round(a, b):
        rs = [ratio(a["by_round"].get(k), b["by_round"].get(k)) for k in a["by_round"]]
        rs = [x for x in rs if x is not None]
        return f" [{min(rs):.2f}–{max(rs):.2f}]" if len(rs) > 1 else ""

    for (wl, c) in groups:
        d, b, p = (agg[(wl, c, t)] for t in TARGETS)
        pb = ratio(p["tps"], b["tps"])
        pd = ratio(p["tps"], d["tps"])
        bd = ratio(b["tps"], d["tps"])
        cpu = ratio(p["cpu_per_1k"], b["cpu_per_1k"])
        pgcpu = ratio(p["pg_cpu_per_1k"], b["pg_cpu_per_1k"])
        dp50 = (p["p50"] - b["p50"]) if p["p50"] is not None and b["p50"] is not None else None
        md.append(f"| {WORKLOAD_SHORT.get(wl, wl)} | {c} | {fmt(pb, '.2f')}{per_round(p, b) if pb else ''} | "
                  f"{fmt(pd, '.2f')}{per_round(p, d) if pd else ''} | {fmt(bd, '.2f')}{per_round(b, d) if bd else ''} | "
                  f"{fmt(cpu, '.2f')} | {fmt(pgcpu, '.2f')} | {fmt(dp50, '+.3f')} |")
    md.append("")
    md.append("Notes: tps excludes connection time (pgbench's own figure). Latency percentiles come from "
              f"pgbench `-l` logs sampled at rate {meta.get('latency_sampling_rate')}. Pooler CPU is utime+stime "
              "of the pooler process (all threads) from /proc over the whole pgbench run, connection setup "
              "(SCRAM) included, divided by the transactions pgbench counted; PostgreSQL CPU likewise for the "
              "postmaster, all its children and its exited children (direct connections' backends included). Host CPU busy is the whole machine's (all CPUs, anyone's "
              "processes) during the run: near 100 % means every target was CPU-bound and the ratios compare CPU "
              "efficiency. Peak RSS is VmHWM, reset before "
              "each run where the kernel allows it (clear_refs), max over the rounds. pgtenant additionally "
              "injects a Bind+Execute of set_config(app.current_practice_id) into every transaction (its tenant "
              "binding); PgBouncer and direct do no such work.")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        md.append("")
        md.append("**Failed runs:** " + ", ".join(f"{r['run_id']} (exit {r['rc']})" for r in failed))
    md.append("")
    md.append("Per-round tps:")
    md.append("")
    md.append("| workload | clients | round | " + " | ".join(TARGETS) + " |")
    md.append("|---|---:|---:|" + "---:|" * len(TARGETS))
    for (wl, c) in groups:
        rounds = sorted({r["round"] for r in runs if (r["workload"], int(r["clients"])) == (wl, c)},
                        key=lambda x: int(x) if x.isdigit() else 0)
        for rd in rounds:
            cells = []
            for t in TARGETS:
                v = agg[(wl, c, t)]["by_round"].get(rd)
                ran = any(r["target"] == t and r["round"] == rd and r["workload"] == wl for r in runs)
                cells.append(fmt(v, ",.0f", none="fail" if ran else "not run"))
            md.append(f"| {WORKLOAD_SHORT.get(wl, wl)} | {c} | {rd} | " + " | ".join(cells) + " |")
    md.append("")
    with open(args.md, "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
