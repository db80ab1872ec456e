// Per-practice caps and the health check before reuse, against a real server: practice A may
// have 3 clients and 1 server connection in use at once ([[practice]] in the users file);
// practice B has neither cap and never waits for A. A connection idle past
// pool.server_check_delay_ms (0 here: before every reuse) answers an empty query first, and one
// whose server process stopped answering is replaced instead of hanging the client.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <set>
#include <thread>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

PgtenantOptions options() {
    PgtenantOptions o;
    o.pool_size = 4;
    o.wait_timeout_ms = 1500;
    o.users_extra = "[[practice]]\nid = \"" + demo::kPracticeA +
                    "\"\nmax_client_connections = 3\nmax_server_connections = 1\n";
    o.extra_toml["pool"].push_back("server_check_delay_ms = 0");
    o.extra_toml["backend"].push_back("connect_timeout_ms = 1000");
    return o;
}

const auto* const kEnv = register_integration_env(options());

class LimitsTest : public ProxyTest {};

TEST_F(LimitsTest, APracticeAtItsClientCapIsRefusedAndOthersAreNot) {
    std::vector<PgConn> a;
    for (int i = 0; i < 3; ++i) a.push_back(env().connect_as(demo::kAlice));
    // The fourth client of practice A, by another login (the cap is the practice's).
    auto refused = try_connect(env().proxy().conninfo(demo::kCarol));
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.sqlstate, "53300") << refused.message;
    EXPECT_NE(refused.message.find("max_client_connections"), std::string::npos) << refused.message;
    // Practice B is not capped, and A's clients go on.
    std::vector<PgConn> b;
    for (int i = 0; i < 5; ++i) b.push_back(env().connect_as(demo::kBob));
    for (auto& c : a) EXPECT_EQ(sqlstate_of(c.get(), "SELECT 1"), "");
    // One of A's clients leaves: the next login of A gets in.
    a.pop_back();
    bool in = false;
    for (int attempt = 0; attempt < 50 && !in; ++attempt) {
        in = try_connect(env().proxy().conninfo(demo::kAlice)).ok();
        if (!in) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(in) << "a freed place of the practice was not given back";
}

TEST_F(LimitsTest, APracticeAtItsServerCapWaitsAndOtherPracticesDoNot) {
    auto holder = env().connect_as(demo::kAlice);
    auto second = env().connect_as(demo::kCarol);
    auto other = env().connect_as(demo::kBob);
    ASSERT_TRUE(run(holder.get(), "BEGIN").ok());
    ASSERT_TRUE(run(holder.get(), "SELECT count(*) FROM patients").ok());  // A's one connection

    // B is served at once although A's clients wait and the pool has room.
    auto t = Clock::now();
    auto r = run(other.get(), "SELECT count(*) FROM patients");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.rows.at(0).at(0), std::to_string(demo::kPatientsB));
    EXPECT_LT(Clock::now() - t, 1s);

    // A's second client waits for A's connection, and gets 53400 naming the cap after
    // pool.wait_timeout_ms (1.5 s); its session goes on.
    t = Clock::now();
    r = run(second.get(), "SELECT 1");
    EXPECT_EQ(r.sqlstate, "53400") << r.error;
    EXPECT_NE(r.error.find("max_server_connections"), std::string::npos) << r.error;
    EXPECT_GE(Clock::now() - t, 1400ms);

    // Waiting again, it is served as soon as A's transaction ends, not at the timeout.
    std::thread committer([&] {
        std::this_thread::sleep_for(300ms);
        EXPECT_TRUE(run(holder.get(), "COMMIT").ok());
    });
    t = Clock::now();
    r = run(second.get(), "SELECT count(*) FROM patients");
    const auto waited = Clock::now() - t;
    committer.join();
    ASSERT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
    EXPECT_EQ(r.rows.at(0).at(0), std::to_string(demo::kPatientsA));
    EXPECT_LT(waited, 1200ms);
}

TEST_F(LimitsTest, AServerConnectionThatStoppedAnsweringIsReplacedNotUsed) {
    auto c = env().connect_as(demo::kBob);
    auto r = run(c.get(), "SELECT pg_backend_pid()");
    ASSERT_TRUE(r.ok()) << r.error;
    const pid_t stopped = std::stoi(r.rows.at(0).at(0));
    // The server process stops answering while its connection idles in the pool (a hung
    // server, or a peer gone without a FIN): the peek sees nothing wrong, the round trip does.
    ASSERT_EQ(::kill(stopped, SIGSTOP), 0);
    struct Resume {
        pid_t pid;
        ~Resume() { ::kill(pid, SIGCONT); }
    } resume{stopped};
    // Every idle connection is that one, or another: take them all in turn.
    std::set<std::string> seen;
    const auto t = Clock::now();
    for (int i = 0; i < 3; ++i) {
        r = run(c.get(), "SELECT pg_backend_pid()");
        ASSERT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
        seen.insert(r.rows.at(0).at(0));
    }
    EXPECT_FALSE(seen.count(std::to_string(stopped))) << "the stopped server process was used";
    EXPECT_LT(Clock::now() - t, 5s);  // one check timing out (backend.connect_timeout_ms 1 s)
    EXPECT_NE(env().proxy().log().find("did not answer an empty query"), std::string::npos);
}

}  // namespace
}  // namespace pgtenant::testing
