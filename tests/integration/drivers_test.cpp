// Real drivers through pgtenant: each driver runs a small isolation program of its own
// (tests/integration/psycopg_isolation.py, tests/drivers/...), given the proxy's address and
// the logins' passwords in the environment; it exits 0 only when every row it saw belonged to
// its own practice and nothing failed or hung.
//
// The pool is smaller than the number of client connections (issue #4), so named prepared
// statements really move between server connections.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kPoolSize = 2;  // the JDBC and node programs open 4 client connections

PgtenantOptions drivers_options() {
    PgtenantOptions o;
    o.pool_size = kPoolSize;
    return o;
}

const auto* const kEnv = register_integration_env(drivers_options());

const std::string kSource = PGTENANT_SOURCE_DIR;
const std::string kJdbcJar = "/usr/share/java/postgresql.jar";
// A superuser reachable over TCP (the harness's own superuser is unix-socket only, which
// neither JDBC nor postgres.js reach without extras): runs the DDL between executions.
const std::string kDdlUser = "drivers_ddl";
const std::string kDdlPassword = "drivers-ddl-secret";

class DriversTest : public ProxyTest {
  protected:
    static void SetUpTestSuite() {
        auto su = integration_env().superuser();
        query(su.get(), "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" +
                            kDdlUser + "') THEN CREATE ROLE " + kDdlUser +
                            " LOGIN SUPERUSER PASSWORD '" + kDdlPassword + "'; END IF; END$$");
    }

    // A fresh helper table (no tenant data) with one column and one row, for DDL between
    // executions of a named statement.
    std::string ddl_table(const std::string& name) {
        auto su = env().superuser();
        query(su.get(), "DROP TABLE IF EXISTS " + name);
        query(su.get(), "CREATE TABLE " + name + " (a int)");
        query(su.get(), "INSERT INTO " + name + " VALUES (1)");
        query(su.get(), "GRANT SELECT ON " + name + " TO PUBLIC");
        return name;
    }

    CommandOptions driver_options(const std::string& ddl_table = "") {
        CommandOptions opts;
        opts.env["PGTENANT_HOST"] = "127.0.0.1";
        opts.env["PGTENANT_PORT"] = std::to_string(env().proxy().port());
        opts.env["PGTENANT_ALICE_PASSWORD"] = env().proxy().login("alice").password;
        opts.env["PGTENANT_BOB_PASSWORD"] = env().proxy().login("bob").password;
        if (!ddl_table.empty()) {
            opts.env["PGTENANT_DDL_HOST"] = "127.0.0.1";
            opts.env["PGTENANT_DDL_PORT"] = std::to_string(env().cluster().port());
            opts.env["PGTENANT_DDL_URL"] =
                "jdbc:postgresql://127.0.0.1:" + std::to_string(env().cluster().port()) + "/postgres";
            opts.env["PGTENANT_DDL_USER"] = kDdlUser;
            opts.env["PGTENANT_DDL_PASSWORD"] = kDdlPassword;
            opts.env["PGTENANT_DDL_TABLE"] = ddl_table;
        }
        opts.timeout = 60s;
        return opts;
    }

    CommandResult run_psycopg(const std::string& mode) {
        CommandOptions opts = driver_options();
        // Debian's interpreter: python3-psycopg is installed for it, not for a pyenv in PATH.
        return run_command({"/usr/bin/python3", kSource + "/tests/integration/psycopg_isolation.py",
                            std::to_string(env().proxy().port()), mode},
                           opts);
    }

    CommandResult run_jdbc(const std::string& mode, const std::string& table = "",
                           bool direct = false) {
        CommandOptions opts = driver_options(table);
        if (direct) {
            opts.env["PGTENANT_DIRECT"] = "1";
        }
        opts.env["JAVA_TOOL_OPTIONS"] = "-Xss1m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC";
        return run_command({"java", "-cp", kJdbcJar, kSource + "/tests/drivers/jdbc/JdbcIsolation.java", mode},
                           opts);
    }

    CommandResult run_node(const std::string& script, const std::string& mode,
                           const std::string& table = "") {
        CommandOptions opts = driver_options(table);
        opts.cwd = kSource + "/tests/drivers/node";
        return run_command({"node", kSource + "/tests/drivers/node/" + script, mode}, opts);
    }

    static bool have_node_modules() {
        return std::filesystem::exists(kSource + "/tests/drivers/node/node_modules/pg") &&
               std::filesystem::exists(kSource + "/tests/drivers/node/node_modules/postgres");
    }
};

// How many times `what` occurs in a driver program's output.
std::size_t occurrences(const std::string& out, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = out.find(what); pos != std::string::npos; pos = out.find(what, pos + what.size())) ++n;
    return n;
}

// The DDL programs run 3 executions after ALTER TABLE on each of 2 connections.
constexpr std::size_t kExecutionsAfterDdl = 6;

#define REQUIRE_JDBC()                                                                      \
    if (!std::filesystem::exists(kJdbcJar))                                                 \
    GTEST_FAIL() << kJdbcJar << " missing: apt-get install libpostgresql-jdbc-java (./run.sh deps)"
#define REQUIRE_NODE_MODULES()                                                              \
    if (!have_node_modules())                                                               \
    GTEST_FAIL() << "tests/drivers/node/node_modules missing: run ./run.sh deps "           \
                    "(npm ci --prefix tests/drivers/node)"

TEST_F(DriversTest, PsycopgSeesOnlyOwnRows) {
    auto r = run_psycopg("basic");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

// Named prepared statements that follow a client across server connections: issue #4.
TEST_F(DriversTest, PsycopgPreparedStatements) {
    auto r = run_psycopg("prepared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

// pgJDBC with prepareThreshold=1: 4 connections (alice, bob, alice, bob) interleaved over a
// pool of 2, 20 rounds of two server-side prepared statements each, then batch inserts in a
// rolled-back transaction and a batch with a foreign-practice row (refused).
TEST_F(DriversTest, JdbcPreparedStatements) {
    REQUIRE_JDBC();
    auto r = run_jdbc("prepared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
}

// ALTER TABLE between executions of a pgJDBC server-side statement, straight to PostgreSQL:
// pgJDBC Binds S_n without Describe, gets 0A000 "cached plan must not change result type"
// (routine RevalidateCachedQuery), re-prepares and retries by itself: the application sees
// the new shape every time.
TEST_F(DriversTest, JdbcDdlBetweenExecutionsDirectControl) {
    REQUIRE_JDBC();
    auto r = run_jdbc("ddl", ddl_table("drivers_ddl_jdbc"), /*direct=*/true);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
    EXPECT_EQ(occurrences(r.out, "after ALTER: new shape"), kExecutionsAfterDdl) << r.describe();
}

// The same through pgtenant, where S_n is re-prepared on whichever server connection the next
// transaction lands on (issue #4): pgtenant compares the re-prepared statement's result shape
// with the one pgJDBC prepared and fails the Bind with PostgreSQL's own error, so pgJDBC heals
// exactly as it does directly (it used to read new-shape rows with its cached 1-column
// description: 22023 on every execution).
TEST_F(DriversTest, JdbcDdlBetweenExecutions) {
    REQUIRE_JDBC();
    auto r = run_jdbc("ddl", ddl_table("drivers_ddl_jdbc"));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
    EXPECT_EQ(occurrences(r.out, "after ALTER: new shape"), kExecutionsAfterDdl) << r.describe();
}

// node-postgres named queries ({name, text, values}) from 4 clients, concurrently, over a
// pool of 2.
TEST_F(DriversTest, NodePostgresNamedQueries) {
    REQUIRE_NODE_MODULES();
    auto r = run_node("pg_isolation.js", "prepared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
}

// node-postgres keeps Binding its named query after the DDL and never re-prepares it: straight
// to PostgreSQL every execution fails with 0A000, and so it does through pgtenant.
TEST_F(DriversTest, NodePostgresDdlBetweenExecutions) {
    REQUIRE_NODE_MODULES();
    auto r = run_node("pg_isolation.js", "ddl", ddl_table("drivers_ddl_pg"));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
    EXPECT_EQ(occurrences(r.out, "after ALTER: [0A000] cached plan must not change result type"),
              kExecutionsAfterDdl)
        << r.describe();
}

// postgres.js in its default prepared mode (prepare: true): tagged-template queries become
// named statements.
TEST_F(DriversTest, PostgresJsPreparedQueries) {
    REQUIRE_NODE_MODULES();
    auto r = run_node("postgresjs_isolation.mjs", "prepared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
}

// postgres.js re-prepares and retries on 0A000 from RevalidateCachedQuery, as pgJDBC does:
// straight to PostgreSQL it sees the new shape every time, and so it does through pgtenant.
TEST_F(DriversTest, PostgresJsDdlBetweenExecutions) {
    REQUIRE_NODE_MODULES();
    auto r = run_node("postgresjs_isolation.mjs", "ddl", ddl_table("drivers_ddl_postgresjs"));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("OK"), std::string::npos) << r.describe();
    EXPECT_EQ(occurrences(r.out, "after ALTER: new shape"), kExecutionsAfterDdl) << r.describe();
}

}  // namespace
}  // namespace pgtenant::testing
