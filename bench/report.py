#!/usr/bin/env python3
"""Turns the raw runs of bench/run.sh into a Markdown report, a CSV and a PNG chart.

Input (in --work): runs.csv (one row per recorded case, written by run.sh), runs/<id>.<k>.out
(stdout of pgbench process k of the case), latency/<id>.<k>.* (pgbench -l per-transaction logs),
idle.csv (W4 memory per idle client), meta.txt (key=value lines describing the run).
The chart needs matplotlib (Debian: python3-matplotlib); without it the report says so.
"""
import argparse
import csv
import glob
import os
import re
import sys

from report_common import (COLORS, LABEL, LABEL_TENANT, MANY, SHORT, TARGETS, WORKLOADS, fmt, fmt_range, label,
                           median, percentile, ratio, round_range)
from report_targets import budget_rows, floor_rows, latency_budget_rows, layout_ratio, per_client_kib, targets


# ---- parsing ------------------------------------------------------------------------------

def parse_pgbench(paths):
    """Sums the summaries of the pgbench processes of one case."""
    out = {"tps": None, "lat_avg_ms": None, "transactions": None, "failed_tx": None, "conn_ms": None}
    tps = tx = failed = 0
    lat_weighted = 0.0
    conn = []
    seen = False
    for path in paths:
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M)
        if not m:
            return out  # one process without a result makes the case a failure
        seen = True
        tps += float(m.group(1))
        n = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
        n = int(n.group(1)) if n else 0
        tx += n
        m = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
        if m:
            lat_weighted += float(m.group(1)) * n
        m = re.search(r"^number of failed transactions: (\d+)", text, re.M)
        failed += int(m.group(1)) if m else 0
        m = re.search(r"^initial connection time = ([0-9.]+) ms", text, re.M)
        if m:
            conn.append(float(m.group(1)))
    if seen:
        out.update(tps=tps, transactions=tx, failed_tx=failed, lat_avg_ms=(lat_weighted / tx if tx else None),
                   conn_ms=max(conn) if conn else None)
    return out


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


def load(work):
    meta = {}
    with open(os.path.join(work, "meta.txt"), encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    runs = []
    with open(os.path.join(work, "runs.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rid = row["run_id"]
            row.update(parse_pgbench(sorted(glob.glob(os.path.join(glob.escape(work), "runs", glob.escape(rid) + ".*.out")))))
            lat = latencies_us(os.path.join(work, "latency", rid))
            row["p50_ms"] = percentile(lat, 50) / 1000.0 if lat else None
            row["p99_ms"] = percentile(lat, 99) / 1000.0 if lat else None
            row["lat_samples"] = len(lat)
            row["ok"] = row["rc"] == "0" and (row["failed_tx"] or 0) == 0
            runs.append(row)
    idle = []
    path = os.path.join(work, "idle.csv")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            idle = list(csv.DictReader(f))
    return meta, runs, idle


def aggregate(runs, cpus=2):
    """Per (workload, clients, target): medians over the rounds."""
    agg = {}
    keys = []
    for r in runs:
        key = (r["workload"], int(r["clients"]), r["target"])
        if key not in keys:
            keys.append(key)
    for key in keys:
        rs = [r for r in runs if (r["workload"], int(r["clients"]), r["target"]) == key]
        ok = [r for r in rs if r["ok"]]
        tx = sum(r["transactions"] or 0 for r in ok)
        cpu = sum(float(r["cpu_s"]) for r in ok)
        cpu_sys = [float(r["cpu_sys_s"]) for r in ok if r.get("cpu_sys_s") not in (None, "")]
        # Everyone's CPU during the runs (pgbench, pooler, PostgreSQL, anything else), from host busy.
        host_cpu = sum(float(r["host_busy_pct"] or 0) / 100.0 * cpus * float(r["wall_s"] or 0) for r in ok)
        pg_cpu = [float(r["pg_cpu_s"]) for r in ok if r.get("pg_cpu_s") not in (None, "")]
        clients_cpu = [float(r["clients_cpu_s"]) for r in ok if r.get("clients_cpu_s") not in (None, "")]
        rss = [int(r["peak_rss_kb"]) for r in ok if int(r["peak_rss_kb"] or 0) > 0]
        tps = [r["tps"] for r in ok if r["tps"] is not None]
        pooled = not key[2].startswith("direct")
        agg[key] = {
            "runs": len(rs),
            "ok": len(ok),
            "procs": int(rs[0].get("procs") or 1),
            "failed_tx": sum(r["failed_tx"] or 0 for r in rs),
            "tps": median(tps),
            "tps_min": min(tps) if tps else None,
            "tps_max": max(tps) if tps else None,
            "lat": median([r["lat_avg_ms"] for r in ok]),
            "p50": median([r["p50_ms"] for r in ok]),
            "p99": median([r["p99_ms"] for r in ok]),
            "conn_s": median([r["conn_ms"] / 1000.0 if r["conn_ms"] is not None else None for r in ok]),
            "cpu_per_1k": (cpu / tx * 1000.0) if (tx and pooled) else None,
            "sys_per_1k": (sum(cpu_sys) / tx * 1000.0) if (tx and pooled and len(cpu_sys) == len(ok)) else None,
            "host_cpu_per_1k": (host_cpu / tx * 1000.0) if tx else None,
            "pg_cpu_per_1k": (sum(pg_cpu) / tx * 1000.0) if (tx and len(pg_cpu) == len(ok)) else None,
            "clients_cpu_per_1k": (sum(clients_cpu) / tx * 1000.0) if (tx and len(clients_cpu) == len(ok)) else None,
            "host_busy": median([float(r["host_busy_pct"]) for r in ok if r.get("host_busy_pct")]),
            "rss_mib": (max(rss) / 1024.0) if rss and pooled else None,
            "by_round": {r["round"]: r["tps"] for r in ok},
            "cpu_by_round": {r["round"]: float(r["cpu_s"]) / r["transactions"] * 1000.0
                             for r in ok if pooled and r["transactions"]},
            # pgtenant's practice-switch resets per 1,000 transactions (its metrics endpoint).
            "resets_per_1k": (sum(int(r["resets"]) for r in ok) / tx * 1000.0)
            if tx and ok and all(r.get("resets") not in (None, "") for r in ok) else None,
        }
    return agg


def groups_of(agg):
    """(workload, clients) in the suite's order."""
    found = sorted({(w, c) for (w, c, _t) in agg}, key=lambda g: (WORKLOADS.index(g[0]) if g[0] in WORKLOADS else 99, g[1]))
    return found


# ---- Markdown -----------------------------------------------------------------------------

def section(md, title, prose, columns, aligns):
    """Appends a section's title, its prose and the head of its table (`aligns`: the separator
    row's cells, e.g. "---:")."""
    md += [f"## {title}", "", prose, "", "| " + " | ".join(columns) + " |", "|" + "|".join(aligns) + "|"]


def markdown(meta, runs, agg, idle, png_name):
    md = []
    quick = meta.get("mode") == "quick"
    md.append(f"# pgtenant benchmark — {meta.get('started', '?')} ({meta.get('mode', '?')} mode)")
    md.append("")
    md.append(f"pgtenant {meta.get('pgtenant', '?')} at {meta.get('pgtenant_commit', '?')} "
              f"({meta.get('pgtenant_workers')} worker thread(s), {meta.get('pgtenant_io', 'epoll')}) "
              f"vs {meta.get('pgbouncer', '?')} vs direct "
              f"{meta.get('postgresql', '?')}; {meta.get('pgbench', '?')}.")
    md.append(f"Pool size {meta.get('pool_size')} for both poolers (transaction pooling), pgbench scale "
              f"{meta.get('scale')}, `-j {meta.get('pgbench_jobs')}`, {meta.get('rounds')} interleaved round(s) of "
              f"{meta.get('duration_s')} s per target (direct, PgBouncer, pgtenant; then pgtenant, PgBouncer, direct; and so on). "
              f"{meta.get('cpus')} CPUs shared by pgbench, the pooler and PostgreSQL; load average "
              f"{meta.get('loadavg_before')} before, {meta.get('loadavg_after')} after; the runs took "
              f"{int(meta.get('runs_s', 0)) // 60} min {int(meta.get('runs_s', 0)) % 60} s. "
              f"PostgreSQL runs with fsync off (pooling benchmark, not a disk benchmark).")
    if quick:
        md.append("")
        md.append("**Quick mode: a smoke run (short, unwarmed, few clients). It shows that every target ran "
                  "without errors; its numbers mean nothing.**")
    if png_name:
        md.append("")
        md.append(f"![tps per workload and target, and ratios]({png_name})")
    md.append("")
    md.append("| workload | clients | target | median tps | tps min–max | × PgBouncer | × direct | p50 ms | p99 ms "
              "| avg latency ms | pooler CPU s / 1k tx | PostgreSQL CPU s / 1k tx | pooler peak RSS MiB "
              "| host CPU busy % | ok runs | failed tx |")
    md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (w, c) in groups_of(agg):
        # W2 prepared has no PgBouncer row: its "× PgBouncer" is against PgBouncer's -M extended.
        ref_b = agg.get((w, c, "pgbouncer")) or (agg.get(("extended", c, "pgbouncer")) if w == "prepared" else None)
        ref_d = agg.get((w, c, "direct"))
        for t in TARGETS:
            a = agg.get((w, c, t))
            if a is None:
                continue
            xb = ratio(a["tps"], ref_b and ref_b["tps"]) if t != "pgbouncer" else None
            xd = ratio(a["tps"], ref_d and ref_d["tps"]) if t != "direct" else None
            xb_s = fmt(xb, ".2f") + ("†" if xb is not None and w == "prepared" else "")
            name = label(w, t) + (f" ({a['procs']} pgbench processes)" if a["procs"] > 1 else "")
            md.append(
                f"| {SHORT.get(w, w)} | {c:,} | {name} | {fmt(a['tps'], ',.0f')} | "
                f"{fmt(a['tps_min'], ',.0f')}–{fmt(a['tps_max'], ',.0f')} | {xb_s} | {fmt(xd, '.2f')} | "
                f"{fmt(a['p50'], '.3f')} | {fmt(a['p99'], '.3f')} | {fmt(a['lat'], '.3f')} | "
                f"{fmt(a['cpu_per_1k'], '.4f')} | {fmt(a['pg_cpu_per_1k'], '.4f')} | "
                f"{fmt(a['rss_mib'], '.1f')} | {fmt(a['host_busy'], '.0f')} | {a['ok']}/{a['runs']} | {a['failed_tx']} |")
        if w == "prepared" and not agg.get((w, c, "pgbouncer")):
            md.append(f"| {SHORT[w]} | {c:,} | PgBouncer | not run: PgBouncer 1.18 has no prepared statements in "
                      "transaction mode | | | | | | | | | | | | |")
        if w == "scale" and not ref_d:
            md.append(f"| {SHORT[w]} | {c:,} | direct | not run: a backend process per client, max_connections = "
                      f"{meta.get('max_connections', '?')} | | | | | | | | | | | | |")
    md.append("")
    md.append("† W2 prepared: × PgBouncer compares with PgBouncer running `-M extended` at the same client count "
              "(the issue's target), not in the same round.")
    md.append("")

    # Targets.
    md.append("## Targets (issues 5 and 19)")
    md.append("")
    if quick:
        md.append("Quick mode: the verdicts below are not meaningful.")
        md.append("")
    md.append("| target | measured (median ratio [per-round range]) | verdict |")
    md.append("|---|---|---|")
    for name, measured, verdict in targets(meta, agg, idle):
        md.append(f"| {name} | {measured} | {verdict} |")
    md.append("")

    budgets = budget_rows(agg)
    if budgets:
        section(md, "What the throughput targets leave for the pooler",
                "µs per transaction. tps = host busy × CPUs / T, T being the CPU a transaction costs everyone "
                "(from host busy: pgbench, pooler, PostgreSQL, anyone else). Reaching r × PgBouncer's tps, even "
                "at 100 % busy, leaves pgtenant's pooler at most (100 % / PgBouncer's busy) × T_PgBouncer / r "
                "(W6: direct PostgreSQL's, whose runs have no pooler at all) "
                "minus everything else in pgtenant's runs (pgbench and PostgreSQL, which runs the binding); "
                "bench/README.md, \"What the binding costs\". Kernel: a pooler's system time (socket operations "
                "and wake-ups), which any proxy pays.",
                ["target", "reference runs: T (host busy %)", "pgtenant runs: all but the pooler (of it PostgreSQL)",
                 "pgtenant pooler budget", "pgtenant pooler (kernel)", "PgBouncer kernel", "reading"],
                ["---", "---:", "---:", "---:", "---:", "---:", "---"])
        for name, ref, total_b, busy_b, rest, g_t, budget, t, t_sys, b_sys, reading in budgets:
            md.append(f"| {name} | {ref}: {total_b:.1f} ({busy_b:.0f} %) | {rest:.1f} ({fmt(g_t, '.1f')}) | {budget:.1f} | "
                      f"{t:.1f} ({fmt(t_sys, '.1f')}) | {fmt(b_sys, '.1f')} | {reading} |")
        md.append("")

    floors = floor_rows(agg)
    if floors:
        section(md, "What the runtime leaves for the pooler",
                "µs of pooler CPU per transaction. The floor is bench_floor_forwarder: pgtenant's runtime "
                "(Boost.Asio coroutines on epoll, one worker thread) relaying bytes 1:1, with a server "
                "connection per client and nothing read, pooled or bound. Any proxy on that runtime spends at "
                "least the floor, so what PgBouncer spends beyond it is what the CPU target leaves for "
                "everything pgtenant does per transaction (the binding, the statement guard, transaction "
                "tracking, the pool); pgtenant's own work is what it spends beyond the floor.",
                ["target", "reference (kernel)", "floor (kernel)", "floor / reference [per-round range]",
                 "left for pgtenant's own work", "pgtenant's own work", "reading"],
                ["---", "---:", "---:", "---:", "---:", "---:", "---"])
        for name, ref, ref_cpu, ref_sys, floor, floor_sys, x, rng, left, own, reading in floors:
            md.append(f"| {name} | {ref}: {ref_cpu:.1f} ({fmt(ref_sys, '.1f')}) | {floor:.1f} ({fmt(floor_sys, '.1f')}) "
                      f"| {x:.2f}{fmt_range(rng)} | {left:.1f} | {own:.1f} | {reading} |")
        md.append("")

    lat_budgets = latency_budget_rows(agg)
    if lat_budgets:
        section(md, "What the latency target leaves for the pooler",
                "µs per transaction at one client, where nothing runs in parallel and latency is the CPU on the "
                "path. Behind pgtenant PostgreSQL also runs the binding (its CPU per transaction minus what it "
                "spends behind PgBouncer), so for an added p50 no larger than PgBouncer's, pgtenant's pooler may "
                "spend at most PgBouncer's pooler CPU minus the binding.",
                ["target", "PgBouncer pooler (kernel)", "binding's PostgreSQL time", "pgtenant pooler budget",
                 "pgtenant pooler (kernel)", "reading"],
                ["---", "---:", "---:", "---:", "---:", "---"])
        for name, b_cpu, b_sys, binding, budget, t_cpu, t_sys, reading in lat_budgets:
            md.append(f"| {name} | {b_cpu:.1f} ({b_sys:.1f}) | {binding:.1f} | {budget:.1f} | "
                      f"{t_cpu:.1f} ({t_sys:.1f}) | {reading} |")
        md.append("")

    # W3 extras.
    tenant = sorted({c for (w, c, _t) in agg if w == "tenant"})
    if tenant:
        md.append("## W3 ratios")
        md.append("")
        md.append("| clients | pgtenant compat / PgBouncer + middleware | pgtenant compat / direct + middleware "
                  "| sealed / PgBouncer + middleware | sealed / direct + middleware | sealed / compat "
                  "| PgBouncer + middleware in 1 message / PgBouncer + middleware |")
        md.append("|---:|---:|---:|---:|---:|---:|---:|")
        for c in tenant:
            def r(t1, t2):
                a, b = agg.get(("tenant", c, t1)), agg.get(("tenant", c, t2))
                x = ratio(a and a["tps"], b and b["tps"])
                return fmt(x, ".2f") + (fmt_range(round_range(a, b)) if x is not None else "")
            md.append(f"| {c} | {r('pgtenant', 'pgbouncer')} | {r('pgtenant', 'direct')} | "
                      f"{r('pgtenant-sealed', 'pgbouncer')} | {r('pgtenant-sealed', 'direct')} | "
                      f"{r('pgtenant-sealed', 'pgtenant')} | {r('pgbouncer-1msg', 'pgbouncer')} |")
        md.append("")
        md.append(f"Middleware (direct, PgBouncer): per transaction a random one of {meta.get('tenant_practices')} "
                  "practices, `BEGIN; SELECT set_config('app.current_practice_id', '<uuid>', true); SELECT ... FROM "
                  "patients WHERE id = <one of its patients>; COMMIT;` — four round trips (bench/workloads/"
                  "tenant_middleware.sql); \"in 1 message\" sends the same four statements as one simple Query. "
                  "pgtenant: only the SELECT; pgtenant binds the login's practice. A pgtenant login is one practice, "
                  f"so pgtenant runs use one pgbench process per practice login with {meta.get('tenant_per_proc')} "
                  "clients each, rotating over all practices from run to run; their tps are summed and their "
                  "latency logs merged. Compat: policy on `current_setting('app.current_practice_id')`; sealed: "
                  "`pgtenant.practice_id()` verifying the signed token (config/sealed_install.sql; verifier: "
                  f"{meta.get('sealed_verifier', '?')}), database bench_sealed with the same rows.")
        md.append("")

    # W6.
    many = [w for w in MANY if any(k[0] == w for k in agg)]
    if many:
        md.append("## W6 many practices (issue 19)")
        md.append("")
        md.append("Each layout is practices × clients per practice on the pool. Every target runs one pgbench "
                  "process per client (32), so that layouts and targets differ only in how practices meet the "
                  "pool. pgtenant: each process logs in as one of the layout's practices and sends only the "
                  "application's statements (bench/workloads/tenant_pgtenant.sql, tenant_rw_pgtenant.sql: "
                  "`BEGIN; SELECT ...; UPDATE ...; COMMIT;`); direct and PgBouncer: the same statements with the "
                  "practice bound by hand, a random one of the layout's practices per transaction "
                  "(tenant_middleware.sql, tenant_rw_middleware.sql). Resets: pgtenant's practice-switch resets "
                  "per 1,000 transactions. Clients: the pgbench processes' CPU. 32x1 / 4x8: tps of 32 practices "
                  "over 4; in brackets direct PostgreSQL's, with no pooler: how much the layouts differ in the "
                  "workload itself (32 practices' rows against 4 practices'). † prepared over PgBouncer's "
                  "extended (PgBouncer 1.18 cannot run it).")
        md.append("")
        md.append(f"| workload | pgtenant tps | / direct + middleware | / PgBouncer + middleware "
                  f"| / {LABEL_TENANT['pgbouncer-alt']} | resets per 1k tx "
                  "| pgtenant CPU s/1k tx | PostgreSQL CPU s/1k tx (direct) | clients CPU s/1k tx (direct) "
                  "| 32x1 / 4x8 (direct) |")
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w in many:
            c = next(k[1] for k in agg if k[0] == w)
            a, d = agg.get((w, c, "pgtenant")), agg.get((w, c, "direct"))
            b = agg.get((w, c, "pgbouncer"))
            dagger = ""
            if b is None and "prepared" in w:
                b, dagger = agg.get((w.replace("prepared", "extended"), c, "pgbouncer")), "†"
            kind = w[len("many-"):-len("-32x1")] if w.endswith("32x1") else None
            xo = layout_ratio(agg, kind, "pgtenant") if kind else None
            xd = layout_ratio(agg, kind, "direct") if kind else None
            alt = agg.get((w, c, "pgbouncer-alt"))
            md.append(f"| {SHORT[w]} | {fmt(a and a['tps'], ',.0f')} | "
                      f"{fmt(ratio(a and a['tps'], d and d['tps']), '.2f')} | "
                      f"{fmt(ratio(a and a['tps'], b and b['tps']), '.2f')}{dagger} | "
                      f"{fmt(ratio(a and a['tps'], alt and alt['tps']), '.2f')} | "
                      f"{fmt(a and a['resets_per_1k'], '.2f')} | {fmt(a and a['cpu_per_1k'], '.4f')} | "
                      f"{fmt(a and a['pg_cpu_per_1k'], '.4f')} ({fmt(d and d['pg_cpu_per_1k'], '.4f')}) | "
                      f"{fmt(a and a['clients_cpu_per_1k'], '.4f')} ({fmt(d and d['clients_cpu_per_1k'], '.4f')}) | "
                      f"{fmt(xo, '.2f')}{f' ({xd:.2f})' if xd is not None else ''} |")
        md.append("")

    # W4.
    scale = sorted({c for (w, c, _t) in agg if w == "scale"})
    if scale or idle:
        md.append("## W4 connection scale and memory per idle client")
        md.append("")
        for c in scale:
            parts = []
            for t in ("pgbouncer", "pgtenant"):
                a = agg.get(("scale", c, t))
                if a:
                    parts.append(f"{LABEL[t]}: {fmt(a['tps'], ',.0f')} tps, {a['ok']}/{a['runs']} runs ok, "
                                 f"{a['failed_tx']} failed transactions, the clients' logins took "
                                 f"{fmt(a['conn_s'], '.1f')} s")
            md.append(f"- {c:,} clients (`pgbench -S -c {c} -j {meta.get('pgbench_jobs')} -T "
                      f"{meta.get('scale_seconds')}`, connection time excluded from tps) on "
                      f"{meta.get('pool_size')} backends — " + "; ".join(parts) + ". Direct PostgreSQL is not run: "
                      "it needs a backend process per client (about 1.2 MB each), and this cluster's "
                      f"max_connections is {meta.get('max_connections')}"
                      + (f", fewer than {c:,}." if c > int(meta.get('max_connections') or 0) else
                         " (the full run's 2,000 clients exceed it)."))
        if idle:
            md.append("")
            md.append("| pooler | idle clients | connected | logins took s | RSS without clients MiB "
                      "| RSS with the idle clients MiB | KiB per idle client | RSS after they left MiB |")
            md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
            for row in idle:
                per = per_client_kib(row)
                md.append(f"| {LABEL.get(row['target'], row['target'])} | {int(row['clients']):,} | "
                          f"{int(row['connected']):,} | {float(row['connect_s']):.1f} | "
                          f"{int(row['rss_before_kb']) / 1024:.1f} | {int(row['rss_idle_kb']) / 1024:.1f} | "
                          f"{fmt(per, '.2f')} | {int(row['rss_after_kb']) / 1024:.1f} |")
            md.append("")
            md.append("Each pooler is started fresh for this (so memory freed by earlier runs cannot hide the "
                      "cost), serves one query, and its VmRSS is read with no client, then 2 s after the last of "
                      "the idle clients (SCRAM-authenticated, sending nothing; bench/idle_clients.cpp) connected, "
                      "then 1 s after they disconnected.")
        md.append("")

    # W5.
    lat = [w for w in ("latency-simple", "latency-extended") if any(k[0] == w for k in agg)]
    if lat:
        md.append("## W5 latency added at one client")
        md.append("")
        md.append("| mode | target | p50 µs | p99 µs | added p50 µs vs direct | added p99 µs vs direct |")
        md.append("|---|---|---:|---:|---:|---:|")
        for w in lat:
            d = agg.get((w, 1, "direct"))
            for t in ("direct", "pgbouncer", "pgtenant"):
                a = agg.get((w, 1, t))
                if not a:
                    continue
                add50 = (a["p50"] - d["p50"]) * 1000 if d and a["p50"] is not None and d["p50"] is not None and t != "direct" else None
                add99 = (a["p99"] - d["p99"]) * 1000 if d and a["p99"] is not None and d["p99"] is not None and t != "direct" else None
                md.append(f"| {w.split('-')[1]} | {LABEL[t]} | {fmt(a['p50'] and a['p50'] * 1000, '.0f')} | "
                          f"{fmt(a['p99'] and a['p99'] * 1000, '.0f')} | {fmt(add50, '+.0f')} | {fmt(add99, '+.0f')} |")
        md.append("")

    md.append("## Notes")
    md.append("")
    md.append("tps excludes connection time (pgbench's own figure; summed over the pgbench processes of a W3 "
              "pgtenant run). Latency percentiles come from pgbench `-l` logs, sampled at rate "
              f"{meta.get('latency_sampling_rate')} (W5: every transaction), medians over the rounds. "
              "× PgBouncer and × direct are ratios of median tps within the same workload and client count. "
              "Pooler CPU is utime+stime of the pooler process (all threads) from /proc over the whole pgbench "
              "run, connection setup (SCRAM) included, divided by the transactions pgbench counted; PostgreSQL "
              "CPU likewise for the postmaster, all its children and its exited children (direct connections' "
              "backends included). Host CPU busy is the whole machine's (all CPUs, anyone's processes) during the "
              "run: near 100 % means every target was CPU-bound and the ratios compare CPU efficiency. Peak RSS "
              "is VmHWM, reset before each run where the kernel allows it (clear_refs), max over the rounds. "
              "pgtenant injects a Bind+Execute of set_config(app.current_practice_id) (sealed mode: also the "
              "signed token) into every transaction; in W1, W2, W4 and W5 PgBouncer and direct do no such work.")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        md.append("")
        md.append("**Failed runs:** " + ", ".join(
            f"{r['run_id']} (exit {r['rc']}, {r['failed_tx'] or 0} failed transactions)" for r in failed))
    bad_idle = [r for r in idle if r["rc"] != "0"]
    if bad_idle:
        md.append("")
        md.append("**Failed idle-client measurements:** " + ", ".join(
            f"{r['target']} (exit {r['rc']}, {r['connected']} of {r['clients']} connected)" for r in bad_idle))
    md.append("")
    md.append("Per-round tps:")
    md.append("")
    md.append("| workload | clients | round | " + " | ".join(LABEL[t] for t in TARGETS) + " |")
    md.append("|---|---:|---:|" + "---:|" * len(TARGETS))
    for (w, c) in groups_of(agg):
        rounds = sorted({r["round"] for r in runs if (r["workload"], int(r["clients"])) == (w, c)},
                        key=lambda x: int(x) if x.isdigit() else 0)
        for rd in rounds:
            cells = []
            for t in TARGETS:
                a = agg.get((w, c, t))
                v = a["by_round"].get(rd) if a else None
                ran = any(r["target"] == t and r["round"] == rd and r["workload"] == w and int(r["clients"]) == c
                          for r in runs)
                cells.append(fmt(v, ",.0f", none="fail" if ran else ""))
            md.append(f"| {SHORT.get(w, w)} | {c:,} | {rd} | " + " | ".join(cells) + " |")
    md.append("")
    return "\n".join(md)


# ---- chart --------------------------------------------------------------------------------

def chart(meta, agg, idle, path):
    """Grouped bars of median tps per workload and target; pgtenant's ratios; W4 idle memory and
    W5 added latency when measured. Returns an error text or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (Debian: apt-get install python3-matplotlib)"
    groups = groups_of(agg)
    if not groups:
        return "nothing to plot"
    lat = [w for w in ("latency-simple", "latency-extended") if any(k[0] == w for k in agg)]
    bottom = bool(idle) or bool(lat)
    fig = plt.figure(figsize=(14, 13 if bottom else 9), constrained_layout=True)
    grid = fig.add_gridspec(3 if bottom else 2, 2, height_ratios=[1.2, 1, 0.9][: 3 if bottom else 2])
    names = [f"{SHORT.get(w, w)}\n{c:,} client{'s' if c != 1 else ''}" for (w, c) in groups]

    ax = fig.add_subplot(grid[0, :])
    per_group = [[t for t in TARGETS if agg.get((w, c, t)) and agg[(w, c, t)]["tps"] is not None]
                 for (w, c) in groups]
    width = 0.8 / max(len(ts) for ts in per_group)
    drawn = set()
    for g, ((w, c), ts) in enumerate(zip(groups, per_group)):
        # The bars of a group are centred on it, whichever targets it has.
        for i, t in enumerate(ts):
            x = g + width * (i - (len(ts) - 1) / 2)
            name = LABEL[t] + (" (W3: + middleware)" if t in ("direct", "pgbouncer") and
                               any(wl == "tenant" for wl, _ in groups) else "")
            ax.bar([x], [agg[(w, c, t)]["tps"]], width, color=COLORS[t], label=None if t in drawn else name)
            drawn.add(t)
    ax.set_xticks(range(len(groups)), names, fontsize=8)
    ax.set_ylabel("median tps")
    ax.set_title(f"Throughput ({meta.get('mode')} mode, {meta.get('cpus')} CPUs shared, pool of "
                 f"{meta.get('pool_size')}, pgtenant {meta.get('pgtenant_workers')} worker(s))")
    ax.margins(y=0.15)
    ax.legend(fontsize=8, ncol=3)
    ax.grid(axis="y", alpha=0.3)

    ax = fig.add_subplot(grid[1, :])
    series = [("pgtenant / PgBouncer", "pgtenant", "pgbouncer", "#d62728"),
              ("pgtenant / direct", "pgtenant", "direct", "#ff7f0e"),
              ("pgtenant sealed / PgBouncer", "pgtenant-sealed", "pgbouncer", "#ff9896"),
              ("pgtenant sealed / direct", "pgtenant-sealed", "direct", "#ffbb78")]
    series = [s for s in series if any(agg.get((w, c, s[1])) for (w, c) in groups)]
    drawn = set()
    values = []
    for (w, c) in groups:
        vs = []
        for name, num, den, color in series:
            a = agg.get((w, c, num))
            b = agg.get((w, c, den)) or (agg.get(("extended", c, den)) if w == "prepared" and den == "pgbouncer" else None)
            r = ratio(a and a["tps"], b and b["tps"])
            if r is not None:
                vs.append((name, color, r))
        values.append(vs)
    width = 0.8 / max(1, max(len(vs) for vs in values))
    for g, vs in enumerate(values):
        for i, (name, color, r) in enumerate(vs):
            ax.bar([g + width * (i - (len(vs) - 1) / 2)], [r], width, color=color, label=None if name in drawn else name)
            drawn.add(name)
    ax.margins(y=0.15)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)), names, fontsize=8)
    ax.set_ylabel("tps ratio (1.0 = equal)")
    ax.set_title("Ratios of median tps (W2 prepared vs PgBouncer -M extended; W3 vs PgBouncer and direct "
                 "running the middleware statements)")
    ax.legend(fontsize=8, ncol=4)
    ax.grid(axis="y", alpha=0.3)

    if bottom:
        if idle:
            ax = fig.add_subplot(grid[2, 0])
            rows = [r for r in idle if per_client_kib(r) is not None]
            ax.bar([LABEL.get(r["target"], r["target"]) for r in rows], [per_client_kib(r) for r in rows],
                   color=[COLORS.get(r["target"], "gray") for r in rows])
            ax.axhline(4.0, color="black", linestyle="--", linewidth=0.8, label="target ≤ 4 KiB")
            n = max((int(r["clients"]) for r in idle), default=0)
            ax.set_title(f"W4 memory per idle client ({n:,} idle clients)")
            ax.margins(y=0.15)
            ax.set_ylabel("KiB per client")
            ax.legend(fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        if lat:
            ax = fig.add_subplot(grid[2, 1])
            pooled = ["pgbouncer", "pgtenant"]
            width = 0.8 / len(pooled)
            for i, t in enumerate(pooled):
                xs, ys = [], []
                for g, w in enumerate(lat):
                    a, d = agg.get((w, 1, t)), agg.get((w, 1, "direct"))
                    if a and d and a["p50"] is not None and d["p50"] is not None:
                        xs.append(g - 0.4 + width * (i + 0.5))
                        ys.append((a["p50"] - d["p50"]) * 1000)
                ax.bar(xs, ys, width, label=LABEL[t], color=COLORS[t])
            ax.set_xticks(range(len(lat)), [SHORT[w] for w in lat], fontsize=8)
            ax.set_ylabel("µs")
            ax.set_title("W5 p50 latency added over direct, 1 client")
            ax.legend(fontsize=8)
            ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--png", help="chart file (needs matplotlib)")
    args = ap.parse_args()

    meta, runs, idle = load(args.work)
    alt = meta.get("pgbouncer_alt", "").split()
    if len(alt) >= 2:  # "PgBouncer 1.25.2": rows say which PgBouncer they are
        LABEL["pgbouncer-alt"] = f"PgBouncer {alt[1]}"
        LABEL_TENANT["pgbouncer-alt"] = f"PgBouncer {alt[1]} + middleware"
    fields = ["workload", "clients", "round", "target", "rc", "procs", "tps", "lat_avg_ms", "p50_ms", "p99_ms",
              "lat_samples", "transactions", "failed_tx", "conn_ms", "cpu_s", "cpu_sys_s", "pg_cpu_s", "host_busy_pct",
              "peak_rss_kb", "hwm_reset", "wall_s", "run_id", "resets", "clients_cpu_s"]
    with open(args.csv, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in runs:
            w.writerow(r)

    if idle:
        with open(os.path.splitext(args.csv)[0] + "-idle.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(idle[0].keys()))
            w.writeheader()
            w.writerows(idle)

    agg = aggregate(runs, int(meta.get("cpus") or 2))
    png_name = None
    if args.png:
        err = chart(meta, agg, idle, args.png)
        if err:
            print(f"report: no chart: {err}", file=sys.stderr)
        else:
            png_name = os.path.basename(args.png)
    with open(args.md, "w", encoding="utf-8") as f:
        f.write(markdown(meta, runs, agg, idle, png_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
