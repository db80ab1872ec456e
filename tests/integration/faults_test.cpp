// The network and the server misbehaving under pgtenant: a test-owned relay between pgtenant
// and PostgreSQL stalls, cuts and slows the stream; PostgreSQL restarts under load and goes
// down; pgtenant runs out of descriptors; 5,000 connections arrive at once (issue 14, fault
// tests). Every case checks what the client saw and, through the superuser, that every row a
// client saw committed is there and no other row is.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "auth/scram.h"
#include "tests/support/fault_relay.h"
#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/pool_watch.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Direction = FaultRelay::Direction;
using Cut = FaultRelay::Cut;

constexpr int kPoolSize = 2;

const auto* const kEnv = register_integration_env();

long ms_since(Clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// A lost server connection is reported as a connection failure (08xxx) or as the server
// shutting down (57Pxx), never without a SQLSTATE.
bool connection_failure(const std::string& sqlstate) {
    return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

std::string insert_sql(long id, const std::string& note) {
    return "INSERT INTO fault_rows (id, note) VALUES (" + std::to_string(id) + ", '" + note + "')";
}

class FaultTest : public ProxyTest {
  protected:
    static void SetUpTestSuite() {
        integration_env().cluster().psql_command(
            "CREATE TABLE IF NOT EXISTS fault_rows (id bigint PRIMARY KEY, note text); "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON fault_rows TO pgtenant_pool");
    }

    void SetUp() override { su_ = env().superuser(); }

    void TearDown() override {
        if (proxy_ && !proxy_->running()) {
            ADD_FAILURE() << "pgtenant died (status " << proxy_->exit_status() << "); log tail:\n"
                          << proxy_->tail_log(60);
        } else if (proxy_ && HasFailure()) {
            std::cerr << "----- pgtenant log tail -----\n"
                      << proxy_->tail_log(40) << "\n-----------------------------\n";
        }
        proxy_.reset();  // before the relay it talks through
        relay_.reset();
        ProxyTest::TearDown();
    }

    // A pgtenant whose server connections go through a fresh relay.
    void start_behind_relay(PgtenantOptions options = small_pool()) {
        relay_ = std::make_unique<FaultRelay>(env().cluster().port());
        options.backend_port = relay_->port();
        proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    }

    static PgtenantOptions small_pool() {
        PgtenantOptions options;
        options.pool_size = kPoolSize;
        options.wait_timeout_ms = 3000;
        options.extra_toml["backend"].push_back("connect_timeout_ms = 2000");
        return options;
    }

    // A block of ids no other case uses.
    long new_ids(long count) {
        const long first = next_id_;
        next_id_ += count;
        return first;
    }

    bool row_exists(long id) {
        return query(su_.get(), "SELECT count(*) FROM fault_rows WHERE id = " + std::to_string(id))
                   .at(0)
                   .at(0) == "1";
    }

    long rows_between(long first, long last) {
        return std::stol(query(su_.get(), "SELECT count(*) FROM fault_rows WHERE id BETWEEN " +
                                              std::to_string(first) + " AND " +
                                              std::to_string(last))
                             .at(0)
                             .at(0));
    }

    // Another practice's client runs a transaction through the proxy and commits a row.
    void expect_bystander_works(Pgtenant& proxy) {
        const long id = new_ids(1);
        auto bob = try_connect(proxy.conninfo(demo::kBob), 10s);
        ASSERT_TRUE(bob.ok()) << "bystander login: " << bob.sqlstate << " " << bob.message;
        PGconn* c = bob.conn.get();
        // The pool may still hold a connection that died with the fault: one retry.
        auto begin = run(c, "BEGIN", 10s);
        if (!begin.ok()) begin = run(c, "BEGIN", 10s);
        ASSERT_TRUE(begin.ok()) << "bystander BEGIN: " << begin.sqlstate << " " << begin.error;
        auto ins = run(c, insert_sql(id, "bystander"), 10s);
        EXPECT_TRUE(ins.ok()) << "bystander INSERT: " << ins.sqlstate << " " << ins.error;
        auto echo = run_params(c, "SELECT $1::text", {"bystander-" + std::to_string(id)}, 10s);
        ASSERT_TRUE(echo.ok()) << echo.sqlstate << " " << echo.error;
        EXPECT_EQ(echo.rows.at(0).at(0), "bystander-" + std::to_string(id));
        auto commit = run(c, "COMMIT", 10s);
        EXPECT_EQ(commit.command_status, "COMMIT") << commit.sqlstate << " " << commit.error;
        EXPECT_TRUE(row_exists(id)) << "the bystander's committed row is missing";
    }

    static long next_id_;
    PgConn su_;
    std::unique_ptr<FaultRelay> relay_;
    std::unique_ptr<Pgtenant> proxy_;
};

long FaultTest::next_id_ = 1;

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

// --- PostgreSQL restarts while clients run transactions ---

// One client's transactions, each of two INSERTs with a pause between. A transaction whose
// COMMIT said COMMIT must be there whole; one that failed before COMMIT must be absent, and
// after its first error every statement up to ROLLBACK must fail; one whose COMMIT failed is
// in doubt (the reply may have been lost after the commit) but never half there.
struct TxLog {
    std::mutex mu;
    std::vector<long> committed;      // first id of each; the second is id + 1
    std::vector<long> failed;         // failed before COMMIT
    std::vector<long> in_doubt;       // COMMIT failed
    std::vector<std::string> errors;  // SQLSTATEs clients saw
    std::vector<std::string> violations;
};

void transactions_until(Pgtenant& proxy, const std::string& login, long first_id,
                        const std::atomic<bool>& stop, TxLog& log,
                        std::atomic<long>& committed_after_restart,
                        const std::atomic<bool>& restarted) {
    PgConn conn;
    for (long id = first_id; !stop; id += 2) {
        if (!conn) {
            auto o = try_connect(proxy.conninfo(login), 5s);
            if (!o.ok()) {
                std::lock_guard lock(log.mu);
                log.errors.push_back("login " + o.sqlstate);
                std::this_thread::sleep_for(100ms);
                continue;
            }
            conn = std::move(o.conn);
        }
        PGconn* c = conn.get();
        // A BEGIN that fails leaves no transaction (like any failed statement outside one):
        // the client just tries again.
        auto begin = run(c, "BEGIN", 10s);
        if (!begin.ok()) {
            std::lock_guard lock(log.mu);
            log.errors.push_back(begin.sqlstate.empty() ? "(none)" : begin.sqlstate);
            if (PQstatus(c) != CONNECTION_OK) conn.reset();
            std::this_thread::sleep_for(20ms);
            continue;
        }
        const std::vector<std::string> steps = {insert_sql(id, "tx"), "SELECT pg_sleep(0.02)",
                                                insert_sql(id + 1, "tx")};
        std::optional<std::string> failed_at;
        std::string violation;
        try {
            // Like a script without ON_ERROR_STOP: after an error, the rest is sent anyway and
            // must fail until the ROLLBACK.
            for (const auto& sql : steps) {
                auto r = run(c, sql, 10s);
                if (PQstatus(c) != CONNECTION_OK) {
                    failed_at = r.ok() ? "closed" : r.sqlstate;
                    break;
                }
                if (!r.ok() && !failed_at) {
                    failed_at = r.sqlstate.empty() ? "(none)" : r.sqlstate;
                    {
                        std::lock_guard lock(log.mu);
                        log.errors.push_back(*failed_at);
                    }
                    // Go on once the server is back (the restart takes about a second): the
                    // rest of this transaction must fail then too, not run in autocommit.
                    std::this_thread::sleep_for(2s);
                } else if (r.ok() && failed_at && violation.empty()) {
                    violation = "'" + sql + "' succeeded after an error (" + *failed_at +
                                ") in the same transaction;";
                }
            }
            if (PQstatus(c) == CONNECTION_OK) {
                auto commit = run(c, "COMMIT", 10s);
                std::lock_guard lock(log.mu);
                if (failed_at) {
                    if (commit.ok() && commit.command_status == "COMMIT")
                        violation += " COMMIT said COMMIT after an error (" + *failed_at + ")";
                    log.failed.push_back(id);
                    run(c, "ROLLBACK", 10s);
                } else if (commit.ok() && commit.command_status == "COMMIT") {
                    log.committed.push_back(id);
                    if (restarted) ++committed_after_restart;
                } else {
                    log.in_doubt.push_back(id);
                    log.errors.push_back("COMMIT " + commit.sqlstate);
                    run(c, "ROLLBACK", 10s);
                }
            } else {
                std::lock_guard lock(log.mu);
                (failed_at ? log.failed : log.in_doubt).push_back(id);
                conn.reset();
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(log.mu);
            log.in_doubt.push_back(id);
            log.errors.push_back(std::string("exception ") + e.what());
            conn.reset();
        }
        if (!violation.empty()) {
            std::lock_guard lock(log.mu);
            log.violations.push_back(login + " tx " + std::to_string(id) + ": " + violation);
        }
    }
}

TEST_F(FaultTest, PostgresRestartUnderLoad) {
    PgtenantOptions options = small_pool();
    options.pool_size = 4;
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);  // straight to PostgreSQL
    constexpr int kClients = 4;
    const long base = new_ids(kClients * 100'000);
    std::atomic<bool> stop{false}, restarted{false};
    std::atomic<long> after_restart{0};
    TxLog log;
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(transactions_until, std::ref(*proxy_),
                             i % 2 ? demo::kBob : demo::kAlice, base + i * 100'000, std::cref(stop),
                             std::ref(log), std::ref(after_restart), std::cref(restarted));
    }
    std::this_thread::sleep_for(1500ms);
    const auto t0 = Clock::now();
    env().cluster().restart("fast");
    restarted = true;
    const long restart_ms = ms_since(t0);
    su_ = env().superuser();
    std::this_thread::sleep_for(4s);
    stop = true;
    for (auto& t : clients) t.join();

    EXPECT_TRUE(proxy_->running());
    std::string violations;
    for (const auto& v : log.violations) violations += "  " + v + "\n";
    EXPECT_TRUE(log.violations.empty())
        << log.violations.size() << " transactions went on after an error:\n"
        << violations;
    for (const auto& e : log.errors) {
        EXPECT_TRUE(connection_failure(e) || e.rfind("COMMIT ", 0) == 0 || e == "25P02")
            << "unexpected error during the restart: " << e;
    }
    EXPECT_GT(after_restart.load(), 0) << "no transaction committed after the restart";
    for (long id : log.committed) {
        EXPECT_TRUE(row_exists(id) && row_exists(id + 1))
            << "committed transaction " << id << " is not there whole";
    }
    for (long id : log.failed) {
        EXPECT_FALSE(row_exists(id) || row_exists(id + 1))
            << "transaction " << id << " failed before COMMIT but has rows committed";
    }
    for (long id : log.in_doubt) {
        EXPECT_EQ(row_exists(id), row_exists(id + 1)) << "transaction " << id << " is half there";
    }
    std::cout << "[ restart ] pg_ctl restart took " << restart_ms << " ms; committed "
              << log.committed.size() << " (" << after_restart.load() << " after), failed "
              << log.failed.size() << ", in doubt " << log.in_doubt.size() << "\n";
    expect_bystander_works(*proxy_);
}

// --- PostgreSQL down ---

std::size_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// While PostgreSQL is down, clients get 57P03 at once, pgtenant does not hammer the server
// address with a connect per request, and its log stays small; once PostgreSQL is back,
// clients are served again.
TEST_F(FaultTest, PostgresDownAnswers57P03QuicklyWithoutFloodingTheLog) {
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), small_pool());  // straight to PostgreSQL
    const long id = new_ids(1'000'000);
    const long after_id = id + 999'999;  // inserted once PostgreSQL is back
    constexpr int kClients = 4;
    std::vector<PgConn> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(proxy_->connect_as(i % 2 ? demo::kBob : demo::kAlice));
        ASSERT_EQ(sqlstate_of(clients.back().get(), "SELECT 1"), "");
    }
    auto& cluster = env().cluster();
    cluster.stop("fast");
    struct Restart {
        PgCluster& cluster;
        bool done = false;
        ~Restart() {
            if (!done) cluster.start();
        }
    } restart{cluster};

    std::atomic<bool> stop{false};
    std::atomic<long> requests{0}, slow{0};
    std::mutex mu;
    std::map<std::string, long> states;  // SQLSTATE -> count
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            PGconn* c = clients[static_cast<std::size_t>(i)].get();
            for (long n = 0; !stop; ++n) {
                const auto asked = Clock::now();
                auto r = run(c, insert_sql(id + i * 250'000 + n, "while down"), 10s);
                if (ms_since(asked) > 1000) ++slow;
                ++requests;
                std::lock_guard lock(mu);
                ++states[r.ok() ? "ok" : (PQstatus(c) != CONNECTION_OK ? "closed" : r.sqlstate)];
                if (PQstatus(c) != CONNECTION_OK) break;
            }
        });
    }
    std::this_thread::sleep_for(500ms);  // the first errors (lost idle connections) are logged
    const std::string log_before = proxy_->log();
    const long requests_before = requests.load();
    std::this_thread::sleep_for(3s);
    const std::string log_after = proxy_->log();
    const long requests_during = requests.load() - requests_before;
    stop = true;
    for (auto& t : threads) t.join();

    // A fresh login while down: pgtenant authenticates by itself.
    const auto asked = Clock::now();
    auto fresh = try_connect(proxy_->conninfo(demo::kBob), 5s);
    EXPECT_LT(ms_since(asked), 2000);
    if (fresh.ok()) {
        auto r = run(fresh.conn.get(), "SELECT 1", 5s);
        EXPECT_EQ(r.sqlstate, "57P03") << r.error;
    } else {
        EXPECT_EQ(fresh.sqlstate, "57P03") << fresh.message;
    }

    std::string seen;
    for (const auto& [state, n] : states) seen += state + " x" + std::to_string(n) + " ";
    EXPECT_EQ(states.size(), 1u) << "clients saw: " << seen;
    EXPECT_GT(states["57P03"], 0) << "clients saw: " << seen;
    EXPECT_EQ(slow.load(), 0) << "answers that took over a second while the server was down";
    EXPECT_GT(requests_during, 100) << "too few requests to judge the log by";
    const std::size_t grown_lines = count_lines(log_after) - count_lines(log_before);
    const std::size_t grown_bytes = log_after.size() - log_before.size();
    EXPECT_LT(grown_lines, 100u) << "pgtenant logged " << grown_lines << " lines (" << grown_bytes
                                 << " bytes) in 3 s for " << requests_during
                                 << " requests while PostgreSQL was down; last lines:\n"
                                 << proxy_->tail_log(5);
    std::cout << "[ down ] " << requests_during << " requests in 3 s: log grew by " << grown_lines
              << " lines, " << grown_bytes << " bytes; clients saw " << seen << "\n";

    cluster.start();
    restart.done = true;
    su_ = env().superuser();
    // Served again soon (a backoff may delay the first attempt a little).
    const auto back = Clock::now();
    QueryResult r;
    while (ms_since(back) < 10000) {
        r = run(clients[0].get(), insert_sql(after_id, "after restart"), 5s);
        if (r.ok()) break;
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_TRUE(r.ok()) << "not served 10 s after PostgreSQL came back: " << r.sqlstate << " "
                        << r.error;
    std::cout << "[ down ] served again " << ms_since(back) << " ms after PostgreSQL started\n";
    EXPECT_EQ(rows_between(id, id + 999'998), 0) << "INSERTs answered with errors are there";
    EXPECT_TRUE(row_exists(after_id));
    expect_bystander_works(*proxy_);
}

// --- Out of file descriptors ---

// pgtenant with 64 descriptors: clients beyond what fits get 53300 at once, the ones logged in
// keep working (their transactions commit), and once clients leave, new ones are served.
TEST_F(FaultTest, DescriptorExhaustionRefusesWith53300AndRecovers) {
    PgtenantOptions options = small_pool();
    options.min_idle = kPoolSize;  // server connections opened before the descriptors run out
    options.nofile_limit = 64;
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    for (auto until = Clock::now() + 5s;
         static_cast<int>(sample_pool(su_.get()).pids.size()) < kPoolSize && Clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
    }
    constexpr int kTries = 100;
    const long id = new_ids(kTries + 1);
    std::vector<PgConn> in;
    std::map<std::string, int> refused;
    long slowest_refusal_ms = 0;
    for (int i = 0; i < kTries; ++i) {
        const auto asked = Clock::now();
        auto o = try_connect(proxy_->conninfo(i % 2 ? demo::kBob : demo::kAlice), 5s);
        if (o.ok()) {
            in.push_back(std::move(o.conn));
        } else {
            ++refused[o.sqlstate.empty() ? o.message : o.sqlstate];
            slowest_refusal_ms = std::max(slowest_refusal_ms, ms_since(asked));
        }
    }
    std::string seen;
    for (const auto& [why, n] : refused) seen += why + " x" + std::to_string(n) + "; ";
    EXPECT_GT(in.size(), 10u) << "refused: " << seen;
    EXPECT_GT(refused["53300"], 0) << "refused: " << seen;
    EXPECT_EQ(refused.size(), 1u) << "refusals other than 53300: " << seen;
    EXPECT_LT(slowest_refusal_ms, 3000) << "a refused client waited";
    EXPECT_TRUE(proxy_->running());

    // The clients inside still commit, each its own row.
    int committed = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto r = run(in[i].get(), insert_sql(id + static_cast<long>(i), "inside"), 10s);
        if (r.ok()) {
            ++committed;
        } else {
            ADD_FAILURE() << "client " << i << " inside the limit: " << r.sqlstate << " "
                          << r.error;
        }
    }
    EXPECT_EQ(rows_between(id, id + kTries), committed);
    EXPECT_LE(static_cast<int>(sample_pool(su_.get()).pids.size()), kPoolSize);

    in.clear();
    PgConn back;
    for (auto until = Clock::now() + 5s; Clock::now() < until && !back;
         std::this_thread::sleep_for(100ms)) {
        auto o = try_connect(proxy_->conninfo(demo::kAlice), 3s);
        if (o.ok()) back = std::move(o.conn);
    }
    ASSERT_TRUE(back) << "no login 5 s after the clients left";
    EXPECT_EQ(sqlstate_of(back.get(), insert_sql(id + kTries, "after")), "");
    EXPECT_TRUE(row_exists(id + kTries));
    expect_bystander_works(*proxy_);
}

// --- A wave of 5,000 connections ---

// 5,000 connections opened as fast as possible: half log in (libpq, non-blocking) and insert
// a row each, reading back their own id; the other half connect and then close (at once,
// after half a startup packet, or after a whole one). pgtenant stays up and serves a
// bystander; every row a client saw inserted is there, and no other.
TEST_F(FaultTest, FiveThousandConnectionWave) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 6000 && lim.rlim_max >= 6000) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 12000);
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 6000) GTEST_SKIP() << "needs 6,000 descriptors; the hard limit is lower";

    PgtenantOptions options;
    options.pool_size = 4;
    options.wait_timeout_ms = 30000;
    // A verifier of 16 iterations: 2,500 libpq logins at 4096 would cost this one test thread
    // more than pgtenant's 15 s login timeout in PBKDF2 alone.
    const std::string wave_password = "wave-Secret-4";
    options.logins.push_back({"wave", demo::kPracticeA, wave_password, "",
                              auth::make_scram_verifier(wave_password, 16)});
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    constexpr int kWave = 5000;
    const long id = new_ids(kWave);

    struct Talker {
        PGconn* conn = nullptr;
        long id = 0;
        enum { connecting, querying, done, failed } state = connecting;
        PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
        std::string why;
    };
    struct Silent {
        int fd = -1;
        int kind = 0;  // 0: close at once, 1: half a startup packet, 2: a whole one
        bool connected = false, done = false, failed = false;
    };
    std::vector<Talker> talkers;
    std::vector<Silent> silent;
    const auto started = Clock::now();
    const std::string conninfo = proxy_->conninfo("wave");
    const std::string startup = wire::startup_message({{"user", "wave"}, {"database", "postgres"}});
    for (int i = 0; i < kWave; ++i) {
        if (i % 2 == 0) {
            Talker t;
            t.id = id + i;
            t.conn = PQconnectStart(conninfo.c_str());
            if (!t.conn || PQstatus(t.conn) == CONNECTION_BAD) {
                t.state = Talker::failed;
                t.why = "PQconnectStart";
            }
            talkers.push_back(t);
        } else {
            Silent s;
            s.kind = (i / 2) % 3;
            s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(proxy_->port());
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
            if (rc != 0 && errno != EINPROGRESS) s.failed = true;
            silent.push_back(s);
        }
    }
    const long opened_ms = ms_since(started);

    const auto deadline = started + 40s;
    std::vector<pollfd> fds;
    std::vector<std::pair<bool, std::size_t>> owner;  // talker?, index
    for (;;) {
        fds.clear();
        owner.clear();
        for (std::size_t i = 0; i < talkers.size(); ++i) {
            auto& t = talkers[i];
            if (t.state == Talker::done || t.state == Talker::failed) continue;
            short ev = POLLIN;
            if (t.state == Talker::connecting && t.poll == PGRES_POLLING_WRITING) ev = POLLOUT;
            fds.push_back({PQsocket(t.conn), ev, 0});
            owner.emplace_back(true, i);
        }
        for (std::size_t i = 0; i < silent.size(); ++i) {
            auto& s = silent[i];
            if (s.done || s.failed) continue;
            fds.push_back({s.fd, static_cast<short>(s.connected ? POLLIN : POLLOUT), 0});
            owner.emplace_back(false, i);
        }
        if (fds.empty() || Clock::now() > deadline) break;
        if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            if (owner[k].first) {
                auto& t = talkers[owner[k].second];
                if (t.state == Talker::connecting) {
                    t.poll = PQconnectPoll(t.conn);
                    if (t.poll == PGRES_POLLING_FAILED) {
                        t.state = Talker::failed;
                        t.why = PQerrorMessage(t.conn);
                    } else if (t.poll == PGRES_POLLING_OK) {
                        const std::string sql = insert_sql(t.id, "wave") + " RETURNING id";
                        if (!PQsendQuery(t.conn, sql.c_str())) {
                            t.state = Talker::failed;
                            t.why = PQerrorMessage(t.conn);
                        } else {
                            t.state = Talker::querying;
                            PQflush(t.conn);
                        }
                    }
                } else {
                    PQconsumeInput(t.conn);
                    while (t.state == Talker::querying && !PQisBusy(t.conn)) {
                        PGresult* res = PQgetResult(t.conn);
                        if (!res) {
                            if (t.why.empty())
                                t.state = Talker::done;
                            else
                                t.state = Talker::failed;
                            break;
                        }
                        auto r = to_query_result(res);
                        if (!r.ok()) {
                            t.why = r.sqlstate + " " + r.error;
                        } else if (r.rows.size() != 1 || r.rows[0][0] != std::to_string(t.id)) {
                            t.why = "inserted " + std::to_string(t.id) + ", was answered " +
                                    (r.rows.empty() ? std::string("nothing") : r.rows[0][0]);
                        }
                    }
                }
                if (t.state == Talker::done || t.state == Talker::failed) {
                    PQfinish(t.conn);
                    t.conn = nullptr;
                }
            } else {
                auto& s = silent[owner[k].second];
                if (!s.connected) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0) {
                        s.failed = true;
                    } else if (s.kind == 0) {
                        s.done = true;
                    } else {
                        s.connected = true;
                        const std::string bytes =
                            s.kind == 1 ? startup.substr(0, startup.size() / 2) : startup;
                        if (::send(s.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0)
                            s.failed = true;
                        if (s.kind == 1) s.done = true;  // and never finishes it
                    }
                } else {
                    char buf[512];
                    ::recv(s.fd, buf, sizeof buf, 0);  // the SASL request (or an error)
                    s.done = true;
                }
                if (s.done || s.failed) {
                    ::close(s.fd);
                    s.fd = -1;
                }
            }
        }
    }
    const long wave_ms = ms_since(started);
    std::map<std::string, int> why;
    int talkers_done = 0, silent_done = 0;
    std::vector<long> inserted;
    for (auto& t : talkers) {
        if (t.state == Talker::done) {
            ++talkers_done;
            inserted.push_back(t.id);
        } else {
            ++why[t.why.empty() ? "unfinished" : t.why.substr(0, 80)];
        }
        if (t.conn) PQfinish(t.conn);
    }
    for (auto& s : silent) {
        if (s.done)
            ++silent_done;
        else
            ++why[s.failed ? "silent connect failed" : "silent unfinished"];
        if (s.fd >= 0) ::close(s.fd);
    }
    std::string failures;
    for (const auto& [w, n] : why) failures += "  " + std::to_string(n) + " x " + w + "\n";
    std::cout << "[ wave ] " << kWave << " connections opened in " << opened_ms << " ms, done in "
              << wave_ms << " ms; " << talkers_done << " logged in and inserted, " << silent_done
              << " silent closed\n";
    EXPECT_TRUE(proxy_->running()) << "pgtenant died during the wave";
    EXPECT_EQ(talkers_done, kWave / 2) << failures;
    EXPECT_EQ(silent_done, kWave / 2) << failures;
    EXPECT_LT(wave_ms, 40000);
    EXPECT_EQ(rows_between(id, id + kWave - 1), static_cast<long>(inserted.size()))
        << "rows inserted by the wave: the database and the clients disagree";
    EXPECT_LE(static_cast<int>(sample_pool(su_.get()).pids.size()), options.pool_size);
    expect_bystander_works(*proxy_);
}

}  // namespace
}  // namespace pgtenant::testing
