#!/usr/bin/python3
"""psycopg 3 in the driver matrix (see matrix_common.py), with its defaults: prepare_threshold
5 (a statement run 5 times becomes a named prepared statement), autocommit connections with
`conn.transaction()` blocks, DEALLOCATE ALL (extended protocol) after any rollback once a
statement is prepared.

Usage: psycopg3_matrix.py <scenario>
  settings, set_rollback, errors, copy, ddl   the shared scenarios (matrix_scenarios.py)
  prepared         prepared statements from the default threshold, reused across transactions
  nested_rollback  a nested conn.transaction() that rolls back inside an outer one that
                   commits, after statements are prepared: the outer block's rows must be there
"""
import contextlib
import sys

import psycopg
from psycopg import pq

import matrix_common as mc
import matrix_scenarios as ms


class Psycopg3:
    name = "psycopg3"

    def connect(self, login, i):
        return psycopg.connect(host=mc.env("PGTENANT_HOST"), port=mc.env("PGTENANT_PORT"), dbname="postgres",
                               user=mc.login_user(login), password=mc.login_password(login),
                               autocommit=True, sslmode="disable", gssencmode="disable", connect_timeout=10)

    def connect_superuser(self):
        return psycopg.connect(host=mc.env("PGTENANT_DDL_HOST"), port=mc.env("PGTENANT_DDL_PORT"),
                               dbname="postgres", user=mc.env("PGTENANT_DDL_USER"),
                               password=mc.env("PGTENANT_DDL_PASSWORD"), autocommit=True,
                               sslmode="disable", gssencmode="disable", connect_timeout=10)

    def execute(self, c, sql, params=()):
        cur = c.execute(sql, params or None)
        return cur.fetchall() if cur.description else []

    def session_sql(self, c, statements):
        for s in statements:
            c.execute(s)

    @contextlib.contextmanager
    def tx(self, c):
        try:
            with c.transaction():
                yield
        except mc.Rollback:
            pass

    def savepoint(self, c):
        return c.transaction()

    def copy_in(self, c, table, columns, rows):
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with c.cursor() as cur, cur.copy(sql) as cp:
            for row in rows:
                cp.write_row(row)

    def copy_out(self, c, query):
        sql = f"COPY ({query}) TO STDOUT"
        data = bytearray()
        with c.cursor() as cur, cur.copy(sql) as cp:
            for chunk in cp:
                data += chunk
        return data.decode().splitlines()

    def result_offset(self, c, zone):
        return mc.OFFSET[zone]  # timestamptz values come in the session's TimeZone

    def sqlstate(self, e):
        return getattr(e, "sqlstate", None)

    def describe(self, e):
        return f"{type(e).__name__} [{self.sqlstate(e)}] {str(e).splitlines()[0] if str(e) else ''}"

    def recover(self, c):
        if c.closed:
            raise RuntimeError("connection closed")
        if c.info.transaction_status != pq.TransactionStatus.IDLE:
            try:
                c.rollback()
            except Exception as e:
                mc.FAILURES.add(f"conn.rollback() raised {self.describe(e)}", "recover")

    def close(self, c):
        c.close()


def prepared(ctx):
    mc.FAILURES.check(ctx.c.prepare_threshold == 5, "prepared: prepare_threshold is not psycopg's default 5")
    ctx.set_session()
    for t in range(mc.TXNS):
        def body(t=t):
            ctx.probe(t)
            ctx.insert(t)
            ctx.readback(t)
        ms.run_tx(ctx, t, body)
    if mc.SEES_OWN_STATEMENTS:
        names = ctx.execute("SELECT count(*) FROM pg_prepared_statements")[0][0]
        mc.FAILURES.check(names >= 2, "prepared: psycopg prepared no statement", f"conn {ctx.i}: {names}")


def nested_rollback(ctx):
    ctx.set_session()
    for t in range(mc.TXNS):
        def work(t=t):
            with ctx.c.transaction():
                ctx.probe(t)
                ctx.insert(t)
                if t >= 6 and t % 2 == 0:
                    try:
                        with ctx.c.transaction():  # a savepoint, rolled back
                            ctx.insert(t + 1000)
                            raise mc.Rollback()
                    except mc.Rollback:
                        pass
                ctx.readback(t)
        if ctx.attempt(t, work):
            ctx.committed += 1
        mc.FAILURES.check(ctx.c.info.transaction_status == pq.TransactionStatus.IDLE,
                          "nested_rollback: connection left inside a transaction", ctx.where(t))


SCENARIOS = {"settings": ms.settings, "set_rollback": ms.set_rollback, "errors": ms.errors,
             "copy": ms.copy, "ddl": lambda ctx: ms.ddl(ctx, "retry"), "prepared": prepared,
             "nested_rollback": nested_rollback}

if __name__ == "__main__":
    mc.run_scenario(Psycopg3(), SCENARIOS[sys.argv[1]], sys.argv[1])
