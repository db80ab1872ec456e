// pgJDBC in the driver matrix (run by tests/integration/driver_matrix_jdbc_test.cpp; the same
// scenarios and checks as tests/drivers/python/matrix_common.py, which documents them), with
// pgJDBC's defaults: prepareThreshold 5 (a PreparedStatement run 5 times becomes a named
// server-side statement), setAutoCommit(false) + commit()/rollback(), Savepoint objects,
// CopyManager for COPY. 8 client connections (alice, bob, ...) in 8 threads.
//
// Usage: java -cp /usr/share/java/postgresql.jar JdbcMatrix.java <scenario>
//   settings, set_rollback, errors, copy, ddl, prepared
// Environment: as matrix_common.py (PGTENANT_HOST, PGTENANT_PORT, PGTENANT_{ALICE,BOB}_{USER,
// PASSWORD}, PGTENANT_DDL_{HOST,PORT,USER,PASSWORD,TABLE}).
// Exit status: 0 when every check held, 1 otherwise (failures printed by kind with examples).
import java.io.StringReader;
import java.io.StringWriter;
import java.sql.*;
import java.time.*;
import java.util.*;
import java.util.concurrent.*;
import org.postgresql.PGConnection;

public class JdbcMatrix {
    static final int CONNECTIONS = 8;
    static final int TXNS = Integer.parseInt(env("PGTENANT_MATRIX_TXNS", "40"));
    static final String[] PRACTICE = {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"};
    static final String[][] ZONES = {{"America/New_York", "-18000"}, {"Australia/Adelaide", "37800"},
        {"Asia/Kolkata", "19800"}, {"Europe/Berlin", "3600"}, {"America/Los_Angeles", "-28800"},
        {"Asia/Tokyo", "32400"}, {"Pacific/Auckland", "46800"}, {"America/Sao_Paulo", "-10800"}};
    static final String[][] ALT_ZONES = {{"Asia/Kathmandu", "20700"}, {"America/St_Johns", "-12600"},
        {"Pacific/Chatham", "49500"}, {"Asia/Tehran", "12600"}, {"Australia/Eucla", "31500"},
        {"Pacific/Marquesas", "-34200"}, {"Asia/Yangon", "23400"}, {"Atlantic/Cape_Verde", "-3600"}};
    static final Map<String, Integer> OFFSET = new HashMap<>();
    static {
        for (String[] z : ZONES) OFFSET.put(z[0], Integer.parseInt(z[1]));
        for (String[] z : ALT_ZONES) OFFSET.put(z[0], Integer.parseInt(z[1]));
    }
    static final OffsetDateTime T0 = OffsetDateTime.of(2024, 1, 15, 12, 0, 0, 0, ZoneOffset.UTC);
    static final String PROBE_SQL = "SELECT current_setting('TimeZone'), current_setting('statement_timeout'), "
            + "current_setting('search_path'), current_setting('DateStyle'), "
            + "(timestamptz '2024-01-15 12:00:00+00')::text, ('03/04/' || '2024')::date::text, "
            + "(SELECT v FROM marker)::text";
    static final String[] FIELDS = {"TimeZone", "statement_timeout", "search_path", "DateStyle",
        "timestamptz text", "DMY/MDY date", "search_path marker"};
    static final String INSERT_SQL = "INSERT INTO matrix_rows (practice_id, run, scenario, conn, txn, local_ts, "
            + "aware_ts, note) VALUES (?::uuid, ?, ?, ?, ?, ('2024-01-15 ' || '12:00:00')::timestamptz, ?, ?)";
    static final String RUN = UUID.randomUUID().toString().replace("-", "");
    static String scenario;

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v != null ? v : dflt;
    }

    // Failed checks by kind: count and the first three examples.
    static final Map<String, List<String>> FAILURES = new LinkedHashMap<>();
    static final Map<String, Integer> COUNTS = new HashMap<>();

    static synchronized void fail(String kind, String detail) {
        COUNTS.merge(kind, 1, Integer::sum);
        List<String> ex = FAILURES.computeIfAbsent(kind, k -> new ArrayList<>());
        if (ex.size() < 3) ex.add(detail);
    }

    static void check(boolean ok, String kind, String detail) {
        if (!ok) fail(kind, detail);
    }

    static String describe(SQLException e) {
        String m = e.getMessage() == null ? "" : e.getMessage().split("\n")[0];
        return e.getClass().getSimpleName() + " [" + e.getSQLState() + "] " + m;
    }

    static Map<String, String> baseSettings(int i) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("TimeZone", ZONES[i][0]);
        s.put("statement_timeout", (11 + i) + "s");
        s.put("search_path", "matrix_sp" + i + ", public");
        s.put("DateStyle", i % 2 == 0 ? "ISO, DMY" : "ISO, MDY");
        return s;
    }

    static String render(String zone) {
        int off = OFFSET.get(zone);
        LocalDateTime local = T0.toLocalDateTime().plusSeconds(off);
        int minutes = Math.abs(off) / 60;
        String text = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").format(local)
                + (off >= 0 ? "+" : "-") + String.format("%02d", minutes / 60);
        return minutes % 60 != 0 ? text + String.format(":%02d", minutes % 60) : text;
    }

    static List<String> expectedProbe(Map<String, String> s) {
        String sp = s.get("search_path");
        return List.of(s.get("TimeZone"), s.get("statement_timeout"), sp, s.get("DateStyle"),
                render(s.get("TimeZone")), s.get("DateStyle").endsWith("DMY") ? "2024-04-03" : "2024-03-04",
                sp.substring("matrix_sp".length(), sp.indexOf(',')));
    }

    static String whose(int field, String value) {
        for (int j = 0; j < CONNECTIONS; j++) {
            if (expectedProbe(baseSettings(j)).get(field).equals(value)) return " (connection " + j + "'s)";
        }
        return "";
    }

    static Connection connect(String host, String port, String user, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "disable");
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "30");  // a hang becomes an error, not a stuck test
        return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/postgres", p);
    }

    static Connection connectLogin(String login) throws SQLException {
        String up = login.toUpperCase();
        return connect(env("PGTENANT_HOST", "127.0.0.1"), env("PGTENANT_PORT", ""),
                env("PGTENANT_" + up + "_USER", login), env("PGTENANT_" + up + "_PASSWORD", ""));
    }

    static Connection connectSuperuser() throws SQLException {
        return connect(env("PGTENANT_DDL_HOST", "127.0.0.1"), env("PGTENANT_DDL_PORT", ""),
                env("PGTENANT_DDL_USER", ""), env("PGTENANT_DDL_PASSWORD", ""));
    }

    static class Ctx {
        final int i;
        final String login, practice;
        Map<String, String> settings;
        int committed = 0;
        Connection c;

        Ctx(int i) {
            this.i = i;
            this.login = i % 2 == 0 ? "alice" : "bob";
            this.practice = PRACTICE[i % 2];
            this.settings = baseSettings(i);
        }

        String where(Object t, String what) {
            return "jdbc conn " + i + " (" + login + ") " + scenario + " txn " + t + what;
        }

        void exec(String sql) throws SQLException {
            try (Statement st = c.createStatement()) {
                st.execute(sql);
            }
        }

        void setSession() throws SQLException {
            exec("SET TimeZone = '" + settings.get("TimeZone") + "'");
            exec("SET statement_timeout = '" + settings.get("statement_timeout") + "'");
            exec("SET search_path = " + settings.get("search_path"));
            exec("SET DateStyle = '" + settings.get("DateStyle") + "'");
        }

        void probe(Object t, Map<String, String> s, String what) throws SQLException {
            List<String> want = expectedProbe(s == null ? settings : s);
            try (PreparedStatement ps = c.prepareStatement(PROBE_SQL); ResultSet rs = ps.executeQuery()) {
                rs.next();
                for (int f = 0; f < FIELDS.length; f++) {
                    String got = rs.getString(f + 1);
                    check(want.get(f).equals(got), scenario + ": wrong " + FIELDS[f], where(t, what) + ": got '"
                            + got + "'" + whose(f, got) + ", expected '" + want.get(f) + "'");
                }
            }
        }

        void insert(int t, String zone, String practiceId) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(INSERT_SQL)) {
                ps.setString(1, practiceId == null ? practice : practiceId);
                ps.setString(2, RUN);
                ps.setString(3, scenario);
                ps.setInt(4, i);
                ps.setInt(5, t);
                ps.setObject(6, T0);
                ps.setString(7, zone == null ? settings.get("TimeZone") : zone);
                ps.executeUpdate();
            }
        }

        void readback(int t, String zone) throws SQLException {
            zone = zone == null ? settings.get("TimeZone") : zone;
            try (PreparedStatement ps = c.prepareStatement("SELECT local_ts, aware_ts FROM matrix_rows "
                    + "WHERE run = ? AND scenario = ? AND conn = ? AND txn = ?")) {
                ps.setString(1, RUN);
                ps.setString(2, scenario);
                ps.setInt(3, i);
                ps.setInt(4, t);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        fail(scenario + ": readback row count", where(t, ""));
                        return;
                    }
                    Instant local = rs.getObject(1, OffsetDateTime.class).toInstant();
                    Instant aware = rs.getObject(2, OffsetDateTime.class).toInstant();
                    Instant wantLocal = T0.toInstant().minusSeconds(OFFSET.get(zone));
                    check(local.equals(wantLocal), scenario + ": zone-less literal read in a wrong TimeZone",
                            where(t, ": got " + local + ", expected " + wantLocal + " (" + zone + ")"));
                    check(aware.equals(T0.toInstant()), scenario + ": typed timestamptz changed",
                            where(t, ": got " + aware));
                }
            }
        }
    }

    interface Body {
        void run() throws Exception;
    }

    // One transaction: setAutoCommit(false), body, commit (or rollback when `rollback` or on
    // an error, which is a failed check). Returns true when it committed.
    static boolean tx(Ctx ctx, Object t, boolean rollback, Body body) {
        try {
            ctx.c.setAutoCommit(false);
            body.run();
            if (rollback) ctx.c.rollback(); else ctx.c.commit();
            ctx.c.setAutoCommit(true);
            return !rollback;
        } catch (Exception e) {
            String d = e instanceof SQLException ? describe((SQLException) e) : e.toString();
            fail(scenario + ": unexpected " + d, ctx.where(t, ""));
            recover(ctx);
            return false;
        }
    }

    static void recover(Ctx ctx) {
        try {
            if (!ctx.c.getAutoCommit()) ctx.c.rollback();
            ctx.c.setAutoCommit(true);
        } catch (SQLException e) {
            fail("rollback raised " + describe(e), ctx.where("-", ""));
        }
    }

    public static void main(String[] args) throws Exception {
        scenario = args[0];
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(50_000);
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL: timed out after 50 s");
            report();
            System.out.flush();
            Runtime.getRuntime().halt(2);
        });
        watchdog.setDaemon(true);
        watchdog.start();
        long started = System.nanoTime();
        Ctx[] ctxs = new Ctx[CONNECTIONS];
        Thread[] threads = new Thread[CONNECTIONS];
        CyclicBarrier barrier = new CyclicBarrier(CONNECTIONS, () -> {
            try (Connection su = connectSuperuser(); Statement st = su.createStatement()) {
                st.execute("ALTER TABLE " + env("PGTENANT_DDL_TABLE", "") + " ADD COLUMN b int DEFAULT 2");
            } catch (SQLException e) {
                fail("ddl: ALTER TABLE failed: " + describe(e), "");
            }
        });
        for (int i = 0; i < CONNECTIONS; i++) {
            Ctx ctx = ctxs[i] = new Ctx(i);
            threads[i] = new Thread(() -> {
                try {
                    ctx.c = connectLogin(ctx.login);
                    Scenarios.run(ctx, scenario, barrier);
                } catch (Exception e) {
                    fail(scenario + ": connection aborted: " + e, ctx.where("-", ""));
                } finally {
                    try {
                        if (ctx.c != null) ctx.c.close();
                    } catch (SQLException e) {
                        // closing is best effort
                    }
                }
            });
            threads[i].start();
        }
        for (Thread th : threads) th.join();
        verify(ctxs);
        int total = 0;
        for (Ctx c : ctxs) total += c.committed;
        System.out.printf("jdbc %s: %d committed rows expected, %.1f s%n", scenario, total,
                (System.nanoTime() - started) / 1e9);
        boolean failed = report();
        System.out.println(failed ? "FAILED" : "OK");
        System.out.flush();
        Runtime.getRuntime().halt(failed ? 1 : 0);
    }

    static synchronized boolean report() {
        for (Map.Entry<String, List<String>> e : FAILURES.entrySet()) {
            System.out.println("FAIL x" + COUNTS.get(e.getKey()) + ": " + e.getKey());
            for (String ex : e.getValue()) System.out.println("    e.g. " + ex);
        }
        return !FAILURES.isEmpty();
    }

    static void verify(Ctx[] ctxs) throws SQLException {
        try (Connection su = connectSuperuser(); PreparedStatement ps = su.prepareStatement(
                "SELECT conn, count(*), count(*) FILTER (WHERE local_ts = ('2024-01-15 12:00:00'::timestamp "
                + "AT TIME ZONE note)), count(*) FILTER (WHERE practice_id <> CASE WHEN mod(conn, 2) = 0 THEN "
                + "'" + PRACTICE[0] + "'::uuid ELSE '" + PRACTICE[1] + "'::uuid END) "
                + "FROM matrix_rows WHERE run = ? AND scenario = ? GROUP BY conn")) {
            ps.setString(1, RUN);
            ps.setString(2, scenario);
            Map<Integer, int[]> found = new HashMap<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) found.put(rs.getInt(1), new int[] {rs.getInt(2), rs.getInt(3), rs.getInt(4)});
            }
            for (Ctx ctx : ctxs) {
                int[] f = found.getOrDefault(ctx.i, new int[3]);
                check(f[0] == ctx.committed, scenario + ": committed rows by count",
                        "conn " + ctx.i + " (" + ctx.login + "): " + f[0] + " rows, expected " + ctx.committed);
                check(f[1] == f[0], scenario + ": rows whose zone-less literal was read in a wrong TimeZone",
                        "conn " + ctx.i + ": " + (f[0] - f[1]) + " of " + f[0]);
                check(f[2] == 0, scenario + ": rows of another practice", "conn " + ctx.i + ": " + f[2]);
            }
        }
        for (int p = 0; p < 2; p++) {
            String login = p == 0 ? "alice" : "bob";
            int own = 0;
            for (Ctx ctx : ctxs) if (ctx.i % 2 == p) own += ctx.committed;
            try (Connection c = connectLogin(login); PreparedStatement ps = c.prepareStatement(
                    "SELECT count(*), count(*) FILTER (WHERE practice_id <> ?::uuid) FROM matrix_rows "
                    + "WHERE run = ? AND scenario = ?")) {
                ps.setString(1, PRACTICE[p]);
                ps.setString(2, RUN);
                ps.setString(3, scenario);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    check(rs.getInt(1) == own && rs.getInt(2) == 0, scenario + ": rows visible to a practice",
                            login + " sees " + rs.getInt(1) + " rows (" + rs.getInt(2) + " of the other), expected " + own);
                }
            }
        }
    }
}

// The scenarios (as tests/drivers/python/matrix_scenarios.py), in this file for the source launcher.
class Scenarios {
    static void run(JdbcMatrix.Ctx ctx, String scenario, CyclicBarrier barrier) throws Exception {
        switch (scenario) {
            case "settings", "prepared" -> settings(ctx, scenario.equals("prepared"));
            case "set_rollback" -> setRollback(ctx);
            case "errors" -> errors(ctx);
            case "copy" -> copy(ctx);
            case "ddl" -> ddl(ctx, barrier);
            default -> throw new IllegalArgumentException("no scenario " + scenario);
        }
    }

    // Session SETs, then transactions (every 4th rolled back) that each see their own settings.
    // "prepared": the same, and the statements must have become server-side prepared
    // statements at pgJDBC's default prepareThreshold (5).
    static void settings(JdbcMatrix.Ctx ctx, boolean prepared) throws Exception {
        ctx.setSession();
        for (int t = 0; t < JdbcMatrix.TXNS; t++) {
            final int tt = t;
            if (JdbcMatrix.tx(ctx, t, t % 4 == 3, () -> {
                ctx.probe(tt, null, "");
                ctx.insert(tt, null, null);
                ctx.readback(tt, null);
            })) ctx.committed++;
        }
        // Through pgtenant the pool role may not read pg_prepared_statements (hardening.sql).
        if (prepared && JdbcMatrix.env("PGTENANT_TARGET", "postgres").equals("postgres")) {
            try (Statement st = ctx.c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_prepared_statements")) {
                rs.next();
                JdbcMatrix.check(rs.getInt(1) >= 3, "prepared: pgJDBC prepared too few statements",
                        "conn " + ctx.i + ": " + rs.getInt(1));
            }
        }
    }

    static void setRollback(JdbcMatrix.Ctx ctx) throws Exception {
        ctx.setSession();
        Map<String, String> base = new LinkedHashMap<>(ctx.settings);
        String altZone = JdbcMatrix.ALT_ZONES[ctx.i][0];
        Map<String, String> alt = new LinkedHashMap<>(base);
        alt.put("TimeZone", altZone);
        alt.put("statement_timeout", "99s");
        for (int r = 0; r < Math.max(1, JdbcMatrix.TXNS / 5); r++) {
            final int t = r * 10;
            JdbcMatrix.tx(ctx, t, true, () -> {
                ctx.exec("SET TimeZone = '" + altZone + "'");
                ctx.exec("SET statement_timeout = '99s'");
                ctx.probe(t, alt, " (SET inside the transaction)");
                ctx.insert(t, altZone, null);
            });
            if (JdbcMatrix.tx(ctx, t + 1, false, () -> {
                ctx.probe(t + 1, base, " (after a rolled-back SET)");
                ctx.insert(t + 1, null, null);
                ctx.readback(t + 1, null);
            })) ctx.committed++;
            if (JdbcMatrix.tx(ctx, t + 2, false, () -> {
                ctx.exec("SET LOCAL TimeZone = '" + altZone + "'");
                ctx.exec("SET LOCAL statement_timeout = '99s'");
                ctx.probe(t + 2, alt, " (SET LOCAL)");
                ctx.insert(t + 2, altZone, null);
                ctx.readback(t + 2, altZone);
            })) ctx.committed++;
            if (JdbcMatrix.tx(ctx, t + 3, false, () -> {
                ctx.probe(t + 3, base, " (after SET LOCAL)");
                Savepoint sp = ctx.c.setSavepoint();
                ctx.exec("SET TimeZone = '" + altZone + "'");
                ctx.exec("SET statement_timeout = '99s'");
                ctx.probe(t + 3, alt, " (SET inside a savepoint)");
                ctx.c.rollback(sp);
                ctx.probe(t + 3, base, " (after ROLLBACK TO SAVEPOINT)");
                ctx.insert(t + 3, null, null);
            })) ctx.committed++;
            if (JdbcMatrix.tx(ctx, t + 4, false, () -> {
                ctx.probe(t + 4, base, " (after a rolled-back savepoint)");
                ctx.exec("SET TimeZone = '" + altZone + "'");
                ctx.exec("SET statement_timeout = '99s'");
                ctx.insert(t + 4, altZone, null);
            })) ctx.committed++;
            if (JdbcMatrix.tx(ctx, t + 5, false, () -> {
                ctx.probe(t + 5, alt, " (after a committed SET)");
                ctx.insert(t + 5, altZone, null);
                try (PreparedStatement ps = ctx.c.prepareStatement(
                        "SELECT set_config('TimeZone', ?, false), set_config('statement_timeout', ?, false)")) {
                    ps.setString(1, base.get("TimeZone"));
                    ps.setString(2, base.get("statement_timeout"));
                    ps.executeQuery().close();
                }
                ctx.probe(t + 5, base, " (after set_config(..., false))");
            })) ctx.committed++;
            JdbcMatrix.tx(ctx, t + 6, true, () -> ctx.probe(t + 6, base, " (after a committed set_config)"));
        }
    }

    static String divideByZero(JdbcMatrix.Ctx ctx) {
        try (PreparedStatement ps = ctx.c.prepareStatement("SELECT 1 / (?::int - ?::int)")) {
            ps.setInt(1, 7);
            ps.setInt(2, 7);
            ps.executeQuery().close();
            return "no error";
        } catch (SQLException e) {
            return e.getSQLState();
        }
    }

    static void errors(JdbcMatrix.Ctx ctx) throws Exception {
        ctx.setSession();
        String other = JdbcMatrix.PRACTICE[1 - ctx.i % 2];
        for (int r = 0; r < Math.max(1, JdbcMatrix.TXNS / 4); r++) {
            final int t = r * 10;
            JdbcMatrix.tx(ctx, t, true, () -> {
                ctx.insert(t, null, null);
                String state = divideByZero(ctx);
                JdbcMatrix.check("22012".equals(state), "errors: division by zero: " + state, ctx.where(t, ""));
            });
            if (JdbcMatrix.tx(ctx, t + 1, false, () -> {
                ctx.insert(t + 1, null, null);
                Savepoint sp = ctx.c.setSavepoint();
                ctx.insert(t + 101, null, null);
                String state = divideByZero(ctx);
                JdbcMatrix.check("22012".equals(state), "errors: division by zero: " + state, ctx.where(t + 1, ""));
                ctx.c.rollback(sp);
                ctx.insert(t + 201, null, null);
                ctx.probe(t + 1, null, " (after ROLLBACK TO SAVEPOINT)");
            })) ctx.committed += 2;
            if (JdbcMatrix.tx(ctx, t + 2, false, () -> {
                Savepoint sp = ctx.c.setSavepoint();
                try {
                    ctx.insert(t + 102, null, other);
                    JdbcMatrix.fail("errors: another practice's row accepted", ctx.where(t + 2, ""));
                } catch (SQLException e) {
                    JdbcMatrix.check("42501".equals(e.getSQLState()), "errors: foreign row: " + JdbcMatrix.describe(e),
                            ctx.where(t + 2, ""));
                }
                ctx.c.rollback(sp);
                ctx.insert(t + 2, null, null);
            })) ctx.committed++;
            String state = divideByZero(ctx);  // autocommit
            JdbcMatrix.check("22012".equals(state), "errors: division by zero outside a transaction: " + state,
                    ctx.where(t + 3, ""));
            JdbcMatrix.tx(ctx, t + 4, true, () -> ctx.probe(t + 4, null, " (after an error outside a transaction)"));
        }
    }

    static void copy(JdbcMatrix.Ctx ctx) throws Exception {
        ctx.setSession();
        String zone = ctx.settings.get("TimeZone");
        var api = ctx.c.unwrap(org.postgresql.PGConnection.class).getCopyAPI();
        for (int r = 0; r < Math.max(1, JdbcMatrix.TXNS / 3); r++) {
            final int rr = r;
            boolean rollback = r % 3 == 2;
            if (JdbcMatrix.tx(ctx, r, rollback, () -> {
                ctx.probe(rr, null, "");
                StringBuilder in = new StringBuilder();
                for (int k = 0; k < 3; k++) {
                    in.append(JdbcMatrix.RUN).append('\t').append(ctx.i).append('\t').append(rr * 10 + k)
                            .append("\t2024-01-15 12:00:00\n");
                }
                api.copyIn("COPY matrix_copy_in (run, conn, txn, local_ts) FROM STDIN", new StringReader(in.toString()));
                try (PreparedStatement ps = ctx.c.prepareStatement("INSERT INTO matrix_rows (practice_id, run, "
                        + "scenario, conn, txn, local_ts, note) SELECT ?::uuid, run, 'copy', conn, txn, local_ts, ? "
                        + "FROM matrix_copy_in WHERE run = ? AND conn = ?")) {
                    ps.setString(1, ctx.practice);
                    ps.setString(2, zone);
                    ps.setString(3, JdbcMatrix.RUN);
                    ps.setInt(4, ctx.i);
                    ps.executeUpdate();
                }
                ctx.exec("DELETE FROM matrix_copy_in WHERE run = '" + JdbcMatrix.RUN + "' AND conn = " + ctx.i);
            })) ctx.committed += 3;
        }
        StringWriter out = new StringWriter();
        JdbcMatrix.tx(ctx, "copy out", true, () -> api.copyOut("COPY (SELECT local_ts FROM matrix_rows WHERE run = '"
                + JdbcMatrix.RUN + "' AND conn = " + ctx.i + " AND scenario = 'copy') TO STDOUT", out));
        String want = "2024-01-15 12:00:00" + JdbcMatrix.render(zone).substring(19);
        String[] lines = out.toString().isEmpty() ? new String[0] : out.toString().split("\n");
        JdbcMatrix.check(lines.length == ctx.committed, "copy: COPY TO row count",
                "conn " + ctx.i + ": " + lines.length + " lines, expected " + ctx.committed);
        for (String line : lines) {
            JdbcMatrix.check(line.equals(want), "copy: COPY TO printed a timestamptz in a wrong zone",
                    "conn " + ctx.i + ": '" + line + "', expected '" + want + "'");
        }
    }

    // A SELECT * over the helper table in each transaction; midway a superuser adds a column.
    // Against PostgreSQL pgJDBC's prepared statement fails once per connection with 0A000
    // inside a transaction (it re-prepares afterwards): the application retries once.
    static void ddl(JdbcMatrix.Ctx ctx, CyclicBarrier barrier) throws Exception {
        ctx.setSession();
        String table = JdbcMatrix.env("PGTENANT_DDL_TABLE", "");
        int half = Math.max(1, JdbcMatrix.TXNS / 2);
        for (int t = 0; t < 2 * half; t++) {
            if (t == half) barrier.await(30, TimeUnit.SECONDS);
            final int tt = t;
            int want = t < half ? 1 : 2;
            for (int attempt = 0; attempt < 2; attempt++) {
                int[] columns = {0};
                try {
                    ctx.c.setAutoCommit(false);
                    ctx.probe(tt, null, "");
                    try (PreparedStatement ps = ctx.c.prepareStatement("SELECT * FROM " + table);
                         ResultSet rs = ps.executeQuery()) {
                        columns[0] = rs.getMetaData().getColumnCount();
                    }
                    ctx.insert(tt, null, null);
                    ctx.c.commit();
                    ctx.c.setAutoCommit(true);
                    ctx.committed++;
                    JdbcMatrix.check(columns[0] == want, "ddl: result shape",
                            ctx.where(tt, ": " + columns[0] + " columns, expected " + want));
                    break;
                } catch (SQLException e) {
                    JdbcMatrix.recover(ctx);
                    if (t < half || !"0A000".equals(e.getSQLState())) {
                        JdbcMatrix.fail("ddl: unexpected " + JdbcMatrix.describe(e), ctx.where(tt, ""));
                        break;
                    }
                    JdbcMatrix.check(attempt == 0, "ddl: still " + JdbcMatrix.describe(e) + " after a retry",
                            ctx.where(tt, ""));
                }
            }
        }
    }
}
