// Cross-tenant isolation through pgtenant with pgJDBC (run by drivers_test).
//
// Usage: java -cp /usr/share/java/postgresql.jar JdbcIsolation.java <mode>
//   mode "prepared": prepareThreshold=1 (server-side named statements from the first
//                    execution); alice and bob interleaved on two connections each, then a
//                    batch insert of own-practice rows inside a transaction, rolled back.
//   mode "ddl":      a named statement over a helper table, ALTER TABLE by a superuser over a
//                    direct connection, re-execution: new shape or a clear SQLSTATE, never a hang.
// Environment: PGTENANT_HOST, PGTENANT_PORT, PGTENANT_ALICE_PASSWORD, PGTENANT_BOB_PASSWORD;
// for "ddl" also PGTENANT_DDL_URL, PGTENANT_DDL_USER, PGTENANT_DDL_PASSWORD, PGTENANT_DDL_TABLE.
// Exits 0 when every check holds; prints each failed check and exits 1 otherwise.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

public class JdbcIsolation {
    static final Map<String, String> PRACTICE = Map.of(
            "alice", "11111111-1111-1111-1111-111111111111",
            "bob", "22222222-2222-2222-2222-222222222222");
    static final Map<String, Integer> PATIENTS = Map.of("alice", 3, "bob", 2);
    static final Map<String, Integer> MEAL_LOGS = Map.of("alice", 5, "bob", 3);
    static final int ROUNDS = 20;
    static final List<String> failures = new ArrayList<>();

    static void check(boolean ok, String what) {
        if (!ok) {
            failures.add(what);
            System.out.println("FAIL: " + what);
            System.out.flush();
        }
    }

    // PGTENANT_DIRECT=1 (the "ddl" control run): the same clients straight to PostgreSQL as
    // the DDL superuser, to compare pgJDBC's behaviour without pgtenant in between.
    static final boolean DIRECT = "1".equals(System.getenv("PGTENANT_DIRECT"));

    static Connection connect(String login) throws SQLException {
        if (DIRECT) {
            Properties p = new Properties();
            p.setProperty("user", System.getenv("PGTENANT_DDL_USER"));
            p.setProperty("password", System.getenv("PGTENANT_DDL_PASSWORD"));
            p.setProperty("sslmode", "disable");
            p.setProperty("prepareThreshold", "1");
            p.setProperty("socketTimeout", "20");
            return DriverManager.getConnection(System.getenv("PGTENANT_DDL_URL"), p);
        }
        String url = "jdbc:postgresql://" + System.getenv("PGTENANT_HOST") + ":"
                + System.getenv("PGTENANT_PORT") + "/postgres";
        Properties p = new Properties();
        p.setProperty("user", login);
        p.setProperty("password", System.getenv("PGTENANT_" + login.toUpperCase() + "_PASSWORD"));
        p.setProperty("sslmode", "disable");
        p.setProperty("prepareThreshold", "1");
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "20");  // a hang becomes an error, not a stuck test
        p.setProperty("ApplicationName", "jdbc-" + login);
        return DriverManager.getConnection(url, p);
    }

    static String describe(SQLException e) {
        StringBuilder sb = new StringBuilder();
        for (SQLException x = e; x != null; x = x.getNextException()) {
            sb.append('[').append(x.getSQLState()).append("] ").append(x.getMessage()).append("; ");
        }
        return sb.toString();
    }

    // Every row of the result has the login's practice in column 1; returns the row count.
    static int ownRows(ResultSet rs, String login, String what) throws SQLException {
        int n = 0;
        while (rs.next()) {
            ++n;
            String practice = rs.getString(1);
            check(PRACTICE.get(login).equals(practice), what + ": row of practice " + practice);
        }
        return n;
    }

    static void prepared() throws SQLException {
        String[] logins = {"alice", "bob", "alice", "bob"};
        Connection[] conns = new Connection[logins.length];
        PreparedStatement[] patients = new PreparedStatement[logins.length];
        PreparedStatement[] meals = new PreparedStatement[logins.length];
        try {
            for (int c = 0; c < logins.length; ++c) {
                conns[c] = connect(logins[c]);
                conns[c].setAutoCommit(true);
                patients[c] = conns[c].prepareStatement(
                        "SELECT practice_id::text, name FROM patients WHERE name <> ? ORDER BY name");
                meals[c] = conns[c].prepareStatement(
                        "SELECT practice_id::text, meal_data FROM meal_logs WHERE length(meal_data::text) > ?");
            }
            for (int i = 0; i < ROUNDS; ++i) {
                for (int c = 0; c < logins.length; ++c) {
                    String login = logins[c];
                    patients[c].setString(1, "round " + i);
                    try (ResultSet rs = patients[c].executeQuery()) {
                        int n = ownRows(rs, login, login + "#" + c + " patients round " + i);
                        check(n == PATIENTS.get(login), login + "#" + c + " patients round " + i + ": " + n + " rows");
                    }
                    meals[c].setInt(1, i % 3);
                    try (ResultSet rs = meals[c].executeQuery()) {
                        int n = ownRows(rs, login, login + "#" + c + " meal_logs round " + i);
                        check(n == MEAL_LOGS.get(login), login + "#" + c + " meal_logs round " + i + ": " + n + " rows");
                    }
                }
            }
            // The driver really used server-side statements (pgJDBC names them S_1, S_2, ...).
            check(patients[0].unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(),
                  "prepareThreshold=1 did not switch to server-side prepare");

            // Batch insert of own-practice rows in a transaction, seen inside, rolled back.
            for (int c = 0; c < 2; ++c) {
                String login = logins[c];
                Connection conn = conns[c];
                conn.setAutoCommit(false);
                try (PreparedStatement ins = conn.prepareStatement(
                        "INSERT INTO patients (practice_id, name) VALUES (?::uuid, ?)")) {
                    for (int k = 0; k < 10; ++k) {
                        ins.setString(1, PRACTICE.get(login));
                        ins.setString(2, "JDBC batch " + k);
                        ins.addBatch();
                    }
                    int[] counts = ins.executeBatch();
                    check(counts.length == 10, login + ": batch returned " + counts.length + " counts");
                }
                patients[c].setString(1, "-");
                try (ResultSet rs = patients[c].executeQuery()) {
                    int n = ownRows(rs, login, login + " in batch transaction");
                    check(n == PATIENTS.get(login) + 10, login + " in batch transaction: " + n + " rows");
                }
                conn.rollback();
                conn.setAutoCommit(true);
                patients[c].setString(1, "-");
                try (ResultSet rs = patients[c].executeQuery()) {
                    int n = ownRows(rs, login, login + " after rollback");
                    check(n == PATIENTS.get(login), login + " after rollback: " + n + " rows");
                }
            }
            // A foreign-practice row in a batch is refused by RLS (42501), the batch as a whole.
            Connection conn = conns[0];
            conn.setAutoCommit(false);
            try (PreparedStatement ins = conn.prepareStatement(
                    "INSERT INTO patients (practice_id, name) VALUES (?::uuid, ?)")) {
                ins.setString(1, PRACTICE.get("alice"));
                ins.setString(2, "JDBC own");
                ins.addBatch();
                ins.setString(1, PRACTICE.get("bob"));
                ins.setString(2, "JDBC intruder");
                ins.addBatch();
                ins.executeBatch();
                check(false, "alice: foreign-practice batch row accepted");
            } catch (BatchUpdateException e) {
                SQLException cause = e.getNextException() != null ? e.getNextException() : e;
                check("42501".equals(cause.getSQLState()), "alice: foreign batch row: " + describe(e));
            }
            conn.rollback();
            conn.setAutoCommit(true);
            // And the connection is fine afterwards.
            patients[0].setString(1, "-");
            try (ResultSet rs = patients[0].executeQuery()) {
                check(ownRows(rs, "alice", "alice after refused batch") == PATIENTS.get("alice"),
                      "alice after refused batch: row count");
            }
        } finally {
            for (Connection c : conns) {
                if (c != null) c.close();
            }
        }
    }

    static void ddl() throws SQLException {
        String table = System.getenv("PGTENANT_DDL_TABLE");
        Properties su = new Properties();
        su.setProperty("user", System.getenv("PGTENANT_DDL_USER"));
        su.setProperty("password", System.getenv("PGTENANT_DDL_PASSWORD"));
        su.setProperty("sslmode", "disable");
        su.setProperty("socketTimeout", "20");
        try (Connection admin = DriverManager.getConnection(System.getenv("PGTENANT_DDL_URL"), su);
             Connection alice = connect("alice");
             Connection bob = connect("bob")) {
            Connection[] conns = {alice, bob};
            PreparedStatement[] ps = new PreparedStatement[2];
            for (int c = 0; c < 2; ++c) {
                ps[c] = conns[c].prepareStatement("SELECT * FROM " + table + " WHERE a > ?");
                for (int i = 0; i < 5; ++i) {
                    ps[c].setInt(1, 0);
                    try (ResultSet rs = ps[c].executeQuery()) {
                        check(rs.getMetaData().getColumnCount() == 1, "ddl: before, column count");
                        int n = 0;
                        while (rs.next()) ++n;
                        check(n == 1, "ddl: before, " + n + " rows");
                    }
                }
            }
            try (Statement st = admin.createStatement()) {
                st.execute("ALTER TABLE " + table + " ADD COLUMN b text NOT NULL DEFAULT 'new'");
            }
            for (int c = 0; c < 2; ++c) {
                for (int i = 0; i < 3; ++i) {
                    ps[c].setInt(1, 0);
                    try (ResultSet rs = ps[c].executeQuery()) {
                        ResultSetMetaData md = rs.getMetaData();
                        check(md.getColumnCount() == 2, "ddl: after, " + md.getColumnCount() + " columns");
                        check(rs.next() && "new".equals(rs.getString(2)), "ddl: after, new column value");
                        System.out.println("ddl: conn " + c + " execution " + i + " after ALTER: new shape");
                    } catch (SQLException e) {
                        // Acceptable only as PostgreSQL's own clear error: 0A000 "cached plan
                        // must not change result type"; then the connection must still work.
                        System.out.println("ddl: conn " + c + " execution " + i + " after ALTER: " + describe(e));
                        check("0A000".equals(e.getSQLState()), "ddl: unexpected error " + describe(e));
                    }
                }
                try (Statement st = conns[c].createStatement();
                     ResultSet rs = st.executeQuery("SELECT count(*) FROM patients")) {
                    rs.next();
                    int expected = DIRECT ? PATIENTS.get("alice") + PATIENTS.get("bob") : PATIENTS.get(c == 0 ? "alice" : "bob");
                    check(rs.getInt(1) == expected, "ddl: connection usable afterwards");
                }
            }
        }
    }

    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "prepared";
        try {
            if (mode.equals("ddl")) ddl();
            else prepared();
        } catch (SQLException e) {
            check(false, "exception: " + describe(e));
            e.printStackTrace(System.out);
        } catch (RuntimeException e) {
            check(false, "exception: " + e);
            e.printStackTrace(System.out);
        }
        System.out.println(failures.isEmpty() ? "OK" : failures.size() + " failed checks");
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
