"""Shared by the Python driver-matrix programs (psycopg3_matrix.py, psycopg2_matrix.py,
asyncpg_matrix.py), run by tests/integration/driver_matrix_*_test.cpp.

Each program opens CONNECTIONS client connections (alice, bob, alice, ...: two practices) at
once, each in its own thread, and runs one scenario on all of them: the statements and checks
live here, the driver's own way of connecting, running statements, transactions, savepoints and
COPY lives in a small adapter class in each program. Every check compares with what PostgreSQL
itself does, so a program must pass when pointed straight at PostgreSQL (the control runs).

Environment (set by the harness):
  PGTENANT_HOST, PGTENANT_PORT           where the clients connect (pgtenant, or PostgreSQL)
  PGTENANT_ALICE_USER, PGTENANT_BOB_USER logins (default alice, bob)
  PGTENANT_ALICE_PASSWORD, PGTENANT_BOB_PASSWORD
  PGTENANT_DDL_HOST, PGTENANT_DDL_PORT, PGTENANT_DDL_USER, PGTENANT_DDL_PASSWORD
                                         a superuser straight to PostgreSQL (DDL, final counts)
  PGTENANT_DDL_TABLE                     helper table for the "ddl" scenario
  PGTENANT_MATRIX_TXNS                   transactions per connection (default 40)
Exit status: 0 when every check held, 1 when one failed (each kind of failure is printed with
its count and first examples), 2 on the watchdog's timeout.
"""
import collections
import datetime
import os
import sys
import threading
import time
import traceback
import uuid

CONNECTIONS = 8
LOGINS = ["alice", "bob"] * (CONNECTIONS // 2)
PRACTICE = {"alice": "11111111-1111-1111-1111-111111111111",
            "bob": "22222222-2222-2222-2222-222222222222"}
TXNS = int(os.environ.get("PGTENANT_MATRIX_TXNS", "40"))
TIMEOUT_S = 50

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)  # the instant every check renders
# Each connection's session TimeZone and its UTC offset on T0 (seconds); ALT_ZONES are the
# zones a connection switches to temporarily (no two connections share a zone).
ZONES = [("America/New_York", -18000), ("Australia/Adelaide", 37800), ("Asia/Kolkata", 19800),
         ("Europe/Berlin", 3600), ("America/Los_Angeles", -28800), ("Asia/Tokyo", 32400),
         ("Pacific/Auckland", 46800), ("America/Sao_Paulo", -10800)]
ALT_ZONES = [("Asia/Kathmandu", 20700), ("America/St_Johns", -12600), ("Pacific/Chatham", 49500),
             ("Asia/Tehran", 12600), ("Australia/Eucla", 31500), ("Pacific/Marquesas", -34200),
             ("Asia/Yangon", 23400), ("Atlantic/Cape_Verde", -3600)]
OFFSET = dict(ZONES + ALT_ZONES)

# What the session sees, read back in one statement (a text-to-date cast at run time shows
# DateStyle's field order; the marker table shows the search_path).
PROBE_SQL = ("SELECT current_setting('TimeZone'), current_setting('statement_timeout'), "
             "current_setting('search_path'), current_setting('DateStyle'), "
             "(timestamptz '2024-01-15 12:00:00+00')::text, ('03/04/' || '2024')::date::text, "
             "(SELECT v FROM marker)::text")
PROBE_FIELDS = ["TimeZone", "statement_timeout", "search_path", "DateStyle", "timestamptz text",
                "DMY/MDY date", "search_path marker"]
INSERT_SQL = ("INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, aware_ts, "
              "note) VALUES (%s, %s, %s, %s, %s, ('2024-01-15 ' || '12:00:00')::timestamptz, %s, %s)")
READBACK_SQL = ("SELECT local_ts, aware_ts FROM matrix_rows "
                "WHERE run = %s AND scenario = %s AND conn = %s AND txn = %s")


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"{name} is not set")
    return value


def login_user(login):
    return env(f"PGTENANT_{login.upper()}_USER", login)


def login_password(login):
    return env(f"PGTENANT_{login.upper()}_PASSWORD")


def base_settings(i):
    """The session settings connection i sets first: each value is its own."""
    return {"TimeZone": ZONES[i][0], "statement_timeout": f"{11 + i}s",
            "search_path": f"matrix_sp{i}, public",
            "DateStyle": "ISO, DMY" if i % 2 == 0 else "ISO, MDY"}


def set_statements(settings):
    return [f"SET TimeZone = '{settings['TimeZone']}'",
            f"SET statement_timeout = '{settings['statement_timeout']}'",
            f"SET search_path = {settings['search_path']}",
            f"SET DateStyle = '{settings['DateStyle']}'"]


def render(zone):
    """T0 as PostgreSQL prints a timestamptz in `zone` with DateStyle ISO."""
    off = OFFSET[zone]
    local = (T0 + datetime.timedelta(seconds=off)).strftime("%Y-%m-%d %H:%M:%S")
    sign, off = ("+", off) if off >= 0 else ("-", -off)
    hours, minutes = divmod(off // 60, 60)
    return f"{local}{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


def expected_probe(settings):
    dmy = settings["DateStyle"].endswith("DMY")
    marker = settings["search_path"].split(",")[0].replace("matrix_sp", "")
    return [settings["TimeZone"], settings["statement_timeout"], settings["search_path"],
            settings["DateStyle"], render(settings["TimeZone"]),
            "2024-04-03" if dmy else "2024-03-04", marker]


def whose(field, value):
    """Names the connection a wrong value belongs to, when it is another one's."""
    for j in range(CONNECTIONS):
        if expected_probe(base_settings(j))[field] == value:
            return f" (connection {j}'s)"
    for j, (zone, _) in enumerate(ALT_ZONES):
        if field in (0, 4) and expected_probe(dict(base_settings(j), TimeZone=zone))[field] == value:
            return f" (connection {j}'s temporary zone)"
    return ""


class Rollback(Exception):
    """Raised inside a transaction or savepoint block to roll it back on purpose."""


class Failures:
    """Thread-safe tally of failed checks, grouped by kind, printed with a few examples."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kinds = collections.OrderedDict()

    def add(self, kind, detail):
        with self.lock:
            entry = self.kinds.setdefault(kind, [0, []])
            entry[0] += 1
            if len(entry[1]) < 3:
                entry[1].append(detail)

    def check(self, ok, kind, detail=""):
        if not ok:
            self.add(kind, detail)
        return ok

    def report(self):
        for kind, (count, examples) in self.kinds.items():
            print(f"FAIL x{count}: {kind}", flush=True)
            for e in examples:
                print(f"    e.g. {e}", flush=True)
        return bool(self.kinds)


FAILURES = Failures()


# pg_prepared_statements shows the session's statements only where the client talks to
# PostgreSQL itself: through pgtenant the pool role may not read it (hardening.sql: it would show
# other clients' statement texts), and the server copies are under pgtenant's names anyway.
SEES_OWN_STATEMENTS = env("PGTENANT_TARGET", "postgres") == "postgres"


class Ctx:
    """One client connection's state in a scenario."""

    def __init__(self, drv, i, run, scenario):
        self.drv, self.i, self.run, self.scenario = drv, i, run, scenario
        self.login = LOGINS[i]
        self.practice = PRACTICE[self.login]
        self.settings = base_settings(i)
        self.committed = 0
        self.c = None

    def where(self, t, what=""):
        return f"{self.drv.name} conn {self.i} ({self.login}) {self.scenario} txn {t}{what}"

    def execute(self, sql, params=()):
        return self.drv.execute(self.c, sql, params)

    def set_session(self):
        self.drv.session_sql(self.c, set_statements(self.settings))

    def probe(self, t, settings=None, what="", sql=PROBE_SQL):
        row = [str(v) for v in self.execute(sql)[0]]
        for f, (got, exp) in enumerate(zip(row, expected_probe(settings or self.settings))):
            FAILURES.check(got == exp, f"{self.scenario}: wrong {PROBE_FIELDS[f]}",
                           f"{self.where(t, what)}: got {got!r}{whose(f, got)}, expected {exp!r}")

    def insert(self, t, zone=None, practice=None):
        """One tagged row; `zone` is the TimeZone its zone-less literal is read in."""
        self.execute(INSERT_SQL, (practice or self.practice, self.run, self.scenario, self.i, t,
                                  T0, zone or self.settings["TimeZone"]))

    def readback(self, t, zone=None):
        """The row just inserted, as the driver's typed values: the same instants."""
        zone = zone or self.settings["TimeZone"]
        rows = self.execute(READBACK_SQL, (self.run, self.scenario, self.i, t))
        if not FAILURES.check(len(rows) == 1, f"{self.scenario}: readback row count",
                              f"{self.where(t)}: {len(rows)} rows"):
            return
        local_ts, aware_ts = rows[0]
        want_local = T0 - datetime.timedelta(seconds=OFFSET[zone])
        FAILURES.check(local_ts == want_local, f"{self.scenario}: zone-less literal read in a wrong TimeZone",
                       f"{self.where(t)}: got {local_ts.isoformat()}, expected {want_local.isoformat()} ({zone})")
        FAILURES.check(aware_ts == T0, f"{self.scenario}: typed timestamptz changed",
                       f"{self.where(t)}: got {aware_ts.isoformat()}, expected {T0.isoformat()}")
        off = self.drv.result_offset(self.c, zone)
        if off is not None:
            got = aware_ts.utcoffset().total_seconds()
            FAILURES.check(got == off, f"{self.scenario}: driver's timestamptz offset",
                           f"{self.where(t)}: {aware_ts.isoformat()} has offset {got:.0f} s, expected {off} s ({zone})")

    def attempt(self, t, fn):
        """Runs one transaction's worth of work; an unexpected error is a failed check (the
        driver's error text is the detail) and the loop goes on."""
        try:
            fn()
            return True
        except Exception as e:  # report, never hide
            FAILURES.add(f"{self.scenario}: unexpected {self.drv.describe(e)}", self.where(t))
            self.drv.recover(self.c)
            return False


def run_scenario(drv, scenario_fn, scenario):
    """Runs scenario_fn(ctx) on CONNECTIONS connections at once, then checks the committed
    rows by count; exits with the verdict."""
    watchdog = threading.Timer(TIMEOUT_S, lambda: (print(f"FAIL: timed out after {TIMEOUT_S} s", flush=True),
                                                    FAILURES.report(), os._exit(2)))
    watchdog.daemon = True
    watchdog.start()
    run = uuid.uuid4().hex
    ctxs = [Ctx(drv, i, run, scenario) for i in range(CONNECTIONS)]
    started = time.monotonic()

    def body(ctx):
        try:
            ctx.c = drv.connect(ctx.login, ctx.i)
            scenario_fn(ctx)
        except Exception as e:
            FAILURES.add(f"{scenario}: connection aborted: {drv.describe(e)}", ctx.where("-"))
            traceback.print_exc()
        finally:
            if ctx.c is not None:
                try:
                    drv.close(ctx.c)
                except Exception:
                    pass

    threads = [threading.Thread(target=body, args=(ctx,)) for ctx in ctxs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    verify(drv, ctxs, run, scenario)
    elapsed = time.monotonic() - started
    print(f"{drv.name} {scenario}: {sum(c.committed for c in ctxs)} committed rows "
          f"expected, {elapsed:.1f} s", flush=True)
    failed = FAILURES.report()
    print("FAILED" if failed else "OK", flush=True)
    sys.stdout.flush()
    os._exit(1 if failed else 0)


def verify(drv, ctxs, run, scenario):
    """Committed rows by count (as the superuser, straight to PostgreSQL), every row read in its
    own connection's zone, and each practice sees its own rows only."""
    expected = {ctx.i: ctx.committed for ctx in ctxs}
    su = drv.connect_superuser()
    try:
        rows = drv.execute(su, "SELECT conn, count(*), count(*) FILTER (WHERE local_ts = "
                           "('2024-01-15 12:00:00'::timestamp AT TIME ZONE note)), "
                           "count(*) FILTER (WHERE practice_id <> CASE WHEN mod(conn, 2) = 0 THEN "
                           "'11111111-1111-1111-1111-111111111111'::uuid ELSE "
                           "'22222222-2222-2222-2222-222222222222'::uuid END) "
                           "FROM matrix_rows WHERE run = %s AND scenario = %s GROUP BY conn", (run, scenario))
        found = {r[0]: r[1:] for r in rows}
        for i, n in expected.items():
            count, right_zone, foreign = found.get(i, (0, 0, 0))
            FAILURES.check(count == n, f"{scenario}: committed rows by count",
                           f"conn {i} ({LOGINS[i]}): {count} rows, expected {n}")
            FAILURES.check(right_zone == count, f"{scenario}: rows whose zone-less literal was read in a wrong TimeZone",
                           f"conn {i}: {count - right_zone} of {count}")
            FAILURES.check(foreign == 0, f"{scenario}: rows of another practice", f"conn {i}: {foreign}")
    finally:
        drv.close(su)
    for login in ("alice", "bob"):
        c = drv.connect(login, -1)
        try:
            own = sum(n for i, n in expected.items() if LOGINS[i] == login)
            (seen, foreign), = drv.execute(c, "SELECT count(*), count(*) FILTER (WHERE practice_id <> %s) "
                                           "FROM matrix_rows WHERE run = %s AND scenario = %s",
                                           (PRACTICE[login], run, scenario))
            FAILURES.check(seen == own and foreign == 0, f"{scenario}: rows visible to a practice",
                           f"{login} sees {seen} rows ({foreign} of the other practice), expected {own}")
        finally:
            drv.close(c)
