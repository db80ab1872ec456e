// SQL-level PREPARE / EXECUTE / DEALLOCATE in transaction pooling (issue 15): each client's
// statements are its own, whichever of the pool's connections its transactions land on, and
// every answer is the one PostgreSQL gives for the same sequence on direct connections.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

PgtenantOptions two_connections() {
    PgtenantOptions o;
    o.pool_size = 2;
    o.wait_timeout_ms = 3000;
    return o;
}

const auto* const kEnv = register_integration_env(two_connections());

struct Step {
    int client;  // 0, 1 or 2
    const char* sql;
};

// What a client sees for one statement: its error (SQLSTATE and message, which names the
// client's statement, never pgtenant's), or its command tag and rows.
std::string outcome(PGconn* c, const std::string& sql) {
    auto r = run(c, sql);
    if (!r.ok()) return "error " + r.sqlstate + " " + r.error.substr(0, r.error.find('\n'));
    std::string out = r.command_status;
    for (const auto& row : r.rows) {
        out += " |";
        for (const auto& v : row) out += " " + v;
    }
    return out;
}

class SqlPreparedTest : public ProxyTest {
  protected:
    // Ends pgtenant's idle server connections and waits until it can have noticed.
    static void drop_server_connections(PGconn* su) {
        query(su,
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "
              "'pgtenant_pool'");
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    // Runs `steps` on three clients through pgtenant and on three direct connections; every
    // outcome must match.
    void expect_as_postgres(const std::vector<Step>& steps) {
        PgConn proxied[] = {env().connect_as(demo::kAlice), env().connect_as(demo::kBob),
                            env().connect_as(demo::kAlice)};
        PgConn direct[] = {env().superuser(), env().superuser(), env().superuser()};
        for (std::size_t i = 0; i < steps.size(); ++i) {
            const auto& s = steps[i];
            const std::string want = outcome(direct[s.client].get(), s.sql);
            const std::string got = outcome(proxied[s.client].get(), s.sql);
            EXPECT_EQ(got, want) << "step " << i << ", client " << s.client << ": " << s.sql;
        }
    }
    static void SetUpTestSuite() {
        auto su = integration_env().superuser();
        query(su.get(), "DROP TABLE IF EXISTS sqlprep_t");
        query(su.get(), "CREATE TABLE sqlprep_t (a int)");
        query(su.get(), "INSERT INTO sqlprep_t VALUES (1), (2)");
        query(su.get(), "GRANT SELECT ON sqlprep_t TO PUBLIC");
    }
};

TEST_F(SqlPreparedTest, EachClientsStatementsAreItsOwnAsOnPostgres) {
    expect_as_postgres({
        {0, "PREPARE q (int) AS SELECT $1 * 2 AS doubled"},
        {1, "PREPARE q AS SELECT 'bob' AS who"},
        {0, "EXECUTE q (21)"},
        {1, "EXECUTE q"},
        {2, "EXECUTE q (1)"},  // never prepared by this client
        {1, "EXECUTE r"},
        {2, "PREPARE q (text) AS SELECT upper($1)"},
        {2, "EXECUTE q ('third')"},
        {0, "EXECUTE q (1)"},
        {0, "PREPARE q AS SELECT 1"},  // taken
        {0, "prepare \"Mixed Case\" (text, int) AS SELECT repeat($1, $2)"},
        {0, "execute \"Mixed Case\" ('ab', 3)"},
        {0, "EXECUTE \"mixed case\" ('ab', 3)"},
        {1, "EXECUTE q"},
        {0, "DEALLOCATE q"},
        {0, "EXECUTE q (1)"},
        {1, "EXECUTE q"},
        {2, "EXECUTE q ('still')"},
        {0, "PREPARE q AS SELECT 'again'"},
        {0, "EXECUTE q"},
    });
}

TEST_F(SqlPreparedTest, TransactionsErrorsAndRollbacksAsOnPostgres) {
    expect_as_postgres({
        {0, "PREPARE n (int) AS SELECT count(*) + $1 FROM sqlprep_t"},
        {0, "BEGIN"},
        {0, "PREPARE r AS SELECT a FROM sqlprep_t ORDER BY a"},
        {0, "EXECUTE r"},
        {0, "EXECUTE n (10)"},
        {0, "ROLLBACK"},
        {0, "EXECUTE r"},  // statements are not transactional: it survives the rollback
        {1, "EXECUTE r"},
        {0, "PREPARE bad AS SELECT * FROM sqlprep_missing"},
        {0, "EXECUTE bad"},
        {0, "PREPARE bad AS SELECT 'the name is free'"},
        {0, "EXECUTE bad"},
        {0, "BEGIN"},
        {0, "EXECUTE n ('x')"},  // fails: the transaction is aborted
        {0, "EXECUTE n (1)"},
        {0, "PREPARE later AS SELECT 1"},
        {0, "DEALLOCATE n"},
        {0, "ROLLBACK"},
        {0, "EXECUTE later"},
        {0, "EXECUTE n (1)"},
        {1, "BEGIN"},
        {1, "PREPARE w AS SELECT 'w'"},
        {1, "EXECUTE w"},
        {1, "DEALLOCATE w"},
        {1, "EXECUTE w"},
        {1, "ROLLBACK"},
        {1, "EXECUTE w"},
        {2, "DEALLOCATE ALL"},
        {0, "EXECUTE r"},
        {0, "DEALLOCATE ALL"},
        {0, "EXECUTE r"},
    });
}

// A statement whose table is gone fails where the client executes it, with PostgreSQL's
// error, on a connection that must prepare it again as on one that has it.
TEST_F(SqlPreparedTest, StatementsThatNoLongerPrepareFailWhenExecuted) {
    auto su = env().superuser();
    query(su.get(), "CREATE TABLE sqlprep_gone (a int)");
    query(su.get(), "GRANT SELECT ON sqlprep_gone TO PUBLIC");
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    ASSERT_EQ(sqlstate_of(alice.get(), "PREPARE g AS SELECT a FROM sqlprep_gone"), "");
    ASSERT_EQ(sqlstate_of(bob.get(), "PREPARE g AS SELECT a FROM sqlprep_gone"), "");
    // New server connections: each must prepare the statements again.
    drop_server_connections(su.get());
    EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE g"), "");
    EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE g"), "");
    drop_server_connections(su.get());
    query(su.get(), "DROP TABLE sqlprep_gone");
    // Bob holds one connection in a transaction: Alice's EXECUTE lands on either.
    ASSERT_EQ(sqlstate_of(bob.get(), "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(bob.get(), "SELECT 1"), "");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE g"), "42P01");
    EXPECT_EQ(sqlstate_of(bob.get(), "EXECUTE g"), "42P01");
    EXPECT_EQ(sqlstate_of(bob.get(), "SELECT 1"), "25P02");
    ASSERT_EQ(sqlstate_of(bob.get(), "ROLLBACK"), "");
    ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN"), "");
    EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE g"), "42P01");
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "25P02");
    ASSERT_EQ(sqlstate_of(alice.get(), "ROLLBACK"), "");
    EXPECT_EQ(query(alice.get(), "SELECT 1").at(0).at(0), "1");
}

// Where pgtenant cannot carry them it says so (0A000) and the transaction fails visibly.
TEST_F(SqlPreparedTest, FormsPgtenantCannotCarryAreRefusedVisibly) {
    auto alice = env().connect_as(demo::kAlice);
    ASSERT_EQ(sqlstate_of(alice.get(), "PREPARE q AS SELECT 1"), "");
    EXPECT_EQ(sqlstate_of(alice.get(), "PREPARE a AS SELECT 1; SELECT 2"), "0A000");
    EXPECT_EQ(sqlstate_of(alice.get(), "EXPLAIN EXECUTE q"), "0A000");
    EXPECT_EQ(sqlstate_of(alice.get(), "CREATE TEMP TABLE x AS EXECUTE q"), "0A000");
    EXPECT_EQ(run_params(alice.get(), "EXECUTE q", {}).sqlstate, "0A000");
    EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE U&\"q\""), "0A000");  // the name's place unknown
    EXPECT_EQ(sqlstate_of(alice.get(), "PREPARE U&\"r\" AS SELECT 1"), "0A000");
    ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN"), "");
    EXPECT_EQ(sqlstate_of(alice.get(), "EXECUTE q; SELECT 1"), "0A000");
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "25P02");
    EXPECT_EQ(run(alice.get(), "COMMIT").command_status, "ROLLBACK");
    EXPECT_EQ(query(alice.get(), "EXECUTE q").at(0).at(0), "1");
}

// A client's statements cannot reach another practice's rows: the binding is in front of
// every EXECUTE, whichever connection prepared the statement.
TEST_F(SqlPreparedTest, ExecuteIsBoundToTheClientsPractice) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    const char* prepare = "PREPARE c AS SELECT count(*) FROM patients";
    ASSERT_EQ(sqlstate_of(alice.get(), prepare), "");
    ASSERT_EQ(sqlstate_of(bob.get(), prepare), "");
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(query(alice.get(), "EXECUTE c").at(0).at(0), std::to_string(demo::kPatientsA));
        EXPECT_EQ(query(bob.get(), "EXECUTE c").at(0).at(0), std::to_string(demo::kPatientsB));
    }
}

}  // namespace
}  // namespace pgtenant::testing
