// Transaction pooling over ONE server connection, so every client's transactions really share
// it: settings follow each client from lease to lease, pgtenant's refusals and emulations keep
// the connection usable, and pool exhaustion gives 53400 instead of a hang.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

PgtenantOptions one_connection() {
    PgtenantOptions o;
    o.pool_size = 1;
    o.wait_timeout_ms = 1500;
    o.extra_toml["server"].push_back("max_client_conn = 12");
    return o;
}

const auto* const kEnv = register_integration_env(one_connection());

class PoolingTest : public ProxyTest {
  protected:
    std::string show(PGconn* c, const std::string& name) {
        return query(c, "SHOW " + name).at(0).at(0);
    }
};

TEST_F(PoolingTest, StartupSettingsFollowEachClientAcrossTheSharedConnection) {
    auto alice =
        connect(env().proxy().conninfo(demo::kAlice, env().proxy().login(demo::kAlice).password,
                                       "application_name=alice-app options='-c TimeZone=Asia/Tokyo "
                                       "-c search_path=pg_catalog,public "
                                       "-c DateStyle=German'"));
    auto bob = env().connect_as(demo::kBob);
    auto direct = env().superuser();
    const std::string default_tz = show(direct.get(), "TimeZone");
    ASSERT_NE(default_tz, "Asia/Tokyo");

    for (int round = 0; round < 3; ++round) {
        EXPECT_EQ(show(alice.get(), "TimeZone"), "Asia/Tokyo");
        EXPECT_EQ(show(alice.get(), "search_path"), "pg_catalog,public");
        EXPECT_EQ(show(alice.get(), "application_name"), "alice-app");
        EXPECT_EQ(show(alice.get(), "DateStyle"), "German, DMY");
        // bob lands on the same server connection and must not inherit any of it.
        EXPECT_EQ(show(bob.get(), "TimeZone"), default_tz);
        EXPECT_EQ(show(bob.get(), "search_path"), show(direct.get(), "search_path"));
        EXPECT_NE(show(bob.get(), "application_name"), "alice-app");
        EXPECT_EQ(show(bob.get(), "DateStyle"), show(direct.get(), "DateStyle"));
    }
    // What libpq was told at login matches what the server does for alice.
    EXPECT_STREQ(PQparameterStatus(alice.get(), "TimeZone"), "Asia/Tokyo");
    EXPECT_STREQ(PQparameterStatus(alice.get(), "application_name"), "alice-app");
}

TEST_F(PoolingTest, SetOfAReportedSettingIsTrackedPerClient) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    ASSERT_EQ(sqlstate_of(alice.get(), "SET application_name = 'changed-by-alice'"), "");
    EXPECT_NE(show(bob.get(), "application_name"), "changed-by-alice");
    EXPECT_EQ(show(alice.get(), "application_name"), "changed-by-alice");
    EXPECT_STREQ(PQparameterStatus(alice.get(), "application_name"), "changed-by-alice");
    ASSERT_EQ(sqlstate_of(alice.get(), "RESET application_name"), "");
    EXPECT_NE(show(alice.get(), "application_name"), "changed-by-alice");
}

// A plain SET of a setting PostgreSQL does not report (search_path, statement_timeout) is the
// client's from then on, on whichever connection it lands, and never the next client's.
TEST_F(PoolingTest, SessionSetOfUnreportedSettingsFollowsTheClient) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    auto direct = env().superuser();
    const std::string default_timeout = show(direct.get(), "statement_timeout");
    const std::string default_path = show(direct.get(), "search_path");
    ASSERT_EQ(sqlstate_of(alice.get(), "SET search_path = pg_catalog, public"), "");
    ASSERT_EQ(sqlstate_of(alice.get(), "SET statement_timeout = '1234ms'"), "");
    ASSERT_EQ(run_params(alice.get(), "SET work_mem = '5MB'", {}).sqlstate, "");
    // A failing SET changes nothing, and does not poison the client's next transactions.
    EXPECT_EQ(sqlstate_of(alice.get(), "SET lock_timeout = 'not a duration'"), "22023");
    for (int round = 0; round < 2; ++round) {
        EXPECT_EQ(show(bob.get(), "statement_timeout"), default_timeout);
        EXPECT_EQ(show(bob.get(), "search_path"), default_path);
        EXPECT_EQ(show(alice.get(), "statement_timeout"), "1234ms");
        EXPECT_EQ(show(alice.get(), "search_path"), "pg_catalog, public");
        EXPECT_EQ(show(alice.get(), "work_mem"), "5MB");
        EXPECT_EQ(show(bob.get(), "work_mem"), show(direct.get(), "work_mem"));
    }
    ASSERT_EQ(sqlstate_of(alice.get(), "RESET statement_timeout"), "");
    EXPECT_EQ(show(bob.get(), "work_mem"), show(direct.get(), "work_mem"));
    EXPECT_EQ(show(alice.get(), "statement_timeout"), default_timeout);
    // SET LOCAL stays inside its transaction.
    ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN; SET LOCAL statement_timeout = '999ms'; COMMIT"), "");
    EXPECT_EQ(show(alice.get(), "statement_timeout"), default_timeout);
}

TEST_F(PoolingTest, MaintenanceCommandsAreRefusedAndTheConnectionStaysUsable) {
    auto alice = env().connect_as(demo::kAlice);
    PGconn* c = alice.get();
    EXPECT_EQ(sqlstate_of(c, "VACUUM patients"), "42501");
    EXPECT_EQ(run_params(c, "VACUUM patients", {}).sqlstate, "42501");
    EXPECT_EQ(sqlstate_of(c, "/* hidden */ create database sneaky"), "42501");
    EXPECT_EQ(sqlstate_of(c, "CREATE INDEX CONCURRENTLY ON patients (name)"), "42501");
    auto refused = run(c, "VACUUM");
    EXPECT_NE(refused.error.find("maintenance command"), std::string::npos) << refused.error;
    EXPECT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));

    // Inside a transaction the refusal aborts it, exactly as a server error would.
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    EXPECT_EQ(sqlstate_of(c, "VACUUM patients"), "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT 1"), "25P02");
    ASSERT_EQ(sqlstate_of(c, "ROLLBACK"), "");
    EXPECT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

TEST_F(PoolingTest, DiscardAllIsEmulatedAndKeepsTheBindingWorking) {
    auto alice = env().connect_as(demo::kAlice);
    PGconn* c = alice.get();
    ASSERT_EQ(sqlstate_of(c, "SET application_name = 'before-discard'"), "");
    auto r = run(c, "DISCARD ALL");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_NE(show(c, "application_name"), "before-discard");
    ASSERT_TRUE(run(c, "DEALLOCATE ALL").ok());
    // pgtenant's own statements survived: the next transactions are still bound.
    for (int i = 0; i < 3; ++i) {
        auto rows = query(c, "SELECT * FROM patients");
        EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
        EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    }
    // Where PostgreSQL refuses it, so does the server (pgtenant lets it run there).
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    EXPECT_EQ(sqlstate_of(c, "DISCARD ALL"), "25001");
    ASSERT_EQ(sqlstate_of(c, "ROLLBACK"), "");
    EXPECT_EQ(sqlstate_of(c, "SELECT 1; DISCARD ALL"), "25001");
    EXPECT_EQ(query(c, "SELECT current_setting('app.current_practice_id')").at(0).at(0),
              demo::kPracticeA);
}

TEST_F(PoolingTest, ExhaustedPoolGivesWaitTimeoutThenRecovers) {
    // carol is session-pooled: her first statement takes the only server connection until she
    // disconnects.
    auto carol = env().connect_as(demo::kCarol);
    ASSERT_EQ(sqlstate_of(carol.get(), "SELECT 1"), "");
    auto alice = env().connect_as(demo::kAlice);
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "53400");
    auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_GE(waited, std::chrono::milliseconds(1400));
    EXPECT_LT(waited, std::chrono::milliseconds(5000));
    carol.reset();
    EXPECT_EQ(query(alice.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

TEST_F(PoolingTest, ClientsBeyondMaxClientConnGet53300) {
    std::vector<PgConn> held;
    for (int i = 0; i < 12; ++i)
        held.push_back(env().connect_as(i % 2 ? demo::kAlice : demo::kBob));
    auto extra = try_connect(env().proxy().conninfo(demo::kAlice));
    EXPECT_FALSE(extra.ok());
    EXPECT_EQ(extra.sqlstate, "53300") << extra.message;
    held.pop_back();
    // A slot freed: a new client gets in once the proxy has seen the disconnect.
    bool admitted = false;
    for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
        admitted = try_connect(env().proxy().conninfo(demo::kAlice)).ok();
        if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(admitted);
}

// Named prepared statements live in the client, not on a server connection: two practices use
// the same statement name for different queries over the one shared connection, which is reset
// between them, and each keeps getting its own statement's results.
TEST_F(PoolingTest, NamedPreparedStatementsFollowEachClient) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    auto prepare = [](PGconn* c, const char* name, const char* sql) {
        return to_query_result(PQprepare(c, name, sql, 0, nullptr));
    };
    auto exec = [](PGconn* c, const char* name) {
        return to_query_result(PQexecPrepared(c, name, 0, nullptr, nullptr, nullptr, 0));
    };
    ASSERT_TRUE(
        prepare(alice.get(), "s1", "SELECT practice_id, name FROM patients ORDER BY name").ok());
    ASSERT_TRUE(prepare(bob.get(), "s1", "SELECT count(*), 'bob' FROM meal_logs").ok());
    for (int round = 0; round < 3; ++round) {
        auto a = exec(alice.get(), "s1");
        ASSERT_TRUE(a.ok()) << a.error;
        EXPECT_EQ(static_cast<int>(a.rows.size()), demo::kPatientsA);
        EXPECT_TRUE(all_rows_in_practice(a.rows, 0, demo::kPracticeA));
        auto b = exec(bob.get(), "s1");
        ASSERT_TRUE(b.ok()) << b.error;
        ASSERT_EQ(b.rows.size(), 1u);
        EXPECT_EQ(b.rows[0][0], std::to_string(demo::kMealLogsB));
        EXPECT_EQ(b.rows[0][1], "bob");
    }
    // Describe works wherever the statement happens to be.
    PGresult* d = PQdescribePrepared(alice.get(), "s1");
    ASSERT_EQ(PQresultStatus(d), PGRES_COMMAND_OK);
    EXPECT_EQ(PQnfields(d), 2);
    EXPECT_STREQ(PQfname(d, 1), "name");
    PQclear(d);
    // The same errors as PostgreSQL itself.
    EXPECT_EQ(prepare(alice.get(), "s1", "SELECT 1").sqlstate, "42P05");
    EXPECT_EQ(prepare(alice.get(), "bad", "SELEC oops").sqlstate, "42601");
    EXPECT_EQ(exec(alice.get(), "bad").sqlstate, "26000");
    EXPECT_EQ(exec(alice.get(), "never_prepared").sqlstate, "26000");
    // ... and the connection is fine afterwards.
    EXPECT_EQ(exec(alice.get(), "s1").rows.size(), static_cast<std::size_t>(demo::kPatientsA));
}

// After an error the server ignores everything up to the Sync, a Parse included: the statement
// it names does not exist, for pgtenant as for PostgreSQL. (pgtenant used to record it anyway
// when the error had already arrived: "already exists" on the next Parse, and a Bind that
// reached the server under pgtenant's internal name.)
TEST_F(PoolingTest, ParseIgnoredAfterAnErrorLeavesNoStatement) {
    WireClient alice(env().connect_as(demo::kAlice));
    auto r = alice.send_until(wire::parse("bad", "SELEC oops") + wire::flush(), 'E');
    ASSERT_EQ(WireClient::tags(r), "E");
    // The error is in: pgtenant knows the server skips this Parse.
    r = alice.exchange(wire::parse("s1", "SELECT 1") + wire::describe('S', "s1") + wire::sync());
    EXPECT_EQ(WireClient::tags(r), "Z");
    r = alice.exchange(wire::bind("", "s1") + wire::execute() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "EZ");
    auto e = wire::error_fields(r[0]);
    EXPECT_EQ(e['C'], "26000");
    EXPECT_EQ(e['M'], "prepared statement \"s1\" does not exist");
    r = alice.exchange(wire::parse("s1", "SELECT 1") + wire::bind("", "s1") + wire::execute() +
                       wire::sync());
    EXPECT_EQ(WireClient::tags(r), "12DCZ");
}

// SQL-level PREPARE / EXECUTE anywhere but alone in a simple Query (sql_prepared_test has
// those): refused in transaction pooling with a hint, allowed for a session-pooled login.
TEST_F(PoolingTest, SqlPrepareOutsideSimpleQueriesIsRefusedInTransactionPoolingOnly) {
    auto alice = env().connect_as(demo::kAlice);
    for (const char* sql :
         {"PREPARE q AS SELECT 1; SELECT 2", "SELECT 1; EXECUTE q", "EXPLAIN EXECUTE q",
          "CREATE TEMP TABLE t AS EXECUTE q", "DEALLOCATE q; SELECT 1"}) {
        SCOPED_TRACE(sql);
        auto r = run(alice.get(), sql);
        EXPECT_EQ(r.sqlstate, "0A000") << r.error;
        EXPECT_NE(r.error.find("PREPARE"), std::string::npos) << r.error;
    }
    EXPECT_EQ(run_params(alice.get(), "EXECUTE q", {}).sqlstate, "0A000");
    // No statement of that name can exist: as PostgreSQL says then.
    EXPECT_EQ(run(alice.get(), "DEALLOCATE q").sqlstate, "26000");
    EXPECT_EQ(run(alice.get(), "deallocate prepare q").sqlstate, "26000");
    EXPECT_TRUE(run(alice.get(), "SELECT 'prepare and execute are just words here'").ok());
    {
        auto carol = env().connect_as(demo::kCarol);  // session pooling
        ASSERT_EQ(sqlstate_of(carol.get(), "PREPARE q AS SELECT count(*) FROM patients"), "");
        EXPECT_EQ(query(carol.get(), "EXECUTE q").at(0).at(0), std::to_string(demo::kPatientsA));
        EXPECT_EQ(sqlstate_of(carol.get(), "DEALLOCATE q"), "");
    }
}

// A table changes shape between executions: as PostgreSQL, the statement fails with 0A000 for
// as long as its columns differ (tests/integration/pooling_ddl_test.cpp has the cases where it
// moves between connections); never a hang or a broken connection.
TEST_F(PoolingTest, PreparedStatementSurvivesDdlBetweenExecutions) {
    auto su = env().superuser();
    ASSERT_EQ(sqlstate_of(su.get(),
                          "CREATE TABLE ddl_probe (a int); INSERT INTO ddl_probe VALUES (1); "
                          "GRANT SELECT ON ddl_probe TO pgtenant_pool"),
              "");
    auto alice = env().connect_as(demo::kAlice);
    auto r =
        to_query_result(PQprepare(alice.get(), "probe", "SELECT * FROM ddl_probe", 0, nullptr));
    ASSERT_TRUE(r.ok()) << r.error;
    auto exec = [&] {
        return to_query_result(
            PQexecPrepared(alice.get(), "probe", 0, nullptr, nullptr, nullptr, 0));
    };
    ASSERT_EQ(exec().rows.size(), 1u);
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER TABLE ddl_probe ADD COLUMN b int DEFAULT 7"), "");
    for (int i = 0; i < 2; ++i) {
        auto after = exec();
        EXPECT_EQ(after.sqlstate, "0A000")
            << after.error;  // cached plan must not change result type
    }
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "");
    // Prepared again, it has the new shape.
    r = to_query_result(PQprepare(alice.get(), "probe2", "SELECT * FROM ddl_probe", 0, nullptr));
    ASSERT_TRUE(r.ok()) << r.error;
    auto again =
        to_query_result(PQexecPrepared(alice.get(), "probe2", 0, nullptr, nullptr, nullptr, 0));
    ASSERT_TRUE(again.ok()) << again.error;
    ASSERT_EQ(again.rows.size(), 1u);
    EXPECT_EQ(again.rows[0], (std::vector<std::string>{"1", "7"}));
    ASSERT_EQ(sqlstate_of(su.get(), "DROP TABLE ddl_probe"), "");
    EXPECT_EQ(exec().sqlstate, "42P01");  // the table is gone: reported, not hidden
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "");
}

}  // namespace
}  // namespace pgtenant::testing
