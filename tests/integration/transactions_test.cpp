// Transaction binding through pgtenant: explicit transactions keep the practice for their
// whole life (savepoints included), the binding ends at COMMIT, and session-mode logins keep
// their backend between transactions.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env();

class TransactionTest : public ProxyTest {};

std::string count_patients(PGconn* conn) {
    return query(conn, "SELECT count(*) FROM patients").at(0).at(0);
}

TEST_F(TransactionTest, ExplicitTransactionWithSavepointStaysBound) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeA + "', 'Savepoint Sam')"),
              "");
    ASSERT_EQ(sqlstate_of(c, "SAVEPOINT before_intrusion"), "");
    // The failed statement aborts the transaction; the savepoint rescues it.
    EXPECT_EQ(sqlstate_of(c, "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeB + "', 'Intruder')"),
              "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT 1"), "25P02");
    ASSERT_EQ(sqlstate_of(c, "ROLLBACK TO SAVEPOINT before_intrusion"), "");
    auto rows = query(c, "SELECT * FROM patients");
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA + 1);
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    EXPECT_EQ(query(c, "SELECT current_setting('app.current_practice_id')").at(0).at(0),
              demo::kPracticeA);
    ASSERT_EQ(sqlstate_of(c, "COMMIT"), "");

    // A new transaction is bound again, both implicit and explicit.
    EXPECT_EQ(count_patients(c), std::to_string(demo::kPatientsA + 1));
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    EXPECT_EQ(query(c, "SELECT current_setting('app.current_practice_id')").at(0).at(0),
              demo::kPracticeA);
    EXPECT_EQ(query(c, "DELETE FROM patients WHERE name = 'Savepoint Sam'").size(), 0u);
    ASSERT_EQ(sqlstate_of(c, "COMMIT"), "");
    EXPECT_EQ(count_patients(c), std::to_string(demo::kPatientsA));

    auto su = env().superuser();
    EXPECT_EQ(count_as_superuser(su.get(), "patients", "practice_id", demo::kPracticeB),
              demo::kPatientsB);
}

TEST_F(TransactionTest, ExtendedProtocolTransactionStaysBound) {
    auto conn = env().connect_as(demo::kBob);
    PGconn* c = conn.get();
    ASSERT_TRUE(run_params(c, "BEGIN", {}).ok());
    auto rows = query_params(c, "SELECT practice_id FROM meal_logs", {});
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kMealLogsB);
    EXPECT_TRUE(all_rows_in_practice(rows, 0, demo::kPracticeB));
    EXPECT_EQ(query_params(c, "SELECT current_setting('app.current_practice_id')", {}).at(0).at(0),
              demo::kPracticeB);
    ASSERT_TRUE(run_params(c, "COMMIT", {}).ok());
    EXPECT_EQ(query_params(c, "SELECT count(*) FROM practices", {}).at(0).at(0), "1");
}

TEST_F(TransactionTest, StatementAfterCommitInOneQueryFailsClosed) {
    // The statement after COMMIT runs in a transaction pgtenant never bound: it must fail
    // closed - an error or no rows - never return a practice's rows (DESIGN 3.2).
    for (const auto& login : {demo::kAlice, demo::kBob}) {
        SCOPED_TRACE(login);
        auto conn = env().connect_as(login);
        auto r = run(conn.get(), "SELECT 1; COMMIT; SELECT count(*) FROM patients");
        EXPECT_TRUE(fails_closed(r));
        r = run(conn.get(),
                "SELECT 1; COMMIT; SELECT * FROM patients WHERE practice_id <> '" +
                    std::string(login == demo::kAlice ? demo::kPracticeA : demo::kPracticeB) + "'");
        EXPECT_TRUE(fails_closed(r));
        // And the connection is fine and bound for the next transaction.
        EXPECT_EQ(count_patients(conn.get()),
                  std::to_string(login == demo::kAlice ? demo::kPatientsA : demo::kPatientsB));
    }
}

TEST_F(TransactionTest, RollbackEndsTheBindingToo) {
    auto conn = env().connect_as(demo::kAlice);
    auto r = run(conn.get(), "BEGIN; SELECT 1; ROLLBACK; SELECT * FROM meal_logs");
    EXPECT_TRUE(fails_closed(r)) << "after ROLLBACK";
    EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM meal_logs").at(0).at(0),
              std::to_string(demo::kMealLogsA));
}

TEST_F(TransactionTest, SessionModeLoginKeepsTempTableBetweenTransactions) {
    auto conn = env().connect_as(demo::kCarol);
    PGconn* c = conn.get();
    ASSERT_EQ(sqlstate_of(c, "CREATE TEMP TABLE carol_notes (note text)"), "");
    ASSERT_EQ(sqlstate_of(c, "INSERT INTO carol_notes VALUES ('kept')"), "");
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, "INSERT INTO carol_notes VALUES ('also kept')"), "");
    ASSERT_EQ(sqlstate_of(c, "COMMIT"), "");
    EXPECT_EQ(query(c, "SELECT count(*) FROM carol_notes").at(0).at(0), "2");
    EXPECT_EQ(query_params(c, "SELECT count(*) FROM carol_notes", {}).at(0).at(0), "2");
    // Session mode is still tenant-bound, in every transaction.
    auto rows = query(c, "SELECT * FROM patients");
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    // Other clients meanwhile must not see carol's temp table, whatever backend they get.
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    EXPECT_NE(sqlstate_of(bob.get(), "SELECT * FROM carol_notes"), "");
    EXPECT_NE(sqlstate_of(alice.get(), "SELECT * FROM carol_notes"), "");
    EXPECT_EQ(query(c, "SELECT count(*) FROM carol_notes").at(0).at(0), "2");
}

TEST_F(TransactionTest, SessionModeLoginPinsItsBackend) {
    // Decisive even with backend affinity: fill every other pool slot with open transactions;
    // one more client must then wait, because carol's idle backend is not up for grabs.
    const int pool_size = PgtenantOptions{}.pool_size;
    auto carol = env().connect_as(demo::kCarol);
    auto carol_pid = query(carol.get(), "SELECT pg_backend_pid()").at(0).at(0);
    ASSERT_EQ(sqlstate_of(carol.get(), "CREATE TEMP TABLE pinned (x int)"), "");
    std::vector<PgConn> holders;
    for (int i = 0; i < pool_size - 1; ++i) {
        holders.push_back(env().connect_as(demo::kBob));
        ASSERT_EQ(sqlstate_of(holders.back().get(), "BEGIN"), "");
        EXPECT_NE(query(holders.back().get(), "SELECT pg_backend_pid()").at(0).at(0), carol_pid);
    }
    auto waiter = env().connect_as(demo::kBob);
    ASSERT_EQ(PQsendQuery(waiter.get(), "SELECT pg_backend_pid()"), 1);
    PQflush(waiter.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    PQconsumeInput(waiter.get());
    EXPECT_EQ(PQisBusy(waiter.get()), 1) << "a client got a backend although all were taken";
    ASSERT_EQ(sqlstate_of(holders.front().get(), "COMMIT"), "");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto r = to_query_result(next_result(waiter.get(), deadline));
    ASSERT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
    EXPECT_NE(r.rows.at(0).at(0), carol_pid);
    EXPECT_EQ(next_result(waiter.get(), deadline), nullptr);
    for (auto& h : holders) {
        run(h.get(), "COMMIT");
    }
    EXPECT_EQ(query(carol.get(), "SELECT pg_backend_pid()").at(0).at(0), carol_pid);
    EXPECT_EQ(query(carol.get(), "SELECT count(*) FROM pinned").at(0).at(0), "0");
}

TEST_F(TransactionTest, SessionModeStatementAfterCommitStillFailsClosed) {
    auto conn = env().connect_as(demo::kCarol);
    auto r = run(conn.get(), "SELECT 1; COMMIT; SELECT count(*) FROM patients");
    EXPECT_TRUE(fails_closed(r));
    EXPECT_EQ(count_patients(conn.get()), std::to_string(demo::kPatientsA));
}

}  // namespace
}  // namespace pgtenant::testing
