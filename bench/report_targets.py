"""bench/report.py's verdicts: the targets of issues 5 and 19 and the CPU budgets that show how
far each is from reach."""
from report_common import LABEL, MANY, SHORT, fmt, fmt_range, ratio, round_range

# ---- the targets of issue 5 -----------------------------------------------------------------

W2_PREPARED_NEED = 1.3  # pgtenant -M prepared over PgBouncer -M extended


def w1_need(clients):
    """W1: pgtenant tps over PgBouncer's, 1.2 × from 128 clients on, else parity."""
    return 1.2 if clients >= 128 else 1.0

def targets(meta, agg, idle):
    """Rows: (target text, measured text, met/not met/not measured)."""
    rows = []

    def get(w, c, t):
        return agg.get((w, c, t))

    def verdict(ok):
        return "not measured" if ok is None else ("**met**" if ok else "**not met**")

    def tps_target(name, w, c, t, w_ref, t_ref, need, note=""):
        a, b = get(w, c, t), get(w_ref, c, t_ref)
        r = ratio(a and a["tps"], b and b["tps"])
        rng = round_range(a, b) if w == w_ref else None
        rows.append((name, (f"{r:.2f} ×{fmt_range(rng)}" if r is not None else "—") + note,
                     verdict(None if r is None else r >= need)))

    workers = meta.get("pgtenant_workers", "?")
    w1 = sorted({c for (w, c, _t) in agg if w == "simple"})
    for c in w1:
        need = w1_need(c)
        tps_target(f"W1 simple, {c} clients: pgtenant tps ≥ {need:.1f} × PgBouncer (target with 2 worker threads)",
                   "simple", c, "pgtenant", "simple", "pgbouncer", need, f" ({workers} worker thread(s) in this run)")
    for c in w1:
        for ref in ("pgbouncer", "pgbouncer-alt"):  # issue 19: ≤ PgBouncer 1.25's (PGBOUNCER_BIN)
            a, b = get("simple", c, "pgtenant"), get("simple", c, ref)
            if ref != "pgbouncer" and not b:
                continue
            r = ratio(a and a["cpu_per_1k"], b and b["cpu_per_1k"])
            name = LABEL[ref]
            f = get("simple", c, "floor")
            x = ratio(f and f["cpu_per_1k"], b and b["cpu_per_1k"])
            floor = f"; the runtime's floor: {x:.2f} ×" if x is not None else ""
            rows.append((f"W1 simple, {c} clients: pgtenant CPU per transaction ≤ {name}'s",
                         f"{r:.2f} × {name}'s{cpu_split(a, b)}{floor}" if r is not None else "—",
                         verdict(None if r is None else r <= 1.0)))
    for w in ("latency-simple", "latency-extended"):
        d, b, p = get(w, 1, "direct"), get(w, 1, "pgbouncer"), get(w, 1, "pgtenant")
        if d and b and p and None not in (d["p50"], b["p50"], p["p50"]):
            added_p = (p["p50"] - d["p50"]) * 1000
            added_b = (b["p50"] - d["p50"]) * 1000
            rows.append((f"{SHORT[w]}: pgtenant p50 added latency ≤ PgBouncer's",
                         f"pgtenant +{added_p:.0f} µs, PgBouncer +{added_b:.0f} µs", verdict(added_p <= added_b)))
        elif w == "latency-simple":
            rows.append((f"{SHORT[w]}: pgtenant p50 added latency ≤ PgBouncer's", "—", verdict(None)))
    for c in sorted({c for (w, c, _t) in agg if w == "prepared"}):
        tps_target(f"W2, {c} clients: pgtenant -M prepared ≥ {W2_PREPARED_NEED:.1f} × PgBouncer -M extended",
                   "prepared", c, "pgtenant", "extended", "pgbouncer", W2_PREPARED_NEED)
    # Issue 19: many practices on the pool.
    for w in ("many-rw-prepared-32x1",):
        c = next((k[1] for k in agg if k[0] == w), None)
        if c is not None:
            tps_target(f"{SHORT[w]}: pgtenant ≥ 1.0 × direct + middleware (goal 1.2)", w, c, "pgtenant", w, "direct", 1.0)
    for kind in ("read", "rw-extended", "rw-prepared"):
        w32, w4 = f"many-{kind}-32x1", f"many-{kind}-4x8"
        a, b = get(w32, 32, "pgtenant"), get(w4, 32, "pgtenant")
        if a and b:
            x = layout_ratio(agg, kind, "pgtenant")
            d = layout_ratio(agg, kind, "direct")
            same = f"; direct + middleware's own: {d:.2f}" if d is not None else ""
            rows.append((f"W6 {kind.replace('-', ' ')}: 32 practices within 5 % of 4 (pgtenant tps)",
                         f"{fmt(x, '.2f')}{fmt_range(round_range(a, b))}{same}",
                         verdict(x is not None and x >= 0.95)))
    for w in MANY:
        a = next((v for k, v in agg.items() if k[0] == w and k[2] == "pgtenant"), None)
        if a and a.get("resets_per_1k") is not None:
            rows.append((f"{SHORT[w]}: practice-switch resets ≤ 1 per 1,000 transactions",
                         f"{a['resets_per_1k']:.2f}", verdict(a["resets_per_1k"] <= 1.0)))
    for c in sorted({c for (w, c, _t) in agg if w == "tenant"}):
        tps_target(f"W3, {c} clients: pgtenant (binding injected) ≥ 1.8 × PgBouncer + middleware",
                   "tenant", c, "pgtenant", "tenant", "pgbouncer", 1.8)
        tps_target(f"W3, {c} clients: pgtenant ≥ 1.15 × direct + middleware",
                   "tenant", c, "pgtenant", "tenant", "direct", 1.15)
        tps_target(f"W3, {c} clients: sealed mode within 10 % of compat mode (≥ 0.90 ×)",
                   "tenant", c, "pgtenant-sealed", "tenant", "pgtenant", 0.9)
    for c in sorted({c for (w, c, _t) in agg if w == "scale"}):
        for t in ("pgtenant", "pgbouncer"):
            a = get("scale", c, t)
            if a is None:
                continue
            served = a["ok"] == a["runs"] and a["failed_tx"] == 0
            what = f"{a['ok']}/{a['runs']} runs ok, {a['failed_tx']} failed transactions"
            rows.append((f"W4: all {c:,} clients served with no errors ({LABEL[t]})", what, verdict(served)))
    for row in idle:
        if row["target"] != "pgtenant":
            continue
        per = per_client_kib(row)
        rows.append((f"W4: ≤ 4 KiB per idle client (pgtenant, {int(row['clients']):,} idle clients)",
                     f"{per:.2f} KiB" if per is not None else "—", verdict(None if per is None else per <= 4.0)))
    return rows


def us(v):
    """Seconds per 1,000 transactions -> µs per transaction."""
    return None if v is None else v * 1000.0


def cpu_split(a, b):
    """ " (user x vs y µs, kernel x vs y)": two poolers' CPU per transaction, pgtenant's first."""
    if None in (a.get("cpu_per_1k"), a.get("sys_per_1k"), b.get("cpu_per_1k"), b.get("sys_per_1k")):
        return ""
    user = [(x["cpu_per_1k"] - x["sys_per_1k"]) * 1000 for x in (a, b)]
    kernel = [x["sys_per_1k"] * 1000 for x in (a, b)]
    return f" (user {user[0]:.1f} vs {user[1]:.1f} µs, kernel {kernel[0]:.1f} vs {kernel[1]:.1f})"


def layout_ratio(agg, kind, target):
    """W6: median tps of `target` with 32 practices × 1 client over 4 × 8, or None."""
    a, b = agg.get((f"many-{kind}-32x1", 32, target)), agg.get((f"many-{kind}-4x8", 32, target))
    return ratio(a and a["tps"], b and b["tps"])


def budget_rows(agg):
    """The W1/W2 throughput targets as CPU budgets (bench/README.md, "What the binding costs").
    tps = host busy × CPUs / T, T being the CPU one transaction costs everyone (pgbench, pooler,
    PostgreSQL). pgtenant at r × PgBouncer's tps, even with the machine 100 % busy, needs
    T_t ≤ (100 / busy_b) × T_b / r, so its pooler may spend at most that minus everything else
    in its runs. Rows of µs per transaction."""
    rows = []
    cases = [("W1 simple", "simple", c, "simple", "pgbouncer", w1_need(c))
             for c in sorted({c for (w, c, _t) in agg if w == "simple"})]
    cases += [("W2 prepared vs PgBouncer extended", "prepared", c, "extended", "pgbouncer", W2_PREPARED_NEED)
              for c in sorted({c for (w, c, _t) in agg if w == "prepared"})]
    # Issue 19 against direct PostgreSQL running the middleware: no pooler's CPU in the reference.
    cases += [("W6 rw prepared 32x1 vs direct + middleware", w, c, w, "direct", 1.0)
              for (w, c, t) in agg if w == "many-rw-prepared-32x1" and t == "pgtenant"]
    for name, w, c, w_ref, ref, need in cases:
        a, b = agg.get((w, c, "pgtenant")), agg.get((w_ref, c, ref))
        if not a or not b or None in (a["cpu_per_1k"], a["host_cpu_per_1k"], b["host_cpu_per_1k"]) or not b["host_busy"]:
            continue
        t, rest = us(a["cpu_per_1k"]), us(a["host_cpu_per_1k"] - a["cpu_per_1k"])
        total_b = us(b["host_cpu_per_1k"])
        t_sys, b_sys = us(a.get("sys_per_1k")), us(b.get("sys_per_1k"))
        budget = (100.0 / b["host_busy"]) * total_b / need - rest
        kernel = [x for x in (t_sys, b_sys) if x is not None]
        if budget <= 0:
            reading = "out of reach: everything but pgtenant's pooler already costs more"
        elif kernel and budget < min(kernel):
            reading = "out of reach: less than the kernel time of the poolers measured"
        elif budget < t:
            reading = f"needs pgtenant's pooler CPU {100 * (1 - budget / t):.0f} % lower"
        else:
            reading = "within the budget"
        rows.append((f"{name}, {c} clients, ≥ {need:.1f} ×", LABEL[ref], total_b, b["host_busy"], rest,
                     us(a["pg_cpu_per_1k"]), budget, t, t_sys, b_sys, reading))
    return rows


def floor_rows(agg):
    """The W1 CPU targets against the runtime's floor (bench_floor_forwarder): what a reference
    pooler spends beyond the floor is what is left for pgtenant's own work per transaction. Rows
    of µs per transaction."""
    rows = []
    for c in sorted({c for (w, c, t) in agg if w == "simple" and t == "floor"}):
        f, t = agg[("simple", c, "floor")], agg.get(("simple", c, "pgtenant"))
        for ref in ("pgbouncer", "pgbouncer-alt"):
            b = agg.get(("simple", c, ref))
            if not b or not t or None in (b["cpu_per_1k"], f["cpu_per_1k"], t["cpu_per_1k"]):
                continue
            ref_cpu, floor, pooler = us(b["cpu_per_1k"]), us(f["cpu_per_1k"]), us(t["cpu_per_1k"])
            left, own = ref_cpu - floor, pooler - floor
            rs = [ratio(f["cpu_by_round"].get(k), v) for k, v in b["cpu_by_round"].items()]
            rs = [x for x in rs if x is not None]
            rng = (min(rs), max(rs)) if len(rs) > 1 else None
            if left <= 0:
                reading = "out of reach on this runtime: a forwarder that does nothing else already spends more"
            elif own <= left:
                reading = "within what the runtime leaves"
            else:
                reading = f"needs pgtenant's own work {100 * (1 - left / own):.0f} % cheaper"
            rows.append((f"W1 simple, {c} clients, ≤ {LABEL[ref]}'s", LABEL[ref], ref_cpu, us(b["sys_per_1k"]), floor,
                         us(f["sys_per_1k"]), floor / ref_cpu, rng, left, own, reading))
    return rows


def latency_budget_rows(agg):
    """The W5 target (pgtenant's added p50 ≤ PgBouncer's) as a CPU budget. At one client nothing
    runs in parallel: a transaction's latency is the CPU on its path, so pgtenant's pooler may
    spend at most PgBouncer's pooler CPU minus the binding's PostgreSQL time (pgtenant's
    PostgreSQL CPU per transaction minus PgBouncer's). Rows of µs per transaction."""
    rows = []
    for w in ("latency-simple", "latency-extended"):
        b, t = agg.get((w, 1, "pgbouncer")), agg.get((w, 1, "pgtenant"))
        fields = ("cpu_per_1k", "sys_per_1k", "pg_cpu_per_1k")
        if not b or not t or any(x[f] is None for x in (b, t) for f in fields):
            continue
        b_cpu, b_sys, t_cpu, t_sys = us(b["cpu_per_1k"]), us(b["sys_per_1k"]), us(t["cpu_per_1k"]), us(t["sys_per_1k"])
        binding = us(t["pg_cpu_per_1k"] - b["pg_cpu_per_1k"])
        budget = b_cpu - binding
        if budget <= 0:
            reading = "out of reach: the binding alone costs more than PgBouncer's whole pooler"
        elif budget < min(t_sys, b_sys):
            reading = "out of reach: less than the kernel time of the poolers measured"
        elif budget < t_cpu:
            reading = (f"needs pgtenant's pooler CPU {100 * (1 - budget / t_cpu):.0f} % lower: at its kernel "
                       f"time, {budget - t_sys:.1f} µs of user-space work (PgBouncer's: {b_cpu - b_sys:.1f})")
        else:
            reading = "within the budget"
        rows.append((SHORT[w], b_cpu, b_sys, binding, budget, t_cpu, t_sys, reading))
    return rows


def per_client_kib(row):
    n = int(row["connected"] or 0)
    if row["rc"] != "0" or n == 0:
        return None
    return (int(row["rss_idle_kb"]) - int(row["rss_before_kb"])) / n
