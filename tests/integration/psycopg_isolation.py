#!/usr/bin/python3
"""Cross-tenant isolation through pgtenant with psycopg 3 (run by drivers_test).

Usage: psycopg_isolation.py <port> <mode>
  mode "basic":    extended protocol, client-side binding, pipeline mode, nested transactions
  mode "prepared": psycopg's automatic server-side prepared statements (named statements)
Logins and passwords come from PGTENANT_ALICE_PASSWORD / PGTENANT_BOB_PASSWORD.
Exits 0 when every check holds; prints each failed check and exits 1 otherwise.
"""
import os
import sys

import psycopg
from psycopg import errors

PRACTICE = {"alice": "11111111-1111-1111-1111-111111111111",
            "bob": "22222222-2222-2222-2222-222222222222"}
PATIENTS = {"alice": 3, "bob": 2}
MEAL_LOGS = {"alice": 5, "bob": 3}
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def connect(port, login, **kwargs):
    password = os.environ["PGTENANT_%s_PASSWORD" % login.upper()]
    return psycopg.connect(host="127.0.0.1", port=port, dbname="postgres", user=login,
                           password=password, sslmode="disable", gssencmode="disable",
                           connect_timeout=10, **kwargs)


def own_rows(rows, login, column=1):
    return all(str(row[column]) == PRACTICE[login] for row in rows)


def basic(port, login):
    other = PRACTICE["bob" if login == "alice" else "alice"]
    # prepare_threshold=None: only unnamed statements, so this mode does not depend on
    # named prepared statements following the client across server connections.
    with connect(port, login, autocommit=True, prepare_threshold=None) as conn:
        rows = conn.execute("SELECT * FROM patients").fetchall()
        check(len(rows) == PATIENTS[login] and own_rows(rows, login), f"{login}: extended SELECT *")
        rows = conn.execute("SELECT * FROM patients WHERE practice_id = %s", [other]).fetchall()
        check(rows == [], f"{login}: other practice by parameter")
        with psycopg.ClientCursor(conn) as cur:
            rows = cur.execute("SELECT * FROM meal_logs").fetchall()
            check(len(rows) == MEAL_LOGS[login] and own_rows(rows, login), f"{login}: client-side binding")
        try:
            conn.execute("INSERT INTO patients (practice_id, name) VALUES (%s, 'Intruder')", [other])
            check(False, f"{login}: foreign insert accepted")
        except errors.InsufficientPrivilege:
            pass
        with conn.pipeline():
            curs = [conn.execute("SELECT * FROM patients") for _ in range(3)]
            curs.append(conn.execute("SELECT current_setting('app.current_practice_id')"))
        for cur in curs[:3]:
            rows = cur.fetchall()
            check(len(rows) == PATIENTS[login] and own_rows(rows, login), f"{login}: pipeline SELECT")
        check(curs[3].fetchone()[0] == PRACTICE[login], f"{login}: pipeline binding")

    with connect(port, login, prepare_threshold=None) as conn:
        with conn.transaction():
            conn.execute("INSERT INTO patients (practice_id, name) VALUES (%s, 'Psycopg Pat')", [PRACTICE[login]])
            try:
                with conn.transaction():  # a savepoint
                    conn.execute("INSERT INTO patients (practice_id, name) VALUES (%s, 'Intruder')", [other])
                check(False, f"{login}: foreign insert in savepoint accepted")
            except errors.InsufficientPrivilege:
                pass
            rows = conn.execute("SELECT * FROM patients").fetchall()
            check(len(rows) == PATIENTS[login] + 1 and own_rows(rows, login), f"{login}: after savepoint")
            conn.execute("DELETE FROM patients WHERE name = 'Psycopg Pat'")
        conn.commit()


def prepared(port, login):
    # prepare_threshold=0 prepares every statement by name on first use.
    with connect(port, login, autocommit=True, prepare_threshold=0) as conn:
        for i in range(20):
            rows = conn.execute("SELECT * FROM patients WHERE name <> %s", [str(i)]).fetchall()
            check(len(rows) == PATIENTS[login] and own_rows(rows, login), f"{login}: prepared round {i}")


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    for login in ("alice", "bob"):
        try:
            (basic if mode == "basic" else prepared)(port, login)
        except Exception as e:  # report, do not hide: any exception is a failed check
            check(False, f"{login}: {type(e).__name__}: {e}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
