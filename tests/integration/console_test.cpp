// The admin console, driven with libpq as psql and PgBouncer's scripts drive PgBouncer's: every
// command, its errors, PAUSE and RESUME under load without a failed transaction, and a
// practice's PAUSE and KILL that no other practice notices.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/integration/console_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

PgtenantOptions options() {
    PgtenantOptions o;
    o.pool_size = 3;
    o.workers = 2;
    o.logins = logins_with_admin();
    o.extra_toml["server"].push_back("max_client_conn = 12");
    return o;
}

const auto* const kEnv = register_integration_env(options());

class ConsoleTest : public ProxyTest {
  protected:
    PgConn console() { return connect(console_conninfo(env().proxy())); }
    std::string insert_patient(const std::string& practice, const std::string& name) {
        return "INSERT INTO patients (practice_id, name) VALUES ('" + practice + "', '" + name +
               "')";
    }
};

TEST_F(ConsoleTest, EveryShowCommandAnswersWithPgBouncersColumns) {
    auto ops = console();
    const std::map<std::string, std::vector<std::string>> expected = {
        {"SHOW POOLS",
         {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used",
          "sv_login", "maxwait", "maxwait_us", "pool_mode"}},
        {"SHOW CLIENTS",
         {"type", "user", "database", "state", "addr", "port", "connect_time", "request_time",
          "wait", "wait_us", "ptr", "link", "tls", "application_name", "practice"}},
        {"SHOW SERVERS",
         {"type", "user", "database", "state", "addr", "port", "connect_time", "request_time",
          "ptr", "link", "remote_pid", "practice"}},
        {"SHOW STATS",
         {"database", "total_xact_count", "total_query_count", "total_received", "total_sent",
          "total_xact_time", "total_query_time", "total_wait_time", "avg_xact_count",
          "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time",
          "avg_wait_time"}},
        {"SHOW STATS_TOTALS", {"database", "total_xact_count", "total_wait_time"}},
        {"SHOW STATS_AVERAGES", {"database", "avg_xact_count", "avg_wait_time"}},
        {"SHOW DATABASES",
         {"name", "host", "port", "database", "force_user", "pool_size", "pool_mode",
          "max_connections", "current_connections", "paused"}},
        {"SHOW PRACTICES",
         {"practice", "logins", "clients", "active", "waiting", "transactions", "queries", "errors",
          "refusals", "bytes_received", "bytes_sent", "total_wait_us", "max_wait_us",
          "practice_switch_resets", "paused"}},
        {"SHOW CONFIG", {"key", "value", "default", "changeable"}},
        {"SHOW LISTS", {"list", "items"}},
        {"SHOW VERSION", {"version"}},
        {"SHOW HELP", {"command", "description"}},
    };
    for (const auto& [command, columns] : expected) {
        PGresult* res = PQexec(ops.get(), command.c_str());
        ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK)
            << command << ": " << PQresultErrorMessage(res);
        for (const auto& column : columns)
            EXPECT_GE(PQfnumber(res, column.c_str()), 0) << command << " lacks " << column;
        if (command != "SHOW SERVERS") {
            EXPECT_GT(PQntuples(res), 0) << command;
        }
        PQclear(res);
    }
    // Lower case and a semicolon, as typed in psql.
    EXPECT_EQ(query(ops.get(), "show version;").at(0).at(0).rfind("pgtenant ", 0), 0u);
    EXPECT_EQ(show_value(ops.get(), "SHOW CONFIG", "key", "pool.size", "value"), "3");
    EXPECT_EQ(show_value(ops.get(), "SHOW CONFIG", "key", "server.workers", "value"), "2");
    EXPECT_EQ(show_value(ops.get(), "SHOW DATABASES", "name", "postgres", "pool_size"), "3");
    // The pool role's password is never shown.
    EXPECT_EQ(show_value(ops.get(), "SHOW CONFIG", "key", "backend.password", "value"), "********");
    // Several commands in one Query: each answers.
    auto r = run(ops.get(), "SHOW VERSION; SHOW LISTS");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.rows.size(), 13u);
}

TEST_F(ConsoleTest, ClientsServersAndPracticesShowWhatRuns) {
    auto ops = console();
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    const auto before_a = std::stoll(
        show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeA, "transactions"));
    for (int i = 0; i < 5; ++i) query(alice.get(), "SELECT count(*) FROM patients");
    query(alice.get(), "BEGIN; SELECT 1; SELECT 2; COMMIT");
    query(bob.get(), "SELECT 1");
    EXPECT_EQ(std::stoll(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeA,
                                    "transactions")),
              before_a + 6);
    // Practice logins and the admin in SHOW CLIENTS, with their practices.
    const auto users = show_column(ops.get(), "SHOW CLIENTS", "user");
    const auto practices = show_column(ops.get(), "SHOW CLIENTS", "practice");
    bool saw_alice = false, saw_bob = false, saw_ops = false;
    for (std::size_t i = 0; i < users.size(); ++i) {
        saw_alice |= users[i] == demo::kAlice && practices[i] == demo::kPracticeA;
        saw_bob |= users[i] == demo::kBob && practices[i] == demo::kPracticeB;
        saw_ops |= users[i] == kOps && practices[i].empty();
    }
    EXPECT_TRUE(saw_alice && saw_bob && saw_ops);
    // Both practices appear, and a server connection last served one of them.
    const auto listed = show_column(ops.get(), "SHOW PRACTICES", "practice");
    EXPECT_NE(std::find(listed.begin(), listed.end(), demo::kPracticeB), listed.end());
    const auto servers = show_column(ops.get(), "SHOW SERVERS", "state");
    EXPECT_FALSE(servers.empty());
    EXPECT_EQ(std::stoll(show_value(ops.get(), "SHOW STATS", "database", "postgres",
                                    "total_xact_count")) > 0,
              true);
    // A practice's error and refusal are counted as such.
    const auto errors_before =
        std::stoll(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB, "errors"));
    const auto refusals_before = std::stoll(
        show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB, "refusals"));
    EXPECT_EQ(sqlstate_of(bob.get(), "SELECT 1/0"), "22012");
    EXPECT_EQ(sqlstate_of(bob.get(), "SET app.current_practice_id = 'x'"), "42501");
    EXPECT_EQ(
        std::stoll(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB, "errors")),
        errors_before + 2);
    EXPECT_EQ(std::stoll(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB,
                                    "refusals")),
              refusals_before + 1);
}

TEST_F(ConsoleTest, BadCommandsAndWrongDatabasesGetClearErrors) {
    auto ops = console();
    EXPECT_EQ(sqlstate_of(ops.get(), "SELECT 1"), "42601");
    EXPECT_EQ(sqlstate_of(ops.get(), "SHOW NOTHING"), "42601");
    EXPECT_EQ(sqlstate_of(ops.get(), "SHOW"), "42601");
    EXPECT_EQ(sqlstate_of(ops.get(), "PAUSE PRACTICE 'not-a-uuid'"), "22023");
    EXPECT_EQ(sqlstate_of(ops.get(), "KILL otherdb"), "3D000");
    EXPECT_EQ(sqlstate_of(ops.get(), "RELOAD now"), "42601");
    EXPECT_EQ(sqlstate_of(ops.get(), "SHOW 'unterminated"), "42601");
    // The extended protocol is refused, and the console goes on.
    auto r = run_params(ops.get(), "SHOW POOLS", {});
    EXPECT_EQ(r.sqlstate, "0A000") << r.error;
    EXPECT_EQ(query(ops.get(), "SHOW VERSION").size(), 1u);
    // An error stops the rest of the Query, as in PostgreSQL.
    r = run(ops.get(), "SHOW NOTHING; SHOW VERSION");
    EXPECT_EQ(r.sqlstate, "42601");
    // An empty query.
    EXPECT_EQ(run(ops.get(), "").error, "");

    // A practice login on the console, the admin elsewhere: FATAL 28000 after authentication.
    const auto& p = env().proxy();
    auto practice =
        try_connect(p.conninfo(demo::kAlice, p.login(demo::kAlice).password, "dbname=pgtenant"));
    EXPECT_FALSE(practice.ok());
    EXPECT_EQ(practice.sqlstate, "28000") << practice.message;
    auto admin = try_connect(p.conninfo(kOps, p.login(kOps).password, "dbname=postgres"));
    EXPECT_FALSE(admin.ok());
    EXPECT_EQ(admin.sqlstate, "28000") << admin.message;
    // A wrong admin password is a failed login like any other.
    auto wrong = try_connect(p.conninfo(kOps, "nope", "dbname=pgtenant"));
    EXPECT_EQ(wrong.sqlstate, "28P01") << wrong.message;

    // A Query whose text has no terminating NUL: a protocol violation (08P01), not a crash or
    // a command read past the message.
    WireClient raw(console());
    const auto replies = raw.send_until(std::string("Q\0\0\0\x08SHOW", 9), 'E');
    ASSERT_FALSE(replies.empty());
    EXPECT_NE(replies.back().find("C08P01"), std::string::npos) << WireClient::tags(replies);
    EXPECT_EQ(query(console().get(), "SHOW VERSION").size(), 1u);  // pgtenant goes on
}

TEST_F(ConsoleTest, PauseAndResumeUnderLoadFailNoTransaction) {
    auto ops = console();
    std::atomic<bool> stop{false};
    std::atomic<int> committed{0}, failed{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 6; ++i) {
        clients.emplace_back([&, i] {
            auto c = env().connect_as(i % 2 ? demo::kAlice : demo::kBob);
            const std::string practice = i % 2 ? demo::kPracticeA : demo::kPracticeB;
            while (!stop) {
                auto r = run(c.get(), "BEGIN; " + insert_patient(practice, "pause-load") +
                                          "; SELECT pg_sleep(0.002); COMMIT");
                (r.ok() && r.command_status == "COMMIT" ? committed : failed)++;
            }
        });
    }
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(run(ops.get(), "PAUSE").command_status, "PAUSE");
    // Paused: no transaction is running, none starts.
    EXPECT_EQ(show_value(ops.get(), "SHOW POOLS", "database", "postgres", "sv_active"), "0");
    EXPECT_EQ(show_value(ops.get(), "SHOW DATABASES", "name", "postgres", "paused"), "1");
    const int at_pause = committed;
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(committed.load(), at_pause);
    EXPECT_EQ(sqlstate_of(ops.get(), "PAUSE"), "55000");  // already paused
    const auto waiting =
        std::stoi(show_value(ops.get(), "SHOW POOLS", "database", "postgres", "cl_waiting"));
    EXPECT_GT(waiting, 0);
    ASSERT_EQ(run(ops.get(), "RESUME").command_status, "RESUME");
    std::this_thread::sleep_for(300ms);
    stop = true;
    for (auto& t : clients) t.join();
    EXPECT_GT(committed.load(), at_pause);
    EXPECT_EQ(failed.load(), 0);
    // Every committed insert is there.
    auto direct = env().superuser();
    EXPECT_EQ(
        std::stoi(query(direct.get(), "SELECT count(*) FROM patients WHERE name = 'pause-load'")
                      .at(0)
                      .at(0)),
        committed.load());
}

TEST_F(ConsoleTest, PausingOnePracticeLeavesTheOtherServed) {
    auto ops = console();
    auto alice = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    ASSERT_EQ(run(ops.get(), "PAUSE PRACTICE '" + demo::kPracticeA + "'").command_status, "PAUSE");
    std::atomic<bool> alice_done{false};
    std::thread waiting([&] {
        query(alice.get(), "SELECT 1");
        alice_done = true;
    });
    // Bob's practice does not notice.
    for (int i = 0; i < 20; ++i) EXPECT_EQ(query(bob.get(), "SELECT 1").at(0).at(0), "1");
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(alice_done);
    EXPECT_EQ(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeA, "paused"), "1");
    EXPECT_EQ(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB, "paused"), "0");
    EXPECT_EQ(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeA, "waiting"),
              "1");
    ASSERT_EQ(run(ops.get(), "RESUME PRACTICE '" + demo::kPracticeA + "'").command_status,
              "RESUME");
    waiting.join();
    EXPECT_TRUE(alice_done);
}

TEST_F(ConsoleTest, KillingAPracticeEndsOnlyItsClientsAndRollsBack) {
    auto ops = console();
    auto alice = env().connect_as(demo::kAlice);
    auto alice2 = env().connect_as(demo::kAlice);
    auto bob = env().connect_as(demo::kBob);
    query(bob.get(), "BEGIN");
    query(bob.get(), insert_patient(demo::kPracticeB, "kill-bob"));
    query(alice.get(), "BEGIN");
    query(alice.get(), insert_patient(demo::kPracticeA, "kill-alice"));
    ASSERT_EQ(run(ops.get(), "KILL PRACTICE '" + demo::kPracticeA + "'").command_status, "KILL");
    std::this_thread::sleep_for(200ms);
    // Alice's sessions are gone with 57P01; her open transaction did not commit.
    auto r = run(alice.get(), "COMMIT");
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(run(alice2.get(), "SELECT 1").ok());
    // Bob's transaction goes on and commits.
    query(bob.get(), "COMMIT");
    auto direct = env().superuser();
    EXPECT_EQ(
        query(direct.get(), "SELECT count(*) FROM patients WHERE name = 'kill-alice'").at(0).at(0),
        "0");
    EXPECT_EQ(
        query(direct.get(), "SELECT count(*) FROM patients WHERE name = 'kill-bob'").at(0).at(0),
        "1");
    // Alice can log in again (KILL does not pause), and the console stayed up.
    auto again = env().connect_as(demo::kAlice);
    EXPECT_EQ(query(again.get(), "SELECT 1").at(0).at(0), "1");
    EXPECT_EQ(query(ops.get(), "SHOW VERSION").size(), 1u);
    EXPECT_EQ(run(ops.get(), "RESUME").command_status, "RESUME");
}

TEST_F(ConsoleTest, AdminLoginsDoNotCountAgainstClientLimits) {
    std::vector<PgConn> held;
    // max_client_conn = 12: fill it with practice clients.
    for (int i = 0; i < 12; ++i) {
        auto c = try_connect(env().proxy().conninfo(demo::kBob));
        if (!c.ok()) break;
        held.push_back(std::move(c.conn));
    }
    ASSERT_EQ(held.size(), 12u);
    auto extra = try_connect(env().proxy().conninfo(demo::kBob));
    EXPECT_EQ(extra.sqlstate, "53300") << extra.message;
    // The operator still gets in.
    auto ops = console();
    EXPECT_EQ(show_value(ops.get(), "SHOW PRACTICES", "practice", demo::kPracticeB, "clients"),
              "12");
}

TEST_F(ConsoleTest, ReloadAddsALoginWithoutDroppingClients) {
    auto ops = console();
    auto alice = env().connect_as(demo::kAlice);
    const auto users = env().proxy().dir() / "users.toml";
    const std::string original = read_file(users);
    write_file(users, original + "[[login]]\nname = \"dave\"\npractice = \"" + demo::kPracticeB +
                          "\"\nscram = \"" + Pgtenant::scram_verifier("dave-pw") + "\"\n");
    auto r = run(ops.get(), "RELOAD");
    EXPECT_EQ(r.command_status, "RELOAD") << r.error;
    auto dave = connect(env().proxy().conninfo("dave", "dave-pw"));
    auto bob = env().connect_as(demo::kBob);
    const std::string count = "SELECT count(*) FROM patients";
    EXPECT_EQ(query(dave.get(), count), query(bob.get(), count));  // practice B's rows
    EXPECT_EQ(query(alice.get(), "SELECT 1").at(0).at(0), "1");    // not dropped
    // A broken users file is refused whole; the logins in force stay.
    write_file(users, "this is not toml [");
    r = run(ops.get(), "RELOAD");
    EXPECT_EQ(r.command_status, "RELOAD");
    EXPECT_NE(env().proxy().log().find("users file NOT reloaded"), std::string::npos);
    EXPECT_EQ(
        query(connect(env().proxy().conninfo("dave", "dave-pw")).get(), "SELECT 1").at(0).at(0),
        "1");
    // dave removed while inside a transaction: it commits, then dave is disconnected (28000).
    auto dave_again = connect(env().proxy().conninfo("dave", "dave-pw"));
    query(dave_again.get(), "BEGIN");
    query(dave_again.get(), "INSERT INTO patients (practice_id, name) VALUES ('" +
                                demo::kPracticeB + "', 'removed-login')");
    write_file(users, original);
    EXPECT_EQ(run(ops.get(), "RELOAD").command_status, "RELOAD");
    std::this_thread::sleep_for(1500ms);  // a sweep or more
    EXPECT_EQ(run(dave_again.get(), "COMMIT").command_status, "COMMIT");
    std::this_thread::sleep_for(1500ms);
    auto after = run(dave_again.get(), "SELECT 1");
    EXPECT_FALSE(after.ok());
    EXPECT_TRUE(after.sqlstate == "28000" || after.error.find("was removed") != std::string::npos)
        << after.sqlstate << " " << after.error;
    EXPECT_EQ(
        query(env().superuser().get(), "SELECT count(*) FROM patients WHERE name = 'removed-login'")
            .at(0)
            .at(0),
        "1");
    EXPECT_FALSE(try_connect(env().proxy().conninfo("dave", "dave-pw")).ok());
    EXPECT_EQ(query(alice.get(), "SELECT 1").at(0).at(0), "1");  // untouched
}

TEST_F(ConsoleTest, ShutdownStopsPgtenant) {
    // A pgtenant of its own: SHUTDOWN ends the process.
    Pgtenant own(env().cluster(), options());
    auto ops = connect(console_conninfo(own));
    auto r = run(ops.get(), "SHUTDOWN");
    EXPECT_EQ(r.command_status, "SHUTDOWN") << r.error;
    for (int i = 0; i < 100 && own.running(); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(own.running());
    EXPECT_EQ(own.exit_status(), 0);
}

}  // namespace
}  // namespace pgtenant::testing
