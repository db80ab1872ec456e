// A binary upgrade that drops no client (server.handover_socket): a new pgtenant started with
// the same port and handover socket takes every client of the old one over as it comes between
// transactions, with its session - settings, prepared statements (protocol and SQL level), the
// unnamed statement, its cancel key - and the client notices nothing. A transaction open at the
// time commits on the old process first; the old process then exits 0.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/temp_dir.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

class HandoverTest : public ProxyTest {
  protected:
    PgtenantOptions options(uint16_t port = 0) {
        PgtenantOptions o;
        o.shutdown_timeout_s = 20;
        o.listen_port = port;
        o.extra_toml["server"].push_back("so_reuseport = true");
        o.extra_toml["server"].push_back("handover_socket = \"" + socket_path() + "\"");
        return o;
    }
    std::string socket_path() { return (dir_.path() / "handover.sock").string(); }
    static bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
        return done();
    }
    static std::string scalar(PGconn* c, const std::string& sql) {
        return query(c, sql).at(0).at(0);
    }
    std::string count(const std::string& name) {
        auto direct = env().superuser();
        return scalar(direct.get(), "SELECT count(*) FROM patients WHERE name = '" + name + "'");
    }
    std::string count_like(const std::string& pattern) {
        auto direct = env().superuser();
        return scalar(direct.get(),
                      "SELECT count(*) FROM patients WHERE name LIKE '" + pattern + "'");
    }
    std::string insert(const std::string& practice, const std::string& name) {
        return "INSERT INTO patients (practice_id, name) VALUES ('" + practice + "', '" + name +
               "')";
    }
    TempDir dir_{"pgtenant-handover"};
};

TEST_F(HandoverTest, ClientsMoveToTheSuccessorWithTheirSessions) {
    Pgtenant old_one(env().cluster(), options());
    ASSERT_TRUE(
        wait_for([&] { return old_one.log().find("successor can take") != std::string::npos; }, 5s))
        << old_one.log();

    // Alice's session: settings, a named protocol statement, a SQL-level one, the unnamed one.
    auto alice = old_one.connect_as(demo::kAlice);
    query(alice.get(), "SET statement_timeout = '12s'");
    query(alice.get(), "SET application_name = 'before-upgrade'");
    PGresult* res = PQprepare(alice.get(), "count_named",
                              "SELECT count(*) FROM patients WHERE $1::int > 0", 0, nullptr);
    ASSERT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQerrorMessage(alice.get());
    PQclear(res);
    query(alice.get(), "PREPARE sql_level(int) AS SELECT $1 + 1");
    const std::string alice_rows = scalar(alice.get(), "SELECT count(*) FROM patients");
    // Bob is inside a transaction when the upgrade begins.
    auto bob = old_one.connect_as(demo::kBob);
    query(bob.get(), "BEGIN");
    query(bob.get(), insert(demo::kPracticeB, "handover-b1"));

    auto same = options(old_one.port());
    same.key_file = old_one.dir() / "pgtenant.key";
    Pgtenant new_one(env().cluster(), same);
    ASSERT_TRUE(wait_for(
        [&] { return new_one.log().find("taking the clients over") != std::string::npos; }, 10s))
        << new_one.log();
    // Alice moves at once, between two of her statements.
    ASSERT_TRUE(wait_for(
        [&] { return old_one.log().find("handed over to the successor") != std::string::npos; },
        5s))
        << old_one.log();
    EXPECT_EQ(scalar(alice.get(), "SHOW statement_timeout"), "12s");
    EXPECT_EQ(scalar(alice.get(), "SHOW application_name"), "before-upgrade");
    const char* one[] = {"1"};
    res = PQexecPrepared(alice.get(), "count_named", 1, one, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(alice.get());
    EXPECT_EQ(std::string(PQgetvalue(res, 0, 0)), alice_rows);
    PQclear(res);
    EXPECT_EQ(scalar(alice.get(), "EXECUTE sql_level(41)"), "42");
    // Still practice A's rows only, now served by the new process.
    auto practices = query(alice.get(), "SELECT DISTINCT practice_id FROM patients");
    ASSERT_EQ(practices.size(), 1u);
    EXPECT_EQ(practices[0][0], demo::kPracticeA);
    EXPECT_NE(new_one.log().find("taken over from the old process"), std::string::npos);

    // Bob's transaction was not cut: it commits (on the old process), then Bob moves too.
    EXPECT_TRUE(old_one.running());
    query(bob.get(), insert(demo::kPracticeB, "handover-b2"));
    EXPECT_EQ(run(bob.get(), "COMMIT").command_status, "COMMIT");
    EXPECT_EQ(count("handover-b1"), "1");
    EXPECT_EQ(count("handover-b2"), "1");
    ASSERT_TRUE(wait_for([&] { return !old_one.running(); }, 10s)) << old_one.log();
    EXPECT_TRUE(WIFEXITED(old_one.exit_status()) && WEXITSTATUS(old_one.exit_status()) == 0);
    EXPECT_EQ(scalar(bob.get(), "SELECT count(*) FROM patients WHERE name LIKE 'handover-b%'"),
              "2");
    EXPECT_EQ(scalar(bob.get(), "SELECT DISTINCT practice_id::text FROM patients"),
              demo::kPracticeB);

    // The cancel key the client got from the old process still cancels, on the new one.
    PQsendQuery(alice.get(), "SELECT pg_sleep(20)");
    std::this_thread::sleep_for(300ms);
    PGcancel* cancel = PQgetCancel(alice.get());
    char err[256];
    ASSERT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
    PQfreeCancel(cancel);
    const auto started = std::chrono::steady_clock::now();
    auto r = to_query_result(PQgetResult(alice.get()));
    while (PGresult* rest = PQgetResult(alice.get())) PQclear(rest);
    EXPECT_EQ(r.sqlstate, "57014") << r.error;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);

    // And the new process takes the next upgrade's successor: it listens on the socket now.
    EXPECT_TRUE(
        wait_for([&] { return new_one.log().find("successor can take") != std::string::npos; }, 5s))
        << new_one.log();
    auto fresh = new_one.connect_as(demo::kAlice);
    EXPECT_EQ(scalar(fresh.get(), "SELECT 1"), "1");
}

// Clients busy throughout the upgrade - each committing a row per transaction, back to back -
// never see an error: every row they were told was committed is there, and none other. A
// session-pooled client cannot move (its server connection holds its session) and is ended
// with 57P01, as in a plain drain.
TEST_F(HandoverTest, BusyClientsLoseNothingAndSessionPoolingEndsCleanly) {
    Pgtenant old_one(env().cluster(), options());
    ASSERT_TRUE(wait_for(
        [&] { return old_one.log().find("successor can take") != std::string::npos; }, 5s));
    constexpr int kBusy = 4, kIdle = 40;
    std::vector<PgConn> idle;
    for (int i = 0; i < kIdle; ++i)
        idle.push_back(old_one.connect_as(i % 2 ? demo::kAlice : demo::kBob));
    auto carol = old_one.connect_as(demo::kCarol);
    ASSERT_EQ(scalar(carol.get(), "SELECT 1"), "1");

    std::atomic<bool> stop{false};
    std::atomic<int> committed{0}, failed{0};
    std::vector<std::string> errors(kBusy);
    std::vector<std::thread> busy;
    for (int t = 0; t < kBusy; ++t) {
        busy.emplace_back([&, t] {
            auto c = old_one.connect_as(demo::kAlice);
            for (int i = 0; !stop; ++i) {
                auto r = run(c.get(), insert(demo::kPracticeA, "busy-" + std::to_string(t) + "-" +
                                                                   std::to_string(i)));
                if (r.ok()) {
                    ++committed;
                } else {
                    ++failed;
                    errors[t] = r.sqlstate + " " + r.error;
                    return;
                }
            }
        });
    }
    std::this_thread::sleep_for(300ms);
    auto same = options(old_one.port());
    same.key_file = old_one.dir() / "pgtenant.key";
    Pgtenant new_one(env().cluster(), same);
    const bool old_exited = wait_for([&] { return !old_one.running(); }, 15s);
    std::this_thread::sleep_for(300ms);  // the busy clients go on at the new process
    stop = true;
    for (auto& t : busy) t.join();
    ASSERT_TRUE(old_exited) << old_one.log();
    EXPECT_EQ(failed.load(), 0) << errors[0] << errors[1] << errors[2] << errors[3];
    EXPECT_EQ(count_like("busy-%"), std::to_string(committed.load()));
    EXPECT_GT(committed.load(), 0);
    // Every idle client moved and is served; the session-pooled one was told.
    for (auto& c : idle) EXPECT_EQ(scalar(c.get(), "SELECT 1"), "1");
    auto r = run(carol.get(), "SELECT 1");
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.sqlstate == "57P01" || r.error.find("shutting down") != std::string::npos)
        << r.error;
    EXPECT_NE(old_one.log().find("handover: a successor connected"), std::string::npos);
    auto direct = env().superuser();
    query(direct.get(), "DELETE FROM patients WHERE name LIKE 'busy-%'");
}

// Whatever else connects to the handover socket and does not greet as a pgtenant is closed;
// the process goes on serving and draining nothing.
TEST_F(HandoverTest, AStrangerOnTheSocketChangesNothing) {
    Pgtenant own(env().cluster(), options());
    ASSERT_TRUE(
        wait_for([&] { return own.log().find("successor can take") != std::string::npos; }, 5s));
    auto alice = own.connect_as(demo::kAlice);
    for (std::string junk :
         {std::string("GET / HTTP/1.0\r\n\r\n"), std::string("PGTHOV0"), std::string()}) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path().c_str());
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        if (!junk.empty()) {
            ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
        }
        if (junk.size() < 8) ::shutdown(fd, SHUT_WR);  // too short to be a greeting
        char c;
        EXPECT_LE(::read(fd, &c, 1), 0);  // closed (or reset) without an answer
        ::close(fd);
    }
    EXPECT_EQ(scalar(alice.get(), "SELECT 1"), "1");
    auto fresh = own.connect_as(demo::kBob);
    EXPECT_EQ(scalar(fresh.get(), "SELECT 1"), "1");
    EXPECT_EQ(own.log().find("draining"), std::string::npos);
}

// Without a successor the socket changes nothing: SIGTERM drains as before, and the socket
// file goes with the process.
TEST_F(HandoverTest, WithoutASuccessorSigtermDrainsAndRemovesTheSocket) {
    Pgtenant own(env().cluster(), options());
    ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(socket_path()); }, 5s));
    auto idle = own.connect_as(demo::kAlice);
    own.signal(SIGTERM);
    ASSERT_TRUE(wait_for([&] { return !own.running(); }, 10s));
    EXPECT_FALSE(run(idle.get(), "SELECT 1").ok());
    EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

}  // namespace
}  // namespace pgtenant::testing
