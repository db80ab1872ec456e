#!/usr/bin/python3
"""asyncpg in the driver matrix (see matrix_common.py) with its defaults: the statement cache
(every fetch() with or without arguments runs a named prepared statement, reused across
transactions), binary results (timestamptz comes back in UTC), conn.transaction() blocks,
simple-protocol execute() for statements without arguments, COPY in text format.

Each client connection runs on its own event loop in its own thread (the shared scenarios are
synchronous); on the wire that is the same as tasks on one loop.

Usage: asyncpg_matrix.py <scenario>
  settings, set_rollback, errors, copy, ddl   the shared scenarios (matrix_scenarios.py)
  prepared   the statement cache and an explicit conn.prepare() statement, executed in every
             transaction (every 4th rolled back)
"""
import asyncio
import contextlib
import io
import re
import sys

import asyncpg

import matrix_common as mc
import matrix_scenarios as ms


class Conn:
    def __init__(self, host, port, user, password):
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(asyncpg.connect(host=host, port=int(port), user=user, password=password,
                                             database="postgres", ssl=False, timeout=10))

    def run(self, coro):
        return self.loop.run_until_complete(coro)


def dollar(sql):
    n = iter(range(1, 100))
    return re.sub(r"%s", lambda m: f"${next(n)}", sql)


class Asyncpg:
    name = "asyncpg"

    def connect(self, login, i):
        return Conn(mc.env("PGTENANT_HOST"), mc.env("PGTENANT_PORT"), mc.login_user(login), mc.login_password(login))

    def connect_superuser(self):
        return Conn(mc.env("PGTENANT_DDL_HOST"), mc.env("PGTENANT_DDL_PORT"), mc.env("PGTENANT_DDL_USER"),
                    mc.env("PGTENANT_DDL_PASSWORD"))

    def execute(self, c, sql, params=()):
        return [tuple(r) for r in c.run(c.conn.fetch(dollar(sql), *params))]

    def session_sql(self, c, statements):
        for s in statements:
            c.run(c.conn.execute(s))

    @contextlib.contextmanager
    def tx(self, c):
        tr = c.conn.transaction()
        c.run(tr.start())
        try:
            yield
        except mc.Rollback:
            c.run(tr.rollback())
            return
        except BaseException:
            if not c.conn.is_closed():
                c.run(tr.rollback())
            raise
        c.run(tr.commit())

    @contextlib.contextmanager
    def savepoint(self, c):
        tr = c.conn.transaction()
        c.run(tr.start())
        try:
            yield
        except BaseException:
            c.run(tr.rollback())
            raise
        c.run(tr.commit())

    def copy_in(self, c, table, columns, rows):
        text = "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
        c.run(c.conn.copy_to_table(table, source=io.BytesIO(text.encode()), columns=columns, format="text"))

    def copy_out(self, c, query):
        buf = io.BytesIO()
        c.run(c.conn.copy_from_query(query, output=buf, format="text"))
        return buf.getvalue().decode().splitlines()

    def result_offset(self, c, zone):
        return 0  # binary timestamptz: asyncpg returns UTC

    def sqlstate(self, e):
        return getattr(e, "sqlstate", None)

    def describe(self, e):
        return f"{type(e).__name__} [{self.sqlstate(e)}] {str(e).splitlines()[0] if str(e) else ''}"

    def recover(self, c):
        if c.conn.is_closed():
            raise RuntimeError("connection closed")
        if c.conn.is_in_transaction():
            try:
                c.run(c.conn.execute("ROLLBACK"))
            except Exception as e:
                mc.FAILURES.add(f"ROLLBACK raised {self.describe(e)}", "recover")

    def close(self, c):
        try:
            c.run(c.conn.close(timeout=5))
        finally:
            c.loop.close()


def prepared(ctx):
    c = ctx.c
    ctx.set_session()
    stmt = c.run(c.conn.prepare(mc.PROBE_SQL))
    for t in range(mc.TXNS):
        def body(t=t):
            row = [str(v) for v in c.run(stmt.fetchrow())]
            want = mc.expected_probe(ctx.settings)
            mc.FAILURES.check(row == want, "prepared: conn.prepare() statement saw wrong settings",
                              ctx.where(t, f": got {row}, expected {want}"))
            ctx.probe(t)
            ctx.insert(t)
            ctx.readback(t)
        ms.run_tx(ctx, t, body, rollback=t % 4 == 3)
    if mc.SEES_OWN_STATEMENTS:
        names = ctx.execute("SELECT count(*) FROM pg_prepared_statements")[0][0]
        mc.FAILURES.check(names >= 3, "prepared: asyncpg prepared too few statements", f"conn {ctx.i}: {names}")


SCENARIOS = {"settings": ms.settings, "set_rollback": ms.set_rollback, "errors": ms.errors,
             "copy": ms.copy, "ddl": lambda ctx: ms.ddl(ctx, "retry"), "prepared": prepared}

if __name__ == "__main__":
    mc.run_scenario(Asyncpg(), SCENARIOS[sys.argv[1]], sys.argv[1])
