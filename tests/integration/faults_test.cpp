// The network between pgtenant and PostgreSQL misbehaving: a test-owned relay stalls, cuts
// and slows the stream (issue 14, fault tests). Every case checks what the client saw and,
// through the superuser, that every row a client saw committed is there and no other row is.
// (PostgreSQL itself restarting or down, descriptors and connection waves:
// server_faults_test.)
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "tests/support/fault_fixture.h"
#include "tests/support/pool_watch.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Direction = FaultRelay::Direction;
using Cut = FaultRelay::Cut;

const auto* const kEnv = register_integration_env();

// --- The relay itself, with PostgreSQL's own client straight behind it ---

// What libpq sees through the relay without pgtenant: the baseline for the cases below (a
// stall holds a query until resumed; a cut breaks the connection; new ones work).
TEST_F(FaultTest, RelayStallsCutsAndResumesForPlainLibpq) {
    FaultRelay relay(env().cluster().port());
    const std::string conninfo =
        "host=127.0.0.1 port=" + std::to_string(relay.port()) +
        " dbname=postgres user=pgtenant_pool password=" + env().cluster().pool_password() +
        " sslmode=disable gssencmode=disable connect_timeout=10";
    auto conn = connect(conninfo);
    PGconn* c = conn.get();
    EXPECT_EQ(query(c, "SELECT 1").at(0).at(0), "1");
    EXPECT_EQ(relay.open_connections(), 1);

    relay.stall(Direction::both);
    ASSERT_EQ(PQsendQuery(c, "SELECT 2"), 1);
    PQflush(c);
    std::this_thread::sleep_for(300ms);
    PQconsumeInput(c);
    EXPECT_EQ(PQisBusy(c), 1) << "answered through a stalled relay";
    relay.resume();
    QueryResult r;
    while (PGresult* res = next_result(c, Clock::now() + 5s)) {
        auto one = to_query_result(res);
        if (r.ok()) r = std::move(one);
    }
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.rows.at(0).at(0), "2");

    relay.cut(Cut::reset);
    auto cut = run(c, "SELECT 3", 5s);
    EXPECT_FALSE(cut.ok());
    EXPECT_NE(PQstatus(c), CONNECTION_OK);
    EXPECT_EQ(relay.open_connections(), 0);

    auto again = connect(conninfo);
    relay.cut_after(10, Direction::to_client, Cut::fin);
    auto late = run(again.get(), "SELECT repeat('x', 100)", 5s);
    EXPECT_FALSE(late.ok()) << "a reply longer than the cut-after budget arrived whole";
    EXPECT_EQ(query(connect(conninfo).get(), "SELECT 4").at(0).at(0), "4");
    EXPECT_GE(relay.accepted(), 3u);
}

// --- Stall: the server connection stops moving, then moves again ---

// A stalled network looks like a slow server: PostgreSQL's own client would wait, and so must
// pgtenant's (it has no statement timeout). When the stream resumes, the statement completes
// and the transaction commits whole.
class StallTest : public FaultTest, public ::testing::WithParamInterface<Direction> {};

TEST_P(StallTest, MidTransactionCompletesAfterResume) {
    start_behind_relay();
    const long id = new_ids(2);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, insert_sql(id, "before stall")), "");

    relay_->stall(GetParam());
    const auto stalled = Clock::now();
    ASSERT_EQ(PQsendQuery(c, insert_sql(id + 1, "during stall").c_str()), 1);
    PQflush(c);
    std::this_thread::sleep_for(1500ms);
    PQconsumeInput(c);
    EXPECT_EQ(PQisBusy(c), 1) << "the statement was answered while the server was unreachable";
    EXPECT_TRUE(proxy_->running());
    relay_->resume();

    QueryResult r;
    const auto deadline = Clock::now() + 10s;
    while (PGresult* res = next_result(c, deadline)) {
        auto one = to_query_result(res);
        if (r.ok()) r = std::move(one);
    }
    EXPECT_TRUE(r.ok()) << "after resume: " << r.sqlstate << " " << r.error;
    EXPECT_GE(ms_since(stalled), 1500);
    EXPECT_LT(ms_since(stalled), 6000) << "the statement did not complete soon after resume";
    auto commit = run(c, "COMMIT", 10s);
    EXPECT_EQ(commit.command_status, "COMMIT") << commit.sqlstate << " " << commit.error;
    EXPECT_TRUE(row_exists(id));
    EXPECT_TRUE(row_exists(id + 1));
    expect_bystander_works(*proxy_);
}

INSTANTIATE_TEST_SUITE_P(Directions, StallTest,
                         ::testing::Values(Direction::both, Direction::to_server,
                                           Direction::to_client),
                         [](const ::testing::TestParamInfo<Direction>& info) {
                             switch (info.param) {
                                 case Direction::both:
                                     return "Both";
                                 case Direction::to_server:
                                     return "ToServer";
                                 case Direction::to_client:
                                     return "ToClient";
                             }
                             return "?";
                         });

// A server connection that cannot even log in while the network is stalled: the client that
// needed it gets 57P03 within backend.connect_timeout_ms (2 s here), not a hang.
TEST_F(FaultTest, StalledLoginToServerFailsWithinConnectTimeout) {
    start_behind_relay();
    const long id = new_ids(1);
    auto alice = proxy_->connect_as(demo::kAlice);  // opens the first server connection
    ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "");  // and holds it
    relay_->stall(Direction::both);
    auto bob = proxy_->connect_as(demo::kBob);  // logs in to pgtenant only
    const auto asked = Clock::now();
    auto r = run(bob.get(), insert_sql(id, "stalled login"), 15s);
    const long waited = ms_since(asked);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.sqlstate, "57P03") << r.error;
    EXPECT_LT(waited, 4000) << "the client waited past connect_timeout_ms";
    relay_->resume();
    EXPECT_FALSE(row_exists(id));
    EXPECT_EQ(run(alice.get(), "COMMIT", 10s).command_status, "COMMIT");
    expect_bystander_works(*proxy_);
}

// --- Cut: the server connection dies in the middle of a transaction ---

struct CutCase {
    Cut how;
    bool in_flight;  // cut while a statement runs, or while idle in the transaction
};

void PrintTo(const CutCase& c, std::ostream* os) {
    *os << (c.how == Cut::reset ? "RST" : "FIN")
        << (c.in_flight ? " while a statement runs" : " while idle in transaction");
}

class CutTest : public FaultTest, public ::testing::WithParamInterface<CutCase> {};

// The client gets an error with a real SQLSTATE; its transaction is not half-committed: the
// statements after the error fail until ROLLBACK (or the connection is closed), and COMMIT
// never reports success. Then the next transaction works on a fresh server connection.
TEST_P(CutTest, MidTransactionNeverHalfCommits) {
    const auto [how, in_flight] = GetParam();
    start_behind_relay();
    const long id = new_ids(5);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, insert_sql(id, "a")), "");

    QueryResult first;
    if (in_flight) {
        // The statement inserts, then sleeps: the cut comes while it runs.
        ASSERT_EQ(PQsendQuery(c, (insert_sql(id + 1, "b") + "; SELECT pg_sleep(3)").c_str()), 1);
        PQflush(c);
        std::this_thread::sleep_for(300ms);
        relay_->cut(how);
        const auto deadline = Clock::now() + 10s;
        first.error = "no result";
        bool have = false;
        while (PGresult* res = next_result(c, deadline)) {
            auto one = to_query_result(res);
            if (!have || (first.ok() && !one.ok())) first = std::move(one);
            have = true;
        }
    } else {
        relay_->cut(how);
        std::this_thread::sleep_for(200ms);  // pgtenant sees the loss before the next statement
        first = run(c, insert_sql(id + 1, "b"), 10s);
    }
    const bool closed = PQstatus(c) != CONNECTION_OK;
    EXPECT_FALSE(first.ok()) << "the statement hit by the cut succeeded";
    if (!closed) {
        EXPECT_TRUE(connection_failure(first.sqlstate))
            << "the cut was reported as '" << first.sqlstate << "': " << first.error;
    }

    // The transaction is failed, or the connection gone: nothing after the cut may run in
    // autocommit, and COMMIT must not say COMMIT.
    std::string after, commit_status, commit_state;
    if (!closed) {
        auto next = run(c, insert_sql(id + 2, "c"), 10s);
        after = next.ok() ? "succeeded (" + next.command_status + ")" : next.sqlstate;
        auto commit = run(c, "COMMIT", 10s);
        commit_status = commit.command_status;
        commit_state = commit.sqlstate;
        EXPECT_FALSE(next.ok()) << "a statement after the cut ran outside the failed transaction";
        EXPECT_NE(commit.ok() ? commit.command_status : "", "COMMIT")
            << "COMMIT reported success after the server connection was lost";
        run(c, "ROLLBACK", 10s);
    }
    EXPECT_FALSE(row_exists(id)) << "half a transaction committed: row a";
    EXPECT_FALSE(row_exists(id + 1)) << "half a transaction committed: row b";
    EXPECT_FALSE(row_exists(id + 2))
        << "the statement after the cut was committed (autocommit after a lost connection)";

    // The next transaction runs whole, on a fresh server connection.
    PgConn again;
    if (closed) {
        again = proxy_->connect_as(demo::kAlice);
        c = again.get();
    }
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, insert_sql(id + 3, "d")), "");
    ASSERT_EQ(sqlstate_of(c, insert_sql(id + 4, "e")), "");
    EXPECT_EQ(run(c, "COMMIT", 10s).command_status, "COMMIT");
    EXPECT_TRUE(row_exists(id + 3));
    EXPECT_TRUE(row_exists(id + 4));
    expect_bystander_works(*proxy_);
    RecordProperty("after_cut", after);
}

INSTANTIATE_TEST_SUITE_P(Ways, CutTest,
                         ::testing::Values(CutCase{Cut::reset, false}, CutCase{Cut::fin, false},
                                           CutCase{Cut::reset, true}, CutCase{Cut::fin, true}),
                         [](const ::testing::TestParamInfo<CutCase>& info) {
                             return std::string(info.param.how == Cut::reset ? "Rst" : "Fin") +
                                    (info.param.in_flight ? "WhileStatementRuns"
                                                          : "WhileIdleInTransaction");
                         });

// --- Cut in the middle of COPY FROM STDIN ---

// Streams COPY data for ids [first, first + rows) in chunks; returns the final result.
QueryResult copy_rows(PGconn* c, long first, long rows,
                      const std::function<void(long)>& after_row) {
    const auto deadline = Clock::now() + 15s;
    if (!PQsendQuery(c, "COPY fault_rows (id, note) FROM STDIN")) {
        QueryResult r;
        r.error = PQerrorMessage(c);
        return r;
    }
    PGresult* start = next_result(c, deadline);
    if (!start || PQresultStatus(start) != PGRES_COPY_IN) {
        auto r = start ? to_query_result(start) : QueryResult{};
        while (PGresult* rest = next_result(c, deadline)) PQclear(rest);
        return r;
    }
    PQclear(start);
    std::string chunk;
    for (long i = 0; i < rows; ++i) {
        chunk += std::to_string(first + i) + "\tcopied row with some padding to make it longer\n";
        if (chunk.size() > 4000 || i + 1 == rows) {
            if (PQputCopyData(c, chunk.data(), static_cast<int>(chunk.size())) != 1) break;
            PQflush(c);
            chunk.clear();
        }
        after_row(i);
    }
    PQputCopyEnd(c, nullptr);
    QueryResult out;
    bool have = false;
    while (PGresult* res = next_result(c, deadline)) {
        auto one = to_query_result(res);
        if (!have || (out.ok() && !one.ok())) out = std::move(one);
        have = true;
    }
    if (!have) out.error = PQerrorMessage(c);
    return out;
}

class CopyCutTest : public FaultTest, public ::testing::WithParamInterface<bool> {};

// The server connection is cut (RST) after about 40 kB of COPY data: the COPY fails with a
// connection error, none of its rows is there, and in a transaction block the transaction is
// failed afterwards.
TEST_P(CopyCutTest, NoPartialRows) {
    const bool in_block = GetParam();
    start_behind_relay();
    constexpr long kRows = 3000;  // about 160 kB
    const long id = new_ids(kRows + 2);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    if (in_block) {
        ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
        ASSERT_EQ(sqlstate_of(c, insert_sql(id + kRows, "before copy")), "");
    } else {
        ASSERT_EQ(sqlstate_of(c, "SELECT 1"), "");  // a server connection to cut
    }
    relay_->cut_after(40000, Direction::to_server, Cut::reset);
    auto r = copy_rows(c, id, kRows, [](long i) {
        if (i % 500 == 0) std::this_thread::sleep_for(10ms);
    });
    const bool closed = PQstatus(c) != CONNECTION_OK;
    EXPECT_FALSE(r.ok()) << "COPY succeeded although its server connection was cut";
    if (!closed) {
        EXPECT_TRUE(connection_failure(r.sqlstate)) << r.sqlstate << " " << r.error;
    }
    if (in_block && !closed) {
        auto next = run(c, insert_sql(id + kRows + 1, "after copy"), 10s);
        EXPECT_FALSE(next.ok()) << "a statement after the cut COPY ran outside the failed "
                                   "transaction";
        auto commit = run(c, "COMMIT", 10s);
        EXPECT_NE(commit.ok() ? commit.command_status : "", "COMMIT")
            << "COMMIT reported success after the COPY's connection was cut";
        run(c, "ROLLBACK", 10s);
    }
    EXPECT_EQ(rows_between(id, id + kRows + 1), 0) << "rows of a cut COPY (or its transaction)";

    // COPY works again on a fresh server connection, whole.
    PgConn again;
    if (closed) {
        again = proxy_->connect_as(demo::kAlice);
        c = again.get();
    }
    const long id2 = new_ids(500);
    auto ok = copy_rows(c, id2, 500, [](long) {});
    EXPECT_TRUE(ok.ok()) << ok.sqlstate << " " << ok.error;
    EXPECT_EQ(rows_between(id2, id2 + 499), 500);
    expect_bystander_works(*proxy_);
}

INSTANTIATE_TEST_SUITE_P(Modes, CopyCutTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "InTransactionBlock" : "Autocommit";
                         });

// --- Corrupt: one of PostgreSQL's messages cannot be framed ---

struct CorruptRowCase {
    const char* name;
    uint32_t length;  // written into the broken row's header
    bool in_block;
    bool extended;
};

class CorruptRowTest : public FaultTest, public ::testing::WithParamInterface<CorruptRowCase> {};

// The server's stream breaks in the middle of a large result: a row's length is too short for
// a header, longer than any message pgtenant accepts, or frames the rest wrongly (the row's
// body is then read as messages that no request explains). The rows before it take the relay's
// short way, the broken one cannot: pgtenant cannot follow that connection any further, so it
// closes it and answers the statement with a connection error. Nothing of the open
// transaction is committed, the client goes on, the same query then returns every row, and
// no other client notices.
TEST_P(CorruptRowTest, EndsThatStatementOnly) {
    const auto& p = GetParam();
    start_behind_relay();
    const long id = new_ids(1);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    if (p.in_block) {
        ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
        ASSERT_EQ(sqlstate_of(c, insert_sql(id, "before the broken row")), "");
    } else {
        ASSERT_EQ(sqlstate_of(c, "SELECT 1"), "");  // a server connection between messages
    }
    relay_->corrupt_length('D', 300, p.length);
    const std::string sql = "SELECT i, repeat('x', 100) FROM generate_series(1, 2000) i";
    auto select = [&] {
        return p.extended ? run_params(c, sql + " WHERE i > $1::int", {"0"}, 10s)
                          : run(c, sql, 10s);
    };
    auto broken = select();
    EXPECT_FALSE(broken.ok()) << "a result with a row that cannot be framed succeeded";
    // A row framed wrongly but whole reaches the client as the server sent it (the client's
    // rows are passed on unread), and libpq may name it before pgtenant's error arrives.
    const bool libpq_saw_it = broken.error.find("do not agree with length") != std::string::npos;
    EXPECT_TRUE(connection_failure(broken.sqlstate) || libpq_saw_it)
        << broken.sqlstate << " " << broken.error;
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << "the client was dropped with the server connection";
    if (p.in_block) {
        auto next = run(c, insert_sql(id, "after the broken row"), 10s);
        EXPECT_FALSE(next.ok()) << "a statement ran outside the lost transaction";
        auto commit = run(c, "COMMIT", 10s);
        EXPECT_NE(commit.ok() ? commit.command_status : "", "COMMIT")
            << "COMMIT reported success after the transaction's connection was lost";
        run(c, "ROLLBACK", 10s);
    }
    EXPECT_FALSE(row_exists(id)) << "a row of the lost transaction was committed";

    auto whole = select();
    ASSERT_TRUE(whole.ok()) << whole.sqlstate << " " << whole.error;
    ASSERT_EQ(whole.rows.size(), 2000u);
    EXPECT_EQ(whole.rows.front().at(0), "1");
    EXPECT_EQ(whole.rows.back().at(0), "2000");
    EXPECT_EQ(whole.rows.back().at(1), std::string(100, 'x'));
    EXPECT_TRUE(proxy_->running());
    expect_bystander_works(*proxy_);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CorruptRowTest,
    ::testing::Values(CorruptRowCase{"TooShortSimple", 2, false, false},
                      CorruptRowCase{"TooLongExtended", 0x7ffffff0, false, true},
                      CorruptRowCase{"TooShortExtendedInBlock", 3, true, true},
                      CorruptRowCase{"TooLongSimpleInBlock", 0xffffffff, true, false},
                      // Framed, but wrongly: the row's body is read as the next messages.
                      CorruptRowCase{"EmptySimple", 4, false, false},
                      CorruptRowCase{"CutShortExtendedInBlock", 12, true, true}),
    [](const ::testing::TestParamInfo<CorruptRowCase>& info) { return info.param.name; });

// --- A FATAL, then the close ---

// PostgreSQL ends a backend (pg_terminate_backend, a timeout) with a FATAL, then closes. A
// client message that comes between the two must meet the lost transaction, not go to a server
// that is going away: COMMIT fails with 08006 and the client is idle, as when it comes after
// the close. The relay here passes the FATAL on and holds the close, so the gap stays open.
TEST_F(FaultTest, CommitBetweenAFatalAndTheCloseFails) {
    start_behind_relay();
    const long id = new_ids(1);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, insert_sql(id, "before the FATAL")), "");
    relay_->hold_closes();
    auto pids = pool_backends(su_.get(), "idle in transaction");
    ASSERT_EQ(pids.size(), 1u);
    query(su_.get(), "SELECT pg_terminate_backend(" + pids[0][0] + ", 5000)");
    // pgtenant has read the FATAL when it logs the loss.
    const auto deadline = Clock::now() + 5s;
    while (proxy_->log().find("57P01") == std::string::npos && Clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    auto commit = run(c, "COMMIT", 10s);
    EXPECT_FALSE(commit.ok());
    EXPECT_EQ(commit.sqlstate, "08006") << commit.error;
    EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
    relay_->resume();
    EXPECT_FALSE(row_exists(id)) << "a row of the terminated transaction was committed";
    EXPECT_EQ(sqlstate_of(c, "SELECT 1"), "");
    expect_bystander_works(*proxy_);
}

// --- The binding's own reply breaks ---

struct BrokenBindingCase {
    const char* name;
    uint32_t length;  // written into the binding's DataRow header
    bool extended;
};

class BrokenBindingTest : public FaultTest,
                          public ::testing::WithParamInterface<BrokenBindingCase> {};

// The first DataRow a leased connection sends is the binding's: the relay usually drops the
// binding's four replies in one step, after checking each is whole and has its tag. A row
// whose length cannot be framed, or that frames the rest of the stream wrongly (an empty row:
// its body is then read as the next messages), must not pass that step nor be taken for a
// bound transaction: the statement fails with a connection error, nothing of it is committed,
// and the next one runs bound to the client's own practice on a fresh connection.
TEST_P(BrokenBindingTest, FailsThatTransactionOnly) {
    const auto& p = GetParam();
    auto options = small_pool();
    options.pool_size = 1;  // the one connection armed is the one the client gets
    start_behind_relay(options);
    const long id = new_ids(1);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    ASSERT_EQ(sqlstate_of(c, "SELECT 1"), "");  // the connection, idle in the pool
    relay_->corrupt_length('D', 1, p.length);
    // Simple: a block opened and written in the same Query, which must be rolled back.
    // Extended: a read (a write outside a block would commit before the reply is seen, as on
    // any connection lost after sending).
    auto broken =
        p.extended
            ? run_params(c, "SELECT count(*) FROM patients WHERE $1::text = 'x'", {"x"}, 10s)
            : run(c, "BEGIN; " + insert_sql(id, "after a broken binding") + " RETURNING 'x'", 10s);
    EXPECT_FALSE(broken.ok()) << "a transaction whose binding reply was broken ran";
    EXPECT_TRUE(connection_failure(broken.sqlstate)) << broken.sqlstate << " " << broken.error;
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << "the client was dropped with the server connection";
    run(c, "ROLLBACK", 10s);
    EXPECT_FALSE(row_exists(id)) << "the statement behind a broken binding was committed";

    auto practices = run(c, "SELECT DISTINCT practice_id::text FROM patients", 10s);
    ASSERT_TRUE(practices.ok()) << practices.sqlstate << " " << practices.error;
    ASSERT_EQ(practices.rows.size(), 1u);
    EXPECT_EQ(practices.rows[0][0], demo::kPracticeA);
    EXPECT_TRUE(proxy_->running());
    expect_bystander_works(*proxy_);
}

INSTANTIATE_TEST_SUITE_P(Cases, BrokenBindingTest,
                         ::testing::Values(BrokenBindingCase{"TooShortSimple", 2, false},
                                           BrokenBindingCase{"TooLongExtended", 0x7ffffff0, true},
                                           BrokenBindingCase{"EmptyRowSimple", 4, false},
                                           BrokenBindingCase{"EmptyRowExtended", 4, true},
                                           BrokenBindingCase{"ShortRowSimple", 10, false}),
                         [](const ::testing::TestParamInfo<BrokenBindingCase>& info) {
                             return info.param.name;
                         });

// --- Slow: every chunk of the stream is delayed ---

TEST_F(FaultTest, SlowServerStreamStaysCorrect) {
    start_behind_relay();
    relay_->slow(30ms);
    const long id = new_ids(1000);
    auto alice = proxy_->connect_as(demo::kAlice);
    PGconn* c = alice.get();
    auto copied = copy_rows(c, id, 1000, [](long) {});
    EXPECT_TRUE(copied.ok()) << copied.sqlstate << " " << copied.error;
    for (int i = 0; i < 5; ++i) {
        const std::string token = "slow-" + std::to_string(i);
        ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
        auto rows = run(c,
                        "SELECT id FROM fault_rows WHERE id BETWEEN " + std::to_string(id) +
                            " AND " + std::to_string(id + 999) + " ORDER BY id",
                        20s);
        ASSERT_TRUE(rows.ok()) << rows.sqlstate << " " << rows.error;
        EXPECT_EQ(rows.rows.size(), 1000u);
        auto echo = run_params(c, "SELECT $1::text", {token}, 20s);
        ASSERT_TRUE(echo.ok()) << echo.sqlstate << " " << echo.error;
        EXPECT_EQ(echo.rows.at(0).at(0), token);
        EXPECT_EQ(run(c, "COMMIT", 20s).command_status, "COMMIT");
    }
    relay_->resume();
    EXPECT_EQ(rows_between(id, id + 999), 1000);
    expect_bystander_works(*proxy_);
}

}  // namespace
}  // namespace pgtenant::testing
