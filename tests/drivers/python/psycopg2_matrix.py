#!/usr/bin/python3
"""psycopg2 in the driver matrix (see matrix_common.py), used as its applications do: the
default non-autocommit mode (an implicit BEGIN before the first statement, conn.commit() /
conn.rollback()), client-side parameter interpolation, COPY through copy_expert.

Usage: psycopg2_matrix.py <scenario>
  settings, set_rollback, errors, copy, ddl   the shared scenarios (matrix_scenarios.py)
  sql_prepare   SQL-level PREPARE / EXECUTE / DEALLOCATE, as psycopg2 applications prepare
                statements: prepared once per session, executed in every transaction,
                deallocated and prepared again midway, DEALLOCATE ALL at the end
"""
import contextlib
import io
import sys

import psycopg2
import psycopg2.extensions

import matrix_common as mc
import matrix_scenarios as ms


class Psycopg2:
    name = "psycopg2"

    def _connect(self, host, port, user, password, autocommit=False):
        c = psycopg2.connect(host=host, port=port, dbname="postgres", user=user, password=password,
                             sslmode="disable", gssencmode="disable", connect_timeout=10)
        c.autocommit = autocommit
        return c

    def connect(self, login, i):
        return self._connect(mc.env("PGTENANT_HOST"), mc.env("PGTENANT_PORT"), mc.login_user(login),
                             mc.login_password(login))

    def connect_superuser(self):
        return self._connect(mc.env("PGTENANT_DDL_HOST"), mc.env("PGTENANT_DDL_PORT"),
                             mc.env("PGTENANT_DDL_USER"), mc.env("PGTENANT_DDL_PASSWORD"), autocommit=True)

    def execute(self, c, sql, params=()):
        with c.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall() if cur.description else []

    def session_sql(self, c, statements):
        with c.cursor() as cur:
            for s in statements:
                cur.execute(s)
        if not c.autocommit:
            c.commit()

    @contextlib.contextmanager
    def tx(self, c):
        try:
            yield
        except mc.Rollback:
            c.rollback()
            return
        except BaseException:
            c.rollback()
            raise
        c.commit()

    @contextlib.contextmanager
    def savepoint(self, c):
        self.execute(c, "SAVEPOINT matrix_sp")
        try:
            yield
        except BaseException:
            self.execute(c, "ROLLBACK TO SAVEPOINT matrix_sp")
            raise
        self.execute(c, "RELEASE SAVEPOINT matrix_sp")

    def copy_in(self, c, table, columns, rows):
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        text = "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
        with c.cursor() as cur:
            cur.copy_expert(sql, io.StringIO(text))

    def copy_out(self, c, query):
        sql = f"COPY ({query}) TO STDOUT"
        buf = io.StringIO()
        with c.cursor() as cur:
            cur.copy_expert(sql, buf)
        return buf.getvalue().splitlines()

    def result_offset(self, c, zone):
        return mc.OFFSET[zone]  # parsed from the text, printed in the session's TimeZone

    def sqlstate(self, e):
        return getattr(e, "pgcode", None)

    def describe(self, e):
        return f"{type(e).__name__} [{self.sqlstate(e)}] {str(e).splitlines()[0] if str(e) else ''}"

    def recover(self, c):
        if c.closed:
            raise RuntimeError("connection closed")
        try:
            c.rollback()
        except Exception as e:
            mc.FAILURES.add(f"conn.rollback() raised {self.describe(e)}", "recover")

    def close(self, c):
        c.close()


PREPARE_PROBE = "PREPARE matrix_probe AS " + mc.PROBE_SQL
PREPARE_INSERT = ("PREPARE matrix_insert (uuid, text, text, int, int, timestamptz, text) AS "
                  "INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, aware_ts, note) "
                  "VALUES ($1, $2, $3, $4, $5, ('2024-01-15 ' || '12:00:00')::timestamptz, $6, $7)")


SEES_OWN_STATEMENTS = mc.SEES_OWN_STATEMENTS


def prepared_names(ctx):
    return [r[0] for r in ctx.execute("SELECT name FROM pg_prepared_statements ORDER BY name")]


def sql_prepare(ctx):
    drv = ctx.drv
    ctx.set_session()
    drv.session_sql(ctx.c, [PREPARE_PROBE, PREPARE_INSERT])
    for t in range(mc.TXNS):
        def body(t=t):
            if t == mc.TXNS // 2:  # prepared again midway, inside a transaction
                ctx.execute("DEALLOCATE matrix_probe")
                ctx.execute(PREPARE_PROBE)
            ctx.probe(t, sql="EXECUTE matrix_probe")
            ctx.execute("EXECUTE matrix_insert (%s, %s, %s, %s, %s, %s, %s)",
                        (ctx.practice, ctx.run, ctx.scenario, ctx.i, t, mc.T0, ctx.settings["TimeZone"]))
            ctx.readback(t)
            if SEES_OWN_STATEMENTS:
                names = prepared_names(ctx)
                mc.FAILURES.check(names == ["matrix_insert", "matrix_probe"],
                                  "sql_prepare: pg_prepared_statements", ctx.where(t, f": {names}"))
        ms.run_tx(ctx, t, body, rollback=t % 4 == 3)

    def deallocate_all():
        drv.session_sql(ctx.c, ["DEALLOCATE ALL"])
        if SEES_OWN_STATEMENTS:
            names = prepared_names(ctx)
            mc.FAILURES.check(names == [], "sql_prepare: statements left after DEALLOCATE ALL", f"{names}")
        ctx.c.rollback()
    ctx.attempt("DEALLOCATE ALL", deallocate_all)
    try:
        ctx.execute("EXECUTE matrix_probe")
        mc.FAILURES.add("sql_prepare: EXECUTE after DEALLOCATE ALL succeeded", ctx.where("end"))
    except psycopg2.Error as e:
        mc.FAILURES.check(e.pgcode == "26000", f"sql_prepare: EXECUTE after DEALLOCATE ALL: {drv.describe(e)}",
                          ctx.where("end"))
        ctx.c.rollback()


SCENARIOS = {"settings": ms.settings, "set_rollback": ms.set_rollback, "errors": ms.errors,
             "copy": ms.copy, "ddl": lambda ctx: ms.ddl(ctx, "transparent"), "sql_prepare": sql_prepare}

if __name__ == "__main__":
    mc.run_scenario(Psycopg2(), SCENARIOS[sys.argv[1]], sys.argv[1])
