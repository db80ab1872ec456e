"""What bench/report.py and bench/report_targets.py share: the targets and workloads of a run,
their labels, and the small numeric helpers."""
import math
import statistics

TARGETS = ["direct", "direct-1msg", "pgbouncer", "pgbouncer-alt", "pgbouncer-1msg", "floor", "pgtenant",
           "pgtenant-sealed"]
LABEL = {
    "direct": "direct",
    "direct-1msg": "direct, 1 message",
    "pgbouncer": "PgBouncer",
    "pgbouncer-1msg": "PgBouncer, 1 message",
    "pgbouncer-alt": "PgBouncer (PGBOUNCER_BIN)",
    "floor": "the runtime's floor (1:1 forwarder)",
    "pgtenant": "pgtenant",
    "pgtenant-sealed": "pgtenant sealed",
}
# W3 names its rows by what the application does.
LABEL_TENANT = {
    "direct": "direct + middleware",
    "direct-1msg": "direct + middleware in 1 message",
    "pgbouncer": "PgBouncer + middleware",
    "pgbouncer-1msg": "PgBouncer + middleware in 1 message",
    "pgbouncer-alt": "PgBouncer (PGBOUNCER_BIN) + middleware",
    "pgtenant": "pgtenant compat",
    "pgtenant-sealed": "pgtenant sealed",
}
MANY = [f"many-{k}-{l}" for k in ("read", "rw-extended", "rw-prepared") for l in ("32x1", "4x8", "8x1")]
WORKLOADS = ["simple", "extended", "prepared", "rows", "tenant", *MANY, "scale", "latency-simple",
             "latency-extended"]
SHORT = {
    "simple": "W1 simple",
    "extended": "W2 extended",
    "prepared": "W2 prepared",
    "rows": "W7 1,000 rows",
    "tenant": "W3 tenant RLS",
    "scale": "W4 scale",
    "latency-simple": "W5 1 client, simple",
    "latency-extended": "W5 1 client, extended",
    **{w: f"W6 {w[len('many-'):w.rindex('-')].replace('-', ' ')}, {w[w.rindex('-') + 1:]}" for w in MANY},
}
COLORS = {
    "direct": "#7f7f7f",
    "direct-1msg": "#c7c7c7",
    "pgbouncer": "#1f77b4",
    "pgbouncer-1msg": "#aec7e8",
    "pgbouncer-alt": "#9467bd",
    "floor": "#bcbd22",
    "pgtenant": "#d62728",
    "pgtenant-sealed": "#ff9896",
}


def label(workload, target):
    tenant = workload == "tenant" or workload.startswith("many-")
    return (LABEL_TENANT if tenant else LABEL).get(target, target)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec, none="—"):
    return none if value is None else format(value, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def round_range(a, b):
    """Range of the per-round ratios a/b (each round's runs are back to back), or None."""
    if not a or not b:
        return None
    rs = [ratio(a["by_round"].get(k), b["by_round"].get(k)) for k in a["by_round"]]
    rs = [x for x in rs if x is not None]
    return (min(rs), max(rs)) if len(rs) > 1 else None


def fmt_range(rng):
    return f" [{rng[0]:.2f}–{rng[1]:.2f}]" if rng else ""
