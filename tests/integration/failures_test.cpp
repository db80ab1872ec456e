// Things going wrong mid-flight: query cancel, a backend killed under an open transaction,
// a client vanishing mid-transaction. pgtenant must answer with proper SQLSTATEs, never hang,
// and leave no transaction open on a pooled backend.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/pool_watch.h"
#include "tests/support/process.h"
#include "tests/support/tenant_checks.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const auto* const kEnv = register_integration_env();

class FailureTest : public ProxyTest {
  protected:
    // Pool-role backends in the given state, seen by the superuser.
    Rows pool_backends(const std::string& state) {
        return pgtenant::testing::pool_backends(env().superuser().get(), state);
    }

    // Polls until no pool backend is idle in transaction (aborted or not), or the timeout passes.
    bool wait_no_open_transaction(std::chrono::milliseconds timeout) {
        auto su = env().superuser();
        return pgtenant::testing::wait_no_open_transaction(su.get(), timeout);
    }
};

TEST_F(FailureTest, CancelInterruptsLongQueryAndConnectionStaysUsable) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    auto started = Clock::now();
    ASSERT_EQ(PQsendQuery(c, "SELECT pg_sleep(30)"), 1);
    std::this_thread::sleep_for(300ms);
    PGcancel* cancel = PQgetCancel(c);
    ASSERT_NE(cancel, nullptr);
    char errbuf[256] = {0};
    EXPECT_EQ(PQcancel(cancel, errbuf, sizeof errbuf), 1) << errbuf;
    PQfreeCancel(cancel);
    QueryResult result;
    auto deadline = Clock::now() + 5s;
    while (PGresult* res = next_result(c, deadline)) {
        auto r = to_query_result(res);
        if (!r.ok() && result.ok()) {
            result = r;
        }
    }
    EXPECT_EQ(result.sqlstate, "57014") << result.error;
    EXPECT_LT(Clock::now() - started, 6s);
    EXPECT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

TEST_F(FailureTest, CancelWithWrongKeyDoesNothing) {
    // A cancel request with a made-up key must not reach anyone's backend.
    auto victim = env().connect_as(demo::kBob);
    ASSERT_EQ(PQsendQuery(victim.get(), "SELECT pg_sleep(1)"), 1);
    std::this_thread::sleep_for(200ms);
    auto raw = RawSocket::connect(env().proxy().port());
    // CancelRequest: length 16, code 80877102, pid, key.
    raw.send_all(wire::be32(16) + wire::be32(80877102) + wire::be32(12345) + wire::be32(67890));
    raw.read_until_close(2s);
    QueryResult result;
    auto deadline = Clock::now() + 10s;
    while (PGresult* res = next_result(victim.get(), deadline)) {
        auto r = to_query_result(res);
        if (!r.ok() && result.ok()) {
            result = r;
        }
    }
    EXPECT_TRUE(result.ok()) << result.sqlstate << " " << result.error;
}

TEST_F(FailureTest, KilledBackendGivesErrorThenFreshBackend) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
    auto idle = pool_backends("idle in transaction");
    ASSERT_EQ(idle.size(), 1u) << "expected exactly alice's backend to be idle in transaction";
    auto su = env().superuser();
    ASSERT_EQ(query(su.get(), "SELECT pg_terminate_backend(" + idle[0][0] + ", 5000)").at(0).at(0),
              "t");

    // The next statement gets an error with a SQLSTATE: not a hang, not a dropped socket.
    auto r = run(c, "SELECT count(*) FROM patients", 10s);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.sqlstate.empty()) << "error without SQLSTATE: " << r.error;
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << "pgtenant dropped the client: " << PQerrorMessage(c);

    // The client's transaction is over; the following one runs on a fresh backend, bound.
    auto after = run(c, "ROLLBACK");
    (void)after;  // a warning or success are both fine: the transaction is gone either way
    auto rows = query(c, "SELECT * FROM patients");
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    EXPECT_EQ(query(c, "SELECT current_setting('app.current_practice_id')").at(0).at(0),
              demo::kPracticeA);
    EXPECT_EQ(query(c, "SELECT count(*) FROM meal_logs").at(0).at(0),
              std::to_string(demo::kMealLogsA));
    ASSERT_EQ(sqlstate_of(c, "COMMIT"), "");
    EXPECT_NE(query(c, "SELECT pg_backend_pid()").at(0).at(0), idle[0][0]);
}

TEST_F(FailureTest, OtherClientsSurviveAKilledBackend) {
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN; SELECT 1"), "");
    auto idle = pool_backends("idle in transaction");
    ASSERT_EQ(idle.size(), 1u);
    auto su = env().superuser();
    query(su.get(), "SELECT pg_terminate_backend(" + idle[0][0] + ", 5000)");
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(query(bob.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsB));
    }
    run(alice.get(), "SELECT 1", 10s);
    run(alice.get(), "ROLLBACK", 10s);
}

void disconnect_mid_transaction(IntegrationEnv& env, const std::string& marker, bool abrupt) {
    auto conn = env.connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeA + "', '" + marker + "')"),
              "");
    if (abrupt) {
        // No Terminate message: the socket just goes away, as when a client process dies.
        ::shutdown(PQsocket(c), SHUT_RDWR);
    }
    conn.reset();
}

TEST_F(FailureTest, AbruptDisconnectMidTransactionRollsBack) {
    disconnect_mid_transaction(env(), "Vanishing Vera", true);
    EXPECT_TRUE(wait_no_open_transaction(5s)) << "a pool backend is still idle in transaction";
    auto su = env().superuser();
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM patients WHERE name = 'Vanishing Vera'").at(0).at(0),
        "0");
    // The backend went back to the pool in a usable state.
    auto bob = env().connect_as(demo::kBob);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(query(bob.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsB));
    }
}

TEST_F(FailureTest, TerminateMidTransactionRollsBack) {
    disconnect_mid_transaction(env(), "Polite Pete", false);
    EXPECT_TRUE(wait_no_open_transaction(5s)) << "a pool backend is still idle in transaction";
    auto su = env().superuser();
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM patients WHERE name = 'Polite Pete'").at(0).at(0),
        "0");
}

// The backend of an open transaction dies while idle: the client must stay in a failed
// transaction until it ends it, never drift into autocommit with the rest of its work.
TEST_F(FailureTest, LostTransactionNeverFallsIntoAutocommit) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    auto insert = [&](const std::string& name) {
        return "INSERT INTO patients (practice_id, name) VALUES ('" + demo::kPracticeA + "', '" +
               name + "')";
    };
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, insert("Half Hannah 1")), "");
    auto idle = pool_backends("idle in transaction");
    ASSERT_EQ(idle.size(), 1u);
    auto su = env().superuser();
    query(su.get(), "SELECT pg_terminate_backend(" + idle[0][0] + ", 5000)");

    auto first = run(c, insert("Half Hannah 2"), 10s);
    EXPECT_FALSE(first.ok());
    EXPECT_EQ(first.sqlstate, "08006") << first.error;
    EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INERROR);
    auto second = run(c, insert("Half Hannah 3"), 10s);
    EXPECT_EQ(second.sqlstate, "25P02") << second.error;
    EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INERROR);
    // COMMIT of a failed transaction reports ROLLBACK, as PostgreSQL does.
    PGresult* commit = PQexec(c, "COMMIT");
    EXPECT_STREQ(PQcmdStatus(commit), "ROLLBACK");
    PQclear(commit);
    EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM patients WHERE name LIKE 'Half Hannah%'").at(0).at(0),
        "0");
    // And the client goes on normally, bound to its practice.
    EXPECT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

// A COMMIT as the first message after the loss must fail: the client has not seen its
// transaction fail, and must not read success.
TEST_F(FailureTest, CommitAfterASilentLossFails) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
    ASSERT_EQ(sqlstate_of(c, "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeA + "', 'Silent Sam')"),
              "");
    auto idle = pool_backends("idle in transaction");
    ASSERT_EQ(idle.size(), 1u);
    auto su = env().superuser();
    query(su.get(), "SELECT pg_terminate_backend(" + idle[0][0] + ", 5000)");
    auto commit = run(c, "COMMIT", 10s);
    EXPECT_FALSE(commit.ok());
    EXPECT_EQ(commit.sqlstate, "08006") << commit.error;
    EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM patients WHERE name = 'Silent Sam'").at(0).at(0),
        "0");
}

// The backend dies while a statement of an open transaction runs: that statement fails and the
// transaction stays failed. In autocommit the client is simply idle again.
TEST_F(FailureTest, BackendKilledMidStatementLeavesAFailedTransactionOnlyInsideOne) {
    auto su = env().superuser();
    auto kill_running = [&] {
        for (auto until = Clock::now() + 5s; Clock::now() < until;
             std::this_thread::sleep_for(50ms)) {
            auto active = pool_backends("active");
            if (!active.empty()) {
                query(su.get(), "SELECT pg_terminate_backend(" + active[0][0] + ", 5000)");
                return;
            }
        }
        FAIL() << "no active pool backend";
    };
    for (bool in_block : {true, false}) {
        SCOPED_TRACE(in_block ? "in a transaction block" : "autocommit");
        auto conn = env().connect_as(demo::kAlice);
        PGconn* c = conn.get();
        if (in_block) {
            ASSERT_EQ(sqlstate_of(c, "BEGIN"), "");
        }
        std::thread killer(kill_running);
        auto r = run(c, "SELECT pg_sleep(5)", 10s);
        killer.join();
        EXPECT_FALSE(r.ok());
        EXPECT_FALSE(r.sqlstate.empty()) << r.error;
        ASSERT_EQ(PQstatus(c), CONNECTION_OK);
        if (in_block) {
            EXPECT_EQ(PQtransactionStatus(c), PQTRANS_INERROR);
            EXPECT_EQ(sqlstate_of(c, "SELECT 1"), "25P02");
            EXPECT_EQ(sqlstate_of(c, "ROLLBACK"), "");
        }
        EXPECT_EQ(PQtransactionStatus(c), PQTRANS_IDLE);
        EXPECT_EQ(sqlstate_of(c, "SELECT 1"), "");
    }
}

// A client that pipelines statements of a transaction and vanishes before reading the replies
// must not leave its server connection idle in transaction, nor have the rest of its pipeline
// run elsewhere in autocommit.
TEST_F(FailureTest, PipelinedThenAbandonedTransactionLeavesNothingOpen) {
    for (int round = 0; round < 6; ++round) {
        SCOPED_TRACE(round);
        auto conn = env().connect_as(demo::kAlice);
        auto sock = RawSocket::borrow(PQsocket(conn.get()));
        const std::string marker = "Pipelined Pat " + std::to_string(round);
        std::string pipeline = wire::query("BEGIN") + wire::query("BEGIN") + wire::query("BEGIN");
        if (round % 2) {
            pipeline = wire::query("BEGIN") +
                       wire::query("INSERT INTO patients (practice_id, name) VALUES ('" +
                                   demo::kPracticeA + "', '" + marker + "')");
        }
        ASSERT_TRUE(sock.send_all(pipeline));
        const int fd = PQsocket(conn.get());
        if (round >= 4) {
            ::shutdown(fd, SHUT_RDWR);  // FIN, replies never read
        } else {
            // RST: closed with linger 0. The descriptor number is kept (on /dev/null) for
            // libpq to close later, so that it never writes to another socket.
            struct linger hard {
                1, 0
            };
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            ::dup2(devnull, fd);
            ::close(devnull);
        }
        EXPECT_TRUE(wait_no_open_transaction(3s)) << "a pool backend stayed idle in transaction";
        auto su = env().superuser();
        EXPECT_EQ(query(su.get(), "SELECT count(*) FROM patients WHERE name = '" + marker + "'")
                      .at(0)
                      .at(0),
                  "0");
    }
    auto bob = env().connect_as(demo::kBob);
    EXPECT_EQ(sqlstate_of(bob.get(), "SELECT 1"), "");
}

// CPU seconds (user + system) a process has used so far.
double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
    }
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Out of file descriptors: pgtenant must not spin on accept() (it once retried at once, at
// 100 % CPU, logging each failure), must refuse waiting clients with 53300 instead of leaving
// them queued until they time out, and serves again once descriptors are free.
TEST_F(FailureTest, OutOfFileDescriptorsPausesAcceptAndRecovers) {
    Pgtenant own(env().cluster());
    auto limit = run_command({"prlimit", "--pid", std::to_string(own.pid()), "--nofile=40:40"});
    ASSERT_TRUE(limit.ok()) << limit.describe();
    std::vector<RawSocket> flood;
    for (int i = 0; i < 80; ++i)
        flood.push_back(RawSocket::connect(own.port()));  // queued beyond the limit
    std::this_thread::sleep_for(300ms);
    const double before = cpu_seconds(own.pid());
    std::this_thread::sleep_for(1500ms);
    const double spent = cpu_seconds(own.pid()) - before;
    EXPECT_LT(spent, 0.5) << "pgtenant busy while out of descriptors\n" << own.tail_log(20);
    EXPECT_TRUE(own.running());
    // A client arriving now is told why at once (53300), not left waiting for its timeout.
    const auto asked = Clock::now();
    PGconn* refused = PQconnectdb((own.conninfo(demo::kAlice) + " connect_timeout=10").c_str());
    const auto waited = Clock::now() - asked;
    EXPECT_NE(PQstatus(refused), CONNECTION_OK);
    EXPECT_NE(std::string(PQerrorMessage(refused)).find("out of file descriptors"),
              std::string::npos)
        << PQerrorMessage(refused);
    EXPECT_LT(waited, 3s);
    PQfinish(refused);
    flood.clear();
    // pgtenant frees the flood's descriptors as it notices the closes: serving resumes shortly.
    PGconn* client = nullptr;
    for (auto until = Clock::now() + 5s; Clock::now() < until; std::this_thread::sleep_for(100ms)) {
        client = PQconnectdb(own.conninfo(demo::kAlice).c_str());
        if (PQstatus(client) == CONNECTION_OK) break;
        PQfinish(client);
        client = nullptr;
    }
    ASSERT_NE(client, nullptr) << own.tail_log(20);
    EXPECT_EQ(sqlstate_of(client, "SELECT count(*) FROM patients"), "");
    PQfinish(client);
}

}  // namespace
}  // namespace pgtenant::testing
