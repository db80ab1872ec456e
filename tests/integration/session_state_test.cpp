// Session state exactly as PostgreSQL keeps it, over ONE shared server connection (issue 15):
// every client's settings survive other clients' transactions and its own rollbacks, a SET
// that was rolled back never sticks, a transaction may begin with BEGIN ISOLATION LEVEL or
// SET TRANSACTION, and a client's unnamed statement is its own.
#include <gtest/gtest.h>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

PgtenantOptions one_connection() {
    PgtenantOptions o;
    o.pool_size = 1;
    o.wait_timeout_ms = 3000;
    return o;
}

const auto* const kEnv = register_integration_env(one_connection());

class SessionStateTest : public ProxyTest {
  protected:
    std::string show(PGconn* c, const std::string& name) {
        return query(c, "SHOW " + name).at(0).at(0);
    }
    void exec(PGconn* c, const std::string& sql) { ASSERT_EQ(sqlstate_of(c, sql), "") << sql; }
    // A protocol-level prepared statement (PQprepare).
    static bool prepare(PGconn* c, const char* name, const char* sql) {
        PGresult* r = PQprepare(c, name, sql, 0, nullptr);
        const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        return ok;
    }
};

// The reproduction: with one server connection, BEGIN; SELECT 1; ROLLBACK was enough for
// one client to see another's TimeZone, statement_timeout, search_path and DateStyle.
TEST_F(SessionStateTest, RollbackNeverRevertsOrLeaksAnotherClientsSettings) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    exec(alice.get(), "SET TimeZone = 'America/New_York'");
    exec(alice.get(), "SET statement_timeout = '41s'");
    exec(alice.get(), "SET search_path = pg_catalog, public");
    exec(alice.get(), "SET DateStyle = 'SQL, DMY'");
    exec(bob.get(), "SET TimeZone = 'Australia/Adelaide'");
    exec(bob.get(), "SET statement_timeout = '42s'");
    for (int round = 0; round < 4; ++round) {
        for (PGconn* c : {alice.get(), bob.get()}) {
            exec(c, "BEGIN");
            exec(c, "SELECT 1");
            exec(c, "ROLLBACK");
        }
        EXPECT_EQ(show(alice.get(), "TimeZone"), "America/New_York");
        EXPECT_EQ(show(alice.get(), "statement_timeout"), "41s");
        EXPECT_EQ(show(alice.get(), "search_path"), "pg_catalog, public");
        EXPECT_EQ(show(alice.get(), "DateStyle"), "SQL, DMY");
        EXPECT_EQ(show(bob.get(), "TimeZone"), "Australia/Adelaide");
        EXPECT_EQ(show(bob.get(), "statement_timeout"), "42s");
        EXPECT_NE(show(bob.get(), "DateStyle"), "SQL, DMY");
        // Timestamps come back in the client's own zone.
        EXPECT_EQ(query(alice.get(), "SELECT extract(hour FROM '2026-06-01 12:00+00'::timestamptz)")
                      .at(0)
                      .at(0),
                  "8");
    }
    EXPECT_STREQ(PQparameterStatus(alice.get(), "TimeZone"), "America/New_York");
    EXPECT_STREQ(PQparameterStatus(bob.get(), "TimeZone"), "Australia/Adelaide");
}

TEST_F(SessionStateTest, SetInsideTransactionsFollowsCommitRollbackAndSavepoints) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    exec(alice.get(), "SET TimeZone = 'Asia/Tokyo'");
    // Rolled back: never sticks, and what libpq was told is put right by the server itself.
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "SET TimeZone = 'Europe/Paris'");
    exec(alice.get(), "SET statement_timeout = '9s'");
    exec(alice.get(), "ROLLBACK");
    exec(bob.get(), "SELECT 1");
    EXPECT_EQ(show(alice.get(), "TimeZone"), "Asia/Tokyo");
    EXPECT_EQ(show(alice.get(), "statement_timeout"), "0");
    EXPECT_STREQ(PQparameterStatus(alice.get(), "TimeZone"), "Asia/Tokyo");
    // Committed: the client's from then on.
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "SET TimeZone = 'Europe/Paris'");
    exec(alice.get(), "COMMIT");
    exec(bob.get(), "SELECT 1");
    EXPECT_EQ(show(alice.get(), "TimeZone"), "Europe/Paris");
    EXPECT_NE(show(bob.get(), "TimeZone"), "Europe/Paris");
    // A SET in a savepoint rolled back to is undone; one after it stays.
    exec(alice.get(),
         "BEGIN; SAVEPOINT s; SET statement_timeout = '7s'; ROLLBACK TO SAVEPOINT s; "
         "SET lock_timeout = '3s'; COMMIT");
    exec(bob.get(), "SELECT 1");
    EXPECT_EQ(show(alice.get(), "statement_timeout"), "0");
    EXPECT_EQ(show(alice.get(), "lock_timeout"), "3s");
    // SET LOCAL and set_config(..., true) end with their transaction; set_config(..., false)
    // inside a query is a session SET.
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "SET LOCAL work_mem = '7MB'");
    exec(alice.get(), "SELECT set_config('search_path', 'pg_catalog', false)");
    EXPECT_EQ(show(alice.get(), "work_mem"), "7MB");
    exec(alice.get(), "COMMIT");
    exec(bob.get(), "SELECT 1");
    EXPECT_NE(show(alice.get(), "work_mem"), "7MB");
    EXPECT_EQ(show(alice.get(), "search_path"), "pg_catalog");
    EXPECT_NE(show(bob.get(), "search_path"), "pg_catalog");
    // A SET in a transaction that fails, then rolls back, never sticks either.
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "SET TimeZone = 'Africa/Cairo'");
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1/0"), "22012");
    exec(alice.get(), "ROLLBACK");
    EXPECT_EQ(show(alice.get(), "TimeZone"), "Europe/Paris");
}

TEST_F(SessionStateTest, ResetReturnsToTheStartupValue) {
    auto alice =
        connect(env().proxy().conninfo(demo::kAlice, env().proxy().login(demo::kAlice).password,
                                       "options='-c TimeZone=Asia/Tokyo'"));
    auto bob = env().connect_as(demo::kBob);
    exec(alice.get(), "SET TimeZone = 'Europe/Paris'");
    exec(alice.get(), "RESET TimeZone");
    exec(bob.get(), "SELECT 1");
    EXPECT_EQ(show(alice.get(), "TimeZone"), "Asia/Tokyo");
    exec(alice.get(), "SET TimeZone = 'Europe/Paris'");
    exec(alice.get(), "RESET ALL");
    exec(bob.get(), "SELECT 1");
    EXPECT_EQ(show(alice.get(), "TimeZone"), "Asia/Tokyo");
}

// The binding takes a snapshot; a transaction that begins with BEGIN ISOLATION LEVEL or
// SET TRANSACTION must still get its isolation level, and still be bound (issue 15, bug A).
TEST_F(SessionStateTest, TransactionsMayBeginWithIsolationLevels) {
    auto alice = env().connect_as(demo::kAlice);
    for (const char* begin : {"BEGIN ISOLATION LEVEL REPEATABLE READ",
                              "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY",
                              "BEGIN; SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"}) {
        SCOPED_TRACE(begin);
        exec(alice.get(), begin);
        exec(alice.get(), "SET LOCAL statement_timeout = '5s'");
        EXPECT_NE(show(alice.get(), "transaction_isolation"), "read committed");
        auto rows = query(alice.get(), "SELECT DISTINCT practice_id::text FROM patients");
        ASSERT_EQ(rows.size(), 1u);
        EXPECT_EQ(rows[0][0], demo::kPracticeA);
        exec(alice.get(), "COMMIT");
    }
    // The same over the extended protocol.
    ASSERT_EQ(run_params(alice.get(), "BEGIN ISOLATION LEVEL SERIALIZABLE", {}).sqlstate, "");
    ASSERT_EQ(run_params(alice.get(), "SET TRANSACTION READ ONLY", {}).sqlstate, "");
    auto r = run_params(alice.get(), "SELECT count(*) FROM patients WHERE practice_id <> $1::uuid",
                        {demo::kPracticeA});
    ASSERT_EQ(r.sqlstate, "");
    EXPECT_EQ(r.rows.at(0).at(0), "0");
    EXPECT_EQ(show(alice.get(), "transaction_isolation"), "serializable");
    exec(alice.get(), "COMMIT");
    // Nothing it ran before the binding could read a row unbound.
    exec(alice.get(), "BEGIN");
    EXPECT_EQ(query(alice.get(),
                    "SELECT count(*) FROM patients WHERE practice_id <> '" + demo::kPracticeA + "'")
                  .at(0)
                  .at(0),
              "0");
    exec(alice.get(), "COMMIT");
}

// A client's unnamed statement is its own: another client's Bind of "" on the same server
// connection never runs it, and it is prepared again wherever its owner uses it (bug F).
TEST_F(SessionStateTest, UnnamedStatementsAreNeverShared) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    WireClient bob_wire(std::move(bob));
    ASSERT_TRUE(prepare(alice.get(), "", "SELECT 'alice''s own'"));
    auto replies = bob_wire.exchange(wire::bind("", "") + wire::execute() + wire::sync());
    ASSERT_EQ(WireClient::tags(replies), "EZ");
    EXPECT_NE(replies[0].find("26000"), std::string::npos);
    // Bob's own unnamed statement, then alice's again.
    replies = bob_wire.exchange(wire::parse("", "SELECT 'bob''s own'") + wire::bind("", "") +
                                wire::execute() + wire::sync());
    ASSERT_EQ(WireClient::tags(replies), "12DCZ");
    EXPECT_EQ(wire::data_row_values(replies[2]).at(0), "bob's own");
    auto mine = PQexecPrepared(alice.get(), "", 0, nullptr, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(mine), PGRES_TUPLES_OK) << PQresultErrorMessage(mine);
    EXPECT_STREQ(PQgetvalue(mine, 0, 0), "alice's own");
    PQclear(mine);
    // A simple Query ends it, as on PostgreSQL.
    exec(alice.get(), "SELECT 1");
    auto gone = PQexecPrepared(alice.get(), "", 0, nullptr, nullptr, nullptr, 0);
    EXPECT_STREQ(PQresultErrorField(gone, PG_DIAG_SQLSTATE), "26000");
    PQclear(gone);
    // An Execute of the unnamed portal with no Bind never runs pgtenant's binding (bug B).
    replies = bob_wire.exchange(wire::execute() + wire::sync());
    ASSERT_EQ(WireClient::tags(replies), "EZ");
    EXPECT_NE(replies[0].find("34000"), std::string::npos);
}

// psycopg 3 sends DEALLOCATE ALL over the extended protocol after a nested transaction rolls
// back, and DEALLOCATE <name> for its own statements; both must work as on PostgreSQL, in and
// out of transactions, and what the outer transaction did must commit (issue 15).
TEST_F(SessionStateTest, DeallocateAndDiscardWorkAsOnPostgres) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    auto su = env().superuser();
    exec(su.get(), "CREATE TABLE IF NOT EXISTS dealloc_marks (note text)");
    exec(su.get(), "GRANT SELECT, INSERT ON dealloc_marks TO PUBLIC");
    ASSERT_TRUE(prepare(alice.get(), "s1", "SELECT 1"));
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "INSERT INTO dealloc_marks VALUES ('outer')");
    exec(alice.get(), "SAVEPOINT inner_tx");
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1/0"), "22012");
    exec(alice.get(), "ROLLBACK TO SAVEPOINT inner_tx");
    ASSERT_EQ(run_params(alice.get(), "DEALLOCATE ALL", {}).sqlstate, "");
    exec(alice.get(), "COMMIT");
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM dealloc_marks WHERE note = 'outer'").at(0).at(0),
        "1");
    auto gone = PQexecPrepared(alice.get(), "s1", 0, nullptr, nullptr, nullptr, 0);
    EXPECT_STREQ(PQresultErrorField(gone, PG_DIAG_SQLSTATE), "26000");
    PQclear(gone);
    // pgtenant's own statements were prepared again: the next transactions are bound.
    for (PGconn* c : {alice.get(), bob.get(), alice.get()}) {
        EXPECT_EQ(query(c, "SELECT count(DISTINCT practice_id) FROM patients").at(0).at(0), "1");
    }
    // DEALLOCATE <name> of a protocol-level statement, in and out of a transaction.
    ASSERT_TRUE(prepare(alice.get(), "_pg3_0", "SELECT 2"));
    exec(alice.get(), "BEGIN");
    exec(alice.get(), "DEALLOCATE _pg3_0");
    exec(alice.get(), "COMMIT");
    gone = PQexecPrepared(alice.get(), "_pg3_0", 0, nullptr, nullptr, nullptr, 0);
    EXPECT_STREQ(PQresultErrorField(gone, PG_DIAG_SQLSTATE), "26000");
    PQclear(gone);
    EXPECT_EQ(sqlstate_of(alice.get(), "DEALLOCATE _pg3_0"), "26000");
    // DISCARD ALL where PostgreSQL refuses it, and where it runs.
    exec(alice.get(), "BEGIN");
    EXPECT_EQ(sqlstate_of(alice.get(), "DISCARD ALL"), "25001");
    exec(alice.get(), "ROLLBACK");
    exec(alice.get(), "SET TimeZone = 'Asia/Tokyo'");
    ASSERT_EQ(run_params(alice.get(), "DISCARD ALL", {}).sqlstate, "");
    exec(bob.get(), "SELECT 1");
    EXPECT_NE(show(alice.get(), "TimeZone"), "Asia/Tokyo");
    EXPECT_EQ(query(alice.get(), "SELECT count(DISTINCT practice_id) FROM patients").at(0).at(0),
              "1");
}

}  // namespace
}  // namespace pgtenant::testing
