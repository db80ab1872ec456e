"""The scenarios every Python driver runs (see matrix_common.py). Each takes one connection's
Ctx; ctx.drv is the driver adapter:
  execute(c, sql, params) -> rows      (%s placeholders)
  session_sql(c, [sql, ...])           statements outside any transaction, as the driver's
                                       applications run them (autocommit or commit after)
  tx(c) / savepoint(c)                 context managers; Rollback inside rolls back on purpose
  copy_in(c, table, columns, rows)     COPY table (columns) FROM STDIN, text format
  copy_out(c, query) -> [line, ...]    COPY (query) TO STDOUT, text format
  sqlstate(exc)
"""
import threading

from matrix_common import (ALT_ZONES, FAILURES, PRACTICE, TXNS, Rollback, env)


def run_tx(ctx, t, body, rollback=False):
    """body() inside one transaction; counts it as committed unless rolled back."""
    def work():
        with ctx.drv.tx(ctx.c):
            body()
            if rollback:
                raise Rollback()
    if ctx.attempt(t, work) and not rollback:
        ctx.committed += 1


def settings(ctx):
    """Session-level SETs, then ordinary transactions (every 4th rolled back): each sees exactly
    its own settings, zone-less literals are read and typed timestamptz values come back in its
    own TimeZone."""
    ctx.set_session()
    for t in range(TXNS):
        def body(t=t):
            ctx.probe(t)
            ctx.insert(t)
            ctx.readback(t)
        run_tx(ctx, t, body, rollback=t % 4 == 3)
    run_tx(ctx, TXNS, lambda: ctx.probe(TXNS, what=" (after the loop)"), rollback=True)


def set_rollback(ctx):
    """SET in a transaction that rolls back (must not stick), SET LOCAL (ends with its
    transaction), SET in a rolled-back savepoint, SET / set_config(..., false) in a committed
    transaction (sticks)."""
    ctx.set_session()
    base = dict(ctx.settings)
    alt_zone = ALT_ZONES[ctx.i][0]
    alt = dict(base, TimeZone=alt_zone, statement_timeout="99s")
    drv = ctx.drv
    rounds = max(1, TXNS // 5)
    for r in range(rounds):
        t = r * 10

        def rolled_back(t=t):
            ctx.execute(f"SET TimeZone = '{alt_zone}'")
            ctx.execute("SET statement_timeout = '99s'")
            ctx.probe(t, alt, " (SET inside the transaction)")
            ctx.insert(t, zone=alt_zone)
        run_tx(ctx, t, rolled_back, rollback=True)

        def after_rollback(t=t + 1):
            ctx.probe(t, base, " (after a rolled-back SET)")
            ctx.insert(t)
            ctx.readback(t)
        run_tx(ctx, t + 1, after_rollback)

        def set_local(t=t + 2):
            ctx.execute(f"SET LOCAL TimeZone = '{alt_zone}'")
            ctx.execute("SET LOCAL statement_timeout = '99s'")
            ctx.probe(t, alt, " (SET LOCAL)")
            ctx.insert(t, zone=alt_zone)
            ctx.readback(t, zone=alt_zone)
        run_tx(ctx, t + 2, set_local)

        def savepoint(t=t + 3):
            ctx.probe(t, base, " (after SET LOCAL)")
            try:
                with drv.savepoint(ctx.c):
                    ctx.execute(f"SET TimeZone = '{alt_zone}'")
                    ctx.execute("SET statement_timeout = '99s'")
                    ctx.probe(t, alt, " (SET inside a savepoint)")
                    raise Rollback()
            except Rollback:
                pass
            ctx.probe(t, base, " (after ROLLBACK TO SAVEPOINT)")
            ctx.insert(t)
        run_tx(ctx, t + 3, savepoint)

        def committed_set(t=t + 4):
            ctx.probe(t, base, " (after a rolled-back savepoint)")
            ctx.execute(f"SET TimeZone = '{alt_zone}'")
            ctx.execute("SET statement_timeout = '99s'")
            ctx.insert(t, zone=alt_zone)
        run_tx(ctx, t + 4, committed_set)

        def after_commit(t=t + 5):
            ctx.probe(t, alt, " (after a committed SET)")
            ctx.insert(t, zone=alt_zone)
            ctx.execute("SELECT set_config('TimeZone', %s, false), set_config('statement_timeout', %s, false)",
                        (base["TimeZone"], base["statement_timeout"]))
            ctx.probe(t, base, " (after set_config(..., false))")
        run_tx(ctx, t + 5, after_commit)

        run_tx(ctx, t + 6, lambda t=t + 6: ctx.probe(t, base, " (after a committed set_config)"), rollback=True)


def errors(ctx):
    """An error mid-transaction then ROLLBACK; an error inside a savepoint, ROLLBACK TO, COMMIT;
    another practice's row refused (42501) inside a savepoint; an error outside a transaction."""
    ctx.set_session()
    drv = ctx.drv
    other = PRACTICE["bob" if ctx.login == "alice" else "alice"]
    for r in range(max(1, TXNS // 4)):
        t = r * 10

        def failing(t=t):
            ctx.insert(t)
            ctx.execute("SELECT 1 / (%s::int - %s::int)", (r, r))
        try:
            with drv.tx(ctx.c):
                failing()
            FAILURES.add("errors: division by zero not raised", ctx.where(t))
        except Exception as e:
            FAILURES.check(drv.sqlstate(e) == "22012", f"errors: unexpected {drv.describe(e)}", ctx.where(t))
            drv.recover(ctx.c)

        def savepoint_error(t=t + 1):
            ctx.insert(t)
            try:
                with drv.savepoint(ctx.c):
                    ctx.insert(t + 100)
                    ctx.execute("SELECT 1 / (%s::int - %s::int)", (r, r))
                FAILURES.add("errors: division by zero not raised", ctx.where(t))
            except Exception as e:
                if drv.sqlstate(e) != "22012":
                    raise
            ctx.insert(t + 200)
            ctx.probe(t, what=" (after ROLLBACK TO SAVEPOINT)")
        if ctx.attempt(t + 1, lambda: _in_tx(ctx, savepoint_error)):
            ctx.committed += 2

        def foreign(t=t + 2):
            try:
                with drv.savepoint(ctx.c):
                    ctx.insert(t + 100, practice=other)
                FAILURES.add("errors: another practice's row accepted", ctx.where(t))
            except Exception as e:
                if drv.sqlstate(e) != "42501":
                    raise
            ctx.insert(t)
        if ctx.attempt(t + 2, lambda: _in_tx(ctx, foreign)):
            ctx.committed += 1

        try:
            drv.session_sql(ctx.c, ["SELECT 1 / 0"])
            FAILURES.add("errors: division by zero not raised", ctx.where(t + 3))
        except Exception as e:
            FAILURES.check(drv.sqlstate(e) == "22012", f"errors: unexpected {drv.describe(e)}", ctx.where(t + 3))
            drv.recover(ctx.c)
        run_tx(ctx, t + 4, lambda t=t + 4: ctx.probe(t, what=" (after an error outside a transaction)"),
               rollback=True)


def _in_tx(ctx, body):
    with ctx.drv.tx(ctx.c):
        body()


def copy(ctx):
    """COPY FROM STDIN (zone-less timestamps, read in the session's TimeZone) into a staging
    table, moved into the tenant table; every third transaction rolled back; then COPY TO
    STDOUT prints every committed row in the session's own zone."""
    from matrix_common import render
    ctx.set_session()
    zone = ctx.settings["TimeZone"]
    rounds = max(1, TXNS // 3)
    for r in range(rounds):
        def body(r=r):
            ctx.probe(r)
            ctx.drv.copy_in(ctx.c, "matrix_copy_in", ["run", "conn", "txn", "local_ts"],
                            [(ctx.run, ctx.i, r * 10 + k, "2024-01-15 12:00:00") for k in range(3)])
            ctx.execute("INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, note) "
                        "SELECT %s, run, 'copy', conn, txn, local_ts, %s FROM matrix_copy_in "
                        "WHERE run = %s AND conn = %s", (ctx.practice, zone, ctx.run, ctx.i))
            ctx.execute("DELETE FROM matrix_copy_in WHERE run = %s AND conn = %s", (ctx.run, ctx.i))
        rollback = r % 3 == 2

        def work(body=body, rollback=rollback):
            with ctx.drv.tx(ctx.c):
                body()
                if rollback:
                    raise Rollback()
        if ctx.attempt(r, work) and not rollback:
            ctx.committed += 3
    lines = []

    def copy_out():
        with ctx.drv.tx(ctx.c):
            lines.extend(ctx.drv.copy_out(ctx.c, "SELECT local_ts FROM matrix_rows WHERE run = "
                                          f"'{ctx.run}' AND conn = {ctx.i} AND scenario = 'copy'"))
    ctx.attempt("copy out", copy_out)
    want = "2024-01-15 12:00:00" + render(zone)[len("2024-01-15 12:00:00"):]  # its own offset
    FAILURES.check(len(lines) == ctx.committed, "copy: COPY TO row count",
                   f"conn {ctx.i}: {len(lines)} lines, expected {ctx.committed}")
    bad = [line for line in lines if line != want]
    FAILURES.check(not bad, "copy: COPY TO printed a timestamptz in a wrong zone",
                   f"conn {ctx.i}: {bad[:1]}, expected {want!r}")


_ddl_lock = threading.Lock()
_ddl_barrier = None


def ddl(ctx, mode):
    """A statement over a helper table, run in transactions; midway (all connections paused) a
    superuser adds a column. What the application sees after it is the driver's own behaviour
    against PostgreSQL, `mode`:
      "transparent"  the driver re-prepares by itself: every transaction sees the new shape
      "retry"        a transaction may fail once with 0A000 (cached plan must not change result
                     type); the application's retry sees the new shape
      "never"        the driver keeps its statement: every execution after it fails with 0A000"""
    global _ddl_barrier
    from matrix_common import CONNECTIONS
    table = env("PGTENANT_DDL_TABLE")
    drv = ctx.drv

    def alter():
        su = drv.connect_superuser()
        try:
            drv.session_sql(su, [f"ALTER TABLE {table} ADD COLUMN b int DEFAULT 2"])
        finally:
            drv.close(su)
    with _ddl_lock:
        if _ddl_barrier is None:
            _ddl_barrier = threading.Barrier(CONNECTIONS, action=alter, timeout=30)
    ctx.set_session()
    half = max(1, TXNS // 2)
    for t in range(2 * half):
        if t == half:
            _ddl_barrier.wait()
        want = 1 if t < half else 2
        for attempt in range(2):
            got = []

            def body(t=t):
                ctx.probe(t)
                got.append(ctx.drv.execute(ctx.c, f"SELECT * FROM {table}"))
                ctx.insert(t)
            try:
                with drv.tx(ctx.c):
                    body()
                ctx.committed += 1
                FAILURES.check(t < half or mode != "never", "ddl: new shape where PostgreSQL gives 0A000",
                               ctx.where(t))
                FAILURES.check(len(got[0][0]) == want, "ddl: result shape",
                               ctx.where(t, f": {len(got[0][0])} columns, expected {want}"))
                break
            except Exception as e:
                drv.recover(ctx.c)
                if t < half or drv.sqlstate(e) != "0A000" or mode == "transparent":
                    FAILURES.add(f"ddl: unexpected {drv.describe(e)}", ctx.where(t))
                    break
                if mode == "never":
                    break
                FAILURES.check(attempt == 0, f"ddl: still {drv.describe(e)} after a retry", ctx.where(t))
