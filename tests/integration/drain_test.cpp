// SIGTERM drains: no new client or transaction, open transactions finish and commit, clients
// between transactions are told 57P01, and the process exits 0. With server.so_reuseport a new
// pgtenant listens on the same port while the old one drains: no connection attempt is refused
// during the hand-over and no open transaction is lost.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/temp_dir.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

PgtenantOptions draining(uint16_t port = 0) {
    PgtenantOptions o;
    o.shutdown_timeout_s = 20;
    o.listen_port = port;
    o.extra_toml["server"].push_back("so_reuseport = true");
    return o;
}

class DrainTest : public ProxyTest {
  protected:
    std::string insert(const std::string& name) {
        return "INSERT INTO patients (practice_id, name) VALUES ('" + demo::kPracticeA + "', '" +
               name + "')";
    }
    std::string count(const std::string& name) {
        auto direct = env().superuser();
        return query(direct.get(), "SELECT count(*) FROM patients WHERE name = '" + name + "'")
            .at(0)
            .at(0);
    }
    static bool exits_within(Pgtenant& p, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (p.running() && std::chrono::steady_clock::now() < end)
            std::this_thread::sleep_for(20ms);
        return !p.running();
    }
};

TEST_F(DrainTest, SigtermLetsOpenTransactionsCommitAndEndsIdleClients) {
    Pgtenant own(env().cluster(), draining());
    auto busy = own.connect_as(demo::kAlice);
    auto idle = own.connect_as(demo::kBob);
    query(busy.get(), "BEGIN");
    query(busy.get(), insert("drain-1"));
    own.signal(SIGTERM);
    std::this_thread::sleep_for(300ms);
    // The idle client was told and disconnected.
    auto r = run(idle.get(), "SELECT 1");
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.sqlstate == "57P01" || r.error.find("shutting down") != std::string::npos)
        << r.sqlstate << " " << r.error;
    // No new client.
    EXPECT_FALSE(try_connect(own.conninfo(demo::kBob), 3s).ok());
    // The open transaction goes on and commits.
    EXPECT_TRUE(own.running());
    query(busy.get(), insert("drain-2"));
    EXPECT_EQ(run(busy.get(), "COMMIT").command_status, "COMMIT");
    EXPECT_EQ(count("drain-1"), "1");
    EXPECT_EQ(count("drain-2"), "1");
    // Then it is between transactions: ended, and the process exits 0.
    EXPECT_TRUE(exits_within(own, 5s));
    EXPECT_TRUE(WIFEXITED(own.exit_status()) && WEXITSTATUS(own.exit_status()) == 0)
        << own.exit_status();
}

TEST_F(DrainTest, ANewPgtenantTakesThePortWhileTheOldOneDrains) {
    Pgtenant old_one(env().cluster(), draining());
    // A transaction open on the old process.
    auto in_flight = old_one.connect_as(demo::kAlice);
    query(in_flight.get(), "BEGIN");
    query(in_flight.get(), insert("takeover-1"));
    // The new binary starts on the same port before the old one is told to stop.
    auto same_database = draining(old_one.port());
    same_database.key_file = old_one.dir() / "pgtenant.key";
    Pgtenant new_one(env().cluster(), same_database);
    ASSERT_EQ(new_one.port(), old_one.port());
    // The port was open already: wait for the new one to say it listens (as an operator, or
    // systemd's notify, would) before stopping the old one.
    for (int i = 0; i < 500 && new_one.log().find("pgtenant listening") == std::string::npos; ++i)
        std::this_thread::sleep_for(20ms);
    ASSERT_NE(new_one.log().find("pgtenant listening"), std::string::npos) << new_one.log();
    old_one.signal(SIGTERM);
    // Clients keep connecting throughout, and every one gets served. One that the old process
    // accepted just before its drain began is told 57P01 at login (as PostgreSQL tells a client
    // that connects while it shuts down) and connects again, to the new process.
    // A client still in its TCP handshake with the old process when that one closes its listener
    // is reset by the kernel, unless net.ipv4.tcp_migrate_req hands it to the new listener
    // (README, "Lifecycle"): a retry too, where the host does not set it.
    const bool migrated = read_file("/proc/sys/net/ipv4/tcp_migrate_req").starts_with("1");
    int retried = 0;
    for (int i = 0; i < 40; ++i) {
        auto c = try_connect(old_one.conninfo(demo::kBob), 5s);
        if (!c.ok()) {
            // libpq mostly reports a connection the kernel reset in the words it uses for a
            // close ("server closed the connection unexpectedly"), in places as "reset by
            // peer": both count as a reset. The retries stay bounded below.
            const bool reset =
                c.message.find("reset by peer") != std::string::npos ||
                c.message.find("server closed the connection unexpectedly") != std::string::npos;
            if (migrated || !reset) {
                EXPECT_EQ(c.sqlstate, "57P01") << "attempt " << i << ": " << c.message;
            }
            ++retried;
            c = try_connect(old_one.conninfo(demo::kBob), 5s);
        }
        ASSERT_TRUE(c.ok()) << "attempt " << i << ": " << c.message << "\nnew: " << new_one.log();
        EXPECT_EQ(query(c.conn.get(), "SELECT 1").at(0).at(0), "1");
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_LE(retried, 3);
    // The transaction that was open on the old process commits there.
    query(in_flight.get(), insert("takeover-2"));
    EXPECT_EQ(run(in_flight.get(), "COMMIT").command_status, "COMMIT");
    EXPECT_EQ(count("takeover-1"), "1");
    EXPECT_EQ(count("takeover-2"), "1");
    EXPECT_TRUE(exits_within(old_one, 5s));
    EXPECT_TRUE(new_one.running());
    auto after = new_one.connect_as(demo::kAlice);
    EXPECT_EQ(query(after.get(), "SELECT 1").at(0).at(0), "1");
}

TEST_F(DrainTest, SigintDuringADrainClosesAtOnce) {
    Pgtenant own(env().cluster(), draining());
    auto busy = own.connect_as(demo::kAlice);
    query(busy.get(), "BEGIN");
    query(busy.get(), insert("sigint-drain"));
    own.signal(SIGTERM);
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(own.running());
    own.signal(SIGINT);
    EXPECT_TRUE(exits_within(own, 5s));
    // Closed mid-transaction: rolled back.
    EXPECT_EQ(count("sigint-drain"), "0");
}

// SIGHUP re-reads the config file: what a running pgtenant reads where it is used takes effect
// at once (here server.query_timeout_ms, for a client already connected); what needs a
// restart keeps its value and is named in the log; a file that does not load is refused whole.
TEST_F(DrainTest, SighupReloadsTheConfigFileAndNamesWhatNeedsARestart) {
    Pgtenant own(env().cluster());
    auto c = own.connect_as(demo::kAlice);
    ASSERT_TRUE(run(c.get(), "SELECT pg_sleep(0.6)").ok());  // no query timeout yet
    const auto file = own.dir() / "pgtenant.toml";
    std::string text = read_file(file);
    const auto server = text.find("[server]\n");
    const auto size = text.find("size = 10\n");
    ASSERT_NE(server, std::string::npos);
    ASSERT_NE(size, std::string::npos);
    text.replace(size, 10, "size = 12\n");
    text.insert(server + 9, "query_timeout_ms = 300\n");
    write_file(file, text);
    auto reloaded = [&](const std::string& line, std::size_t times) {
        for (int i = 0; i < 100; ++i) {
            const std::string log = own.log();
            std::size_t n = 0;
            for (auto at = log.find(line); at != std::string::npos; at = log.find(line, at + 1))
                ++n;
            if (n >= times) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    };
    own.signal(SIGHUP);
    ASSERT_TRUE(reloaded("config file reloaded", 1)) << own.log();
    EXPECT_NE(own.log().find("pool.size (10 -> 12)"), std::string::npos) << own.log();
    EXPECT_EQ(own.log().find("query_timeout_ms ("), std::string::npos) << own.log();
    auto r = run(c.get(), "SELECT pg_sleep(3)");
    EXPECT_EQ(r.sqlstate, "57014") << r.error;  // the same session: nothing was dropped
    EXPECT_TRUE(run(c.get(), "SELECT 1").ok());

    write_file(file, "this is not toml [");
    own.signal(SIGHUP);
    ASSERT_TRUE(reloaded("config file NOT reloaded", 1)) << own.log();
    r = run(c.get(), "SELECT pg_sleep(3)");
    EXPECT_EQ(r.sqlstate, "57014") << r.error;  // the configuration in force stayed
    EXPECT_TRUE(own.running());
}

}  // namespace
}  // namespace pgtenant::testing
