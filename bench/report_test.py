#!/usr/bin/env python3
"""bench/report_targets.py's CPU budgets of the W1/W2 targets, on made-up aggregates (seconds per 1,000
transactions, as aggregate() produces them)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_targets as report  # noqa: E402


def run(host_b, busy_b, host_t, pooler_t, sys_t=0.020, sys_b=0.020, clients=32):
    agg = {
        ("simple", clients, "pgbouncer"): {"cpu_per_1k": 0.030, "pg_cpu_per_1k": 0.090, "sys_per_1k": sys_b,
                                           "host_cpu_per_1k": host_b, "host_busy": busy_b},
        ("simple", clients, "pgtenant"): {"cpu_per_1k": pooler_t, "pg_cpu_per_1k": 0.100, "sys_per_1k": sys_t,
                                          "host_cpu_per_1k": host_t, "host_busy": 99.0},
    }
    rows = report.budget_rows(agg)
    assert len(rows) == 1, rows
    return rows[0]


def check(row, budget, reading):
    got_budget, got_reading = row[6], row[-1]
    assert abs(got_budget - budget) < 0.05, (row, budget)
    assert got_reading.startswith(reading), (row, reading)


# PgBouncer 150 µs per transaction at 100 % busy, r = 1.0: pgtenant's pooler may spend 150
# minus the 120 everything else costs in its runs = 30; it spends 40.
check(run(0.150, 100.0, 0.160, 0.040), 30.0, "needs pgtenant's pooler CPU 25 % lower")
# The same, PgBouncer's runs only 75 % busy: they could have done a third more, so 200 - 120.
check(run(0.150, 75.0, 0.160, 0.040), 80.0, "within the budget")
# Budget 30 below both poolers' kernel time (35, 40): no proxy gets there.
check(run(0.150, 100.0, 0.160, 0.040, sys_t=0.035, sys_b=0.040), 30.0, "out of reach: less than the kernel")
# r = 1.2 at 128 clients: 150 / 1.2 = 125 < 130 for all but the pooler.
check(run(0.150, 100.0, 0.170, 0.040, clients=128), -5.0, "out of reach: everything but")

# W6 against direct PostgreSQL (no pooler in its runs): direct 300 µs per transaction at 100 %
# busy, pgtenant's runs 280 µs besides its pooler: 20 µs left, below pgtenant's 25 µs of kernel
# time; the reference's kernel time is unknown (direct has no pooler) and must not count.
w6 = "many-rw-prepared-32x1"
rows = report.budget_rows({
    (w6, 32, "direct"): {"cpu_per_1k": None, "pg_cpu_per_1k": 0.200, "sys_per_1k": None,
                         "host_cpu_per_1k": 0.300, "host_busy": 100.0},
    (w6, 32, "pgtenant"): {"cpu_per_1k": 0.100, "pg_cpu_per_1k": 0.180, "sys_per_1k": 0.025,
                           "host_cpu_per_1k": 0.380, "host_busy": 98.0},
})
assert len(rows) == 1 and rows[0][1] == "direct", rows
check(rows[0], 20.0, "out of reach: less than the kernel")


def latency(b_cpu, b_sys, b_pg, t_cpu, t_sys, t_pg):
    agg = {("latency-simple", 1, "pgbouncer"): {"cpu_per_1k": b_cpu, "sys_per_1k": b_sys, "pg_cpu_per_1k": b_pg},
           ("latency-simple", 1, "pgtenant"): {"cpu_per_1k": t_cpu, "sys_per_1k": t_sys, "pg_cpu_per_1k": t_pg}}
    rows = report.latency_budget_rows(agg)
    assert len(rows) == 1, rows
    return rows[0][4], rows[0][-1]


def check_latency(got, budget, reading):
    assert abs(got[0] - budget) < 0.05, (got, budget)
    assert got[1].startswith(reading), (got, reading)


# PgBouncer's pooler 35 µs (29 kernel); the binding costs PostgreSQL 7 µs more behind pgtenant:
# pgtenant's pooler may spend 28, below both kernel times (28.5, 29).
check_latency(latency(0.035, 0.029, 0.046, 0.037, 0.0285, 0.053), 28.0, "out of reach: less than the kernel")
# Kernel 25: 28 leaves 3 µs of user space where PgBouncer spends 6.
check_latency(latency(0.035, 0.029, 0.046, 0.037, 0.025, 0.053), 28.0, "needs pgtenant's pooler CPU 24 % lower")
# A binding that costs nothing leaves PgBouncer's own 35.
check_latency(latency(0.035, 0.029, 0.046, 0.030, 0.025, 0.046), 35.0, "within the budget")
# W6 layouts: 32 practices × 1 client over 4 × 8, per target; None where a layout did not run.
layouts = {("many-read-32x1", 32, "pgtenant"): {"tps": 900.0}, ("many-read-4x8", 32, "pgtenant"): {"tps": 1000.0},
           ("many-read-32x1", 32, "direct"): {"tps": 1900.0}, ("many-read-4x8", 32, "direct"): {"tps": 2000.0}}
assert abs(report.layout_ratio(layouts, "read", "pgtenant") - 0.90) < 1e-9
assert abs(report.layout_ratio(layouts, "read", "direct") - 0.95) < 1e-9
assert report.layout_ratio(layouts, "rw-prepared", "pgtenant") is None

# The CPU target's user and kernel parts, µs per transaction, pgtenant's first.
split = report.cpu_split({"cpu_per_1k": 0.0253, "sys_per_1k": 0.0179}, {"cpu_per_1k": 0.0173, "sys_per_1k": 0.0158})
assert split == " (user 7.4 vs 1.5 µs, kernel 17.9 vs 15.8)", split
assert report.cpu_split({"cpu_per_1k": None, "sys_per_1k": None}, {"cpu_per_1k": 0.0173, "sys_per_1k": 0.0158}) == ""


# The runtime's floor: PgBouncer 20 µs, the floor 18, pgtenant 26: 2 µs left for pgtenant's own
# work, which costs 8; per round the floor is 0.80 and 1.00 of PgBouncer.
def floor_case(floor_cpu, floor_rounds):
    def row(cpu, rounds):
        return {"cpu_per_1k": cpu, "sys_per_1k": cpu * 0.8, "cpu_by_round": rounds}
    return report.floor_rows({
        ("simple", 32, "pgbouncer"): row(0.020, {"1": 0.020, "2": 0.020}),
        ("simple", 32, "floor"): row(floor_cpu, floor_rounds),
        ("simple", 32, "pgtenant"): row(0.026, {"1": 0.026, "2": 0.026}),
    })


(name, ref, ref_cpu, _rs, floor, _fs, x, rng, left, own, reading), = floor_case(0.018, {"1": 0.016, "2": 0.020})
assert (round(ref_cpu, 6), round(floor, 6), round(left, 6), round(own, 6)) == (20.0, 18.0, 2.0, 8.0), floor_case
assert abs(x - 0.9) < 1e-9 and rng == (0.8, 1.0) and reading == "needs pgtenant's own work 75 % cheaper", reading
# A floor above PgBouncer: nothing is left, whatever pgtenant does.
assert floor_case(0.021, {"1": 0.021})[0][-1].startswith("out of reach on this runtime")
# No floor run, no row.
assert report.floor_rows({("simple", 32, "pgbouncer"): {"cpu_per_1k": 0.02}}) == []
print("report_targets.py: CPU budgets of the targets ok")
