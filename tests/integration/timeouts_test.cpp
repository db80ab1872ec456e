// Timeouts on clients and server connections, each against a real server: a client idle in a
// transaction is disconnected and its transaction rolled back, a long request is cancelled, an
// idle client is disconnected, and the pool closes old and idle connections but keeps
// pool.min_idle open.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "tests/integration/console_fixture.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

PgtenantOptions options() {
    PgtenantOptions o;
    o.pool_size = 4;
    o.min_idle = 2;
    o.logins = logins_with_admin();
    o.extra_toml["server"].push_back("idle_transaction_timeout_ms = 600");
    o.extra_toml["server"].push_back("query_timeout_ms = 800");
    o.extra_toml["server"].push_back("client_idle_timeout_ms = 2500");
    o.extra_toml["pool"].push_back("server_idle_timeout_s = 1");
    o.extra_toml["pool"].push_back("server_lifetime_s = 3");
    return o;
}

const auto* const kEnv = register_integration_env(options());

class TimeoutsTest : public ProxyTest {
  protected:
    // The PIDs of the pool role's backends.
    std::set<std::string> pool_backends() {
        auto direct = env().superuser();
        std::set<std::string> pids;
        for (auto& row : query(direct.get(),
                               "SELECT pid FROM pg_stat_activity WHERE usename = 'pgtenant_pool'"))
            pids.insert(row.at(0));
        return pids;
    }
    // Waits up to `limit` for `done`.
    template <typename F>
    bool eventually(F done, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            if (done()) return true;
            std::this_thread::sleep_for(50ms);
        }
        return done();
    }
};

bool ended_with(const QueryResult& r, const std::string& sqlstate, const std::string& words) {
    return !r.ok() && (r.sqlstate == sqlstate || r.error.find(words) != std::string::npos);
}

TEST_F(TimeoutsTest, IdleInTransactionRollsBackAndFreesTheServerConnection) {
    auto c = env().connect_as(demo::kAlice);
    query(c.get(), "BEGIN");
    query(c.get(), "INSERT INTO patients (practice_id, name) VALUES ('" + demo::kPracticeA +
                       "', 'idle-tx')");
    std::this_thread::sleep_for(1200ms);
    auto r = run(c.get(), "COMMIT");
    EXPECT_TRUE(ended_with(r, "25P03", "idle-in-transaction timeout")) << r.sqlstate << r.error;
    auto direct = env().superuser();
    EXPECT_EQ(
        query(direct.get(), "SELECT count(*) FROM patients WHERE name = 'idle-tx'").at(0).at(0),
        "0");
    auto ops = connect(console_conninfo(env().proxy()));
    EXPECT_EQ(show_value(ops.get(), "SHOW POOLS", "database", "postgres", "sv_active"), "0");
    // A client that keeps talking inside its transaction is not idle.
    auto busy = env().connect_as(demo::kBob);
    query(busy.get(), "BEGIN");
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(250ms);
        EXPECT_EQ(query(busy.get(), "SELECT 1").at(0).at(0), "1");
    }
    query(busy.get(), "COMMIT");
}

TEST_F(TimeoutsTest, ALongRequestIsCancelledAndTheSessionGoesOn) {
    auto c = env().connect_as(demo::kAlice);
    const auto start = std::chrono::steady_clock::now();
    auto r = run(c.get(), "SELECT pg_sleep(10)");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.sqlstate, "57014") << r.error;
    EXPECT_LT(took, 5s);
    EXPECT_EQ(query(c.get(), "SELECT 1").at(0).at(0), "1");
    // Inside a transaction: the block fails as with any cancel, and ROLLBACK ends it.
    query(c.get(), "BEGIN");
    EXPECT_EQ(run(c.get(), "SELECT pg_sleep(10)").sqlstate, "57014");
    EXPECT_EQ(run(c.get(), "SELECT 1").sqlstate, "25P02");
    query(c.get(), "ROLLBACK");
}

TEST_F(TimeoutsTest, AnIdleClientIsDisconnectedAndABusyOneIsNot) {
    auto idle = env().connect_as(demo::kAlice);
    auto busy = env().connect_as(demo::kBob);
    for (int i = 0; i < 12; ++i) {
        std::this_thread::sleep_for(300ms);
        query(busy.get(), "SELECT 1");
    }
    auto r = run(idle.get(), "SELECT 1");
    EXPECT_TRUE(ended_with(r, "57P05", "idle-session timeout")) << r.sqlstate << r.error;
    EXPECT_EQ(query(busy.get(), "SELECT 1").at(0).at(0), "1");
}

TEST_F(TimeoutsTest, ThePoolClosesIdleAndOldConnectionsAndKeepsMinIdle) {
    // min_idle = 2 are opened at start.
    EXPECT_TRUE(eventually([&] { return pool_backends().size() == 2; }, 5s));
    // Four at once make four connections...
    {
        std::vector<PgConn> clients;
        for (int i = 0; i < 4; ++i) {
            clients.push_back(env().connect_as(demo::kAlice));
            query(clients.back().get(), "BEGIN");
            query(clients.back().get(), "SELECT 1");
        }
        EXPECT_EQ(pool_backends().size(), 4u);
        for (auto& c : clients) query(c.get(), "COMMIT");
    }
    // ... and idling past server_idle_timeout_s takes them back to min_idle.
    EXPECT_TRUE(eventually([&] { return pool_backends().size() == 2; }, 5s));
    // server_lifetime_s = 3: within a few seconds every backend has been replaced, and
    // min_idle is filled again each time.
    const auto before = pool_backends();
    EXPECT_TRUE(eventually(
        [&] {
            const auto now = pool_backends();
            for (const auto& pid : now)
                if (before.count(pid)) return false;
            return now.size() == 2;
        },
        8s));
    // Clients are served throughout.
    auto c = env().connect_as(demo::kBob);
    EXPECT_EQ(query(c.get(), "SELECT 1").at(0).at(0), "1");
}

}  // namespace
}  // namespace pgtenant::testing
