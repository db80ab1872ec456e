// The Prometheus endpoint scraped while pgbench runs through pgtenant (its counters must agree
// with pgbench's own count), /healthz, and the audit log: who, when, from where and why, and
// never what a statement said.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "tests/integration/console_fixture.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const uint16_t kMetricsPort = free_port();

PgtenantOptions options() {
    PgtenantOptions o;
    o.pool_size = 3;
    o.workers = 2;
    o.logins = logins_with_admin();
    o.extra_toml["server"].push_back("metrics_port = " + std::to_string(kMetricsPort));
    o.extra_toml["audit"].push_back("file = \"audit.log\"");
    return o;
}

const auto* const kEnv = register_integration_env(options());

// A counter's value, 0 while the series does not exist yet.
double counter(const std::string& text, const std::string& series) {
    return std::max(0.0, metric(text, series));
}

class MetricsAuditTest : public ProxyTest {
  protected:
    std::string scrape() {
        auto r = http_get(kMetricsPort, "/metrics");
        EXPECT_EQ(r.status, 200);
        return r.body;
    }
    std::string audit() { return read_file(env().proxy().dir() / "audit.log"); }
};

std::string practice_series(const std::string& name, const std::string& practice) {
    return "pgtenant_practice_" + name + "_total{practice=\"" + practice + "\"}";
}

TEST_F(MetricsAuditTest, CountersAgreeWithPgbenchWhileItRuns) {
    const std::string before = scrape();
    const double tx_before = counter(before, practice_series("transactions", demo::kPracticeA));
    const double q_before = counter(before, practice_series("queries", demo::kPracticeA));
    const double all_before = metric(before, "pgtenant_transactions_total");
    ASSERT_GE(all_before, 0) << before.substr(0, 2000);

    TempDir dir("pgbench");
    write_file(dir.path() / "tx.sql", "BEGIN;\nSELECT count(*) FROM patients;\nEND;\n");
    const auto& p = env().proxy();
    std::atomic<bool> done{false};
    std::vector<double> seen;
    std::thread scraper([&] {
        while (!done) {
            seen.push_back(metric(scrape(), "pgtenant_transactions_total"));
            std::this_thread::sleep_for(50ms);
        }
    });
    CommandOptions o;
    o.env["PGPASSWORD"] = p.login(demo::kAlice).password;
    const auto bench =
        run_command({pg_bindir() + "/pgbench", "-n", "-c", "4", "-j", "2", "-t", "150", "-f",
                     (dir.path() / "tx.sql").string(), "-h", "127.0.0.1", "-p",
                     std::to_string(p.port()), "-U", demo::kAlice, "postgres"},
                    o);
    done = true;
    scraper.join();
    ASSERT_TRUE(bench.ok()) << bench.describe();
    ASSERT_NE(bench.out.find("number of transactions actually processed: 600/600"),
              std::string::npos)
        << bench.out;

    // Scraped while it ran: never going back.
    for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
    const std::string after = scrape();
    EXPECT_EQ(metric(after, practice_series("transactions", demo::kPracticeA)) - tx_before, 600);
    EXPECT_EQ(metric(after, practice_series("queries", demo::kPracticeA)) - q_before, 1800);
    EXPECT_GE(metric(after, "pgtenant_transactions_total") - all_before, 600);
    // The histograms count the same transactions.
    EXPECT_EQ(metric(after, "pgtenant_practice_transaction_seconds_count{practice=\"" +
                                demo::kPracticeA + "\"}"),
              metric(after, practice_series("transactions", demo::kPracticeA)));
    EXPECT_GT(metric(after, "pgtenant_wait_seconds_count"), 0);
    EXPECT_GT(metric(after, "pgtenant_wait_seconds_bucket{le=\"+Inf\"}"), 0);
    EXPECT_GT(metric(after, practice_series("client_bytes_received", demo::kPracticeA)), 0);
    EXPECT_GT(metric(after, practice_series("client_bytes_sent", demo::kPracticeA)), 0);
    EXPECT_GE(metric(after, "pgtenant_pool_size"), 3);
    EXPECT_GE(metric(after, "pgtenant_server_connections_opened_total"), 1);
    EXPECT_NE(after.find("# TYPE pgtenant_wait_seconds histogram"), std::string::npos);
}

TEST_F(MetricsAuditTest, RefusalsLoginFailuresAndHealth) {
    auto bob = env().connect_as(demo::kBob);
    EXPECT_EQ(sqlstate_of(bob.get(), "SET app.current_practice_id = 'x'"), "42501");
    auto wrong = try_connect(env().proxy().conninfo(demo::kBob, "wrong-password"));
    EXPECT_EQ(wrong.sqlstate, "28P01");
    const std::string m = scrape();
    EXPECT_GE(metric(m, "pgtenant_refusals_by_rule_total{rule=\"reserved_setting\"}"), 1) << m;
    EXPECT_GE(metric(m, "pgtenant_login_failures_by_reason_total{reason=\"auth_failed\"}"), 1) << m;
    EXPECT_GE(metric(m, practice_series("login_failures", demo::kPracticeB)), 1);
    EXPECT_GE(metric(m, "pgtenant_practice_clients{practice=\"" + demo::kPracticeB +
                            "\",state=\"idle\"}"),
              1);

    auto health = http_get(kMetricsPort, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok\n");
    EXPECT_EQ(http_get(kMetricsPort, "/nope").status, 404);
    // Garbage instead of HTTP: the connection is closed, the endpoint stays up.
    {
        auto s = RawSocket::connect(kMetricsPort);
        static constexpr char kGarbage[] = "\x16\x03\x01\x00\xff garbage\r\n\r\n";
        s.send_all(std::string(kGarbage, sizeof kGarbage - 1));  // the NUL inside is sent too
        s.read_until_close(5s);
    }
    EXPECT_EQ(http_get(kMetricsPort, "/healthz").status, 200);
}

// Every series the Grafana dashboard in config/ queries is one pgtenant exports.
TEST_F(MetricsAuditTest, TheDashboardQueriesExistingSeries) {
    const std::string dashboard =
        read_file(std::filesystem::path(PGTENANT_SOURCE_DIR) / "config/grafana-dashboard.json");
    const std::string m = scrape();
    std::set<std::string> names;
    for (std::size_t at = 0; (at = dashboard.find("pgtenant_", at)) != std::string::npos;) {
        std::size_t end = at;
        while (end < dashboard.size() &&
               (std::isalnum(static_cast<unsigned char>(dashboard[end])) || dashboard[end] == '_'))
            ++end;
        names.insert(dashboard.substr(at, end - at));
        at = end;
    }
    EXPECT_GT(names.size(), 10u);
    for (std::string name : names) {
        if (name.ends_with("_bucket")) name.resize(name.size() - 7);
        EXPECT_NE(m.find("# TYPE " + name + " "), std::string::npos) << name << " is not exported";
    }
}

TEST_F(MetricsAuditTest, AuditLogSaysWhoAndWhyNeverWhat) {
    const std::string marker = "audit-marker-7731";
    {
        auto alice = env().connect_as(demo::kAlice);
        query(alice.get(), "SELECT '" + marker + "'");
        query(alice.get(), "BEGIN; SELECT 1; COMMIT");
        // Refused before it reaches a server: no transaction.
        EXPECT_EQ(sqlstate_of(alice.get(), "SET app.current_practice_id = '" + marker + "'"),
                  "42501");
        auto ops = connect(console_conninfo(env().proxy()));
        query(ops.get(), "SHOW POOLS");
    }
    auto wrong = try_connect(env().proxy().conninfo(demo::kAlice, "wrong-" + marker));
    EXPECT_FALSE(wrong.ok());
    std::this_thread::sleep_for(300ms);  // the disconnects are written as the sessions end

    const std::string log = audit();
    EXPECT_EQ(log.find(marker), std::string::npos) << "statement text in the audit log";
    // Every line is one JSON object.
    const auto check = run_command({"python3", "-c",
                                    "import json,sys\n"
                                    "for line in sys.stdin:\n"
                                    "    e = json.loads(line)\n"
                                    "    assert 'time' in e and 'event' in e, line\n"},
                                   CommandOptions{.stdin_data = log});
    EXPECT_TRUE(check.ok()) << check.describe();
    auto has = [&](const std::vector<std::string>& parts) {
        std::size_t start = 0;
        while (start < log.size()) {
            const auto end = log.find('\n', start);
            const std::string line = log.substr(start, end - start);
            bool all = true;
            for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
            if (all) return true;
            if (end == std::string::npos) break;
            start = end + 1;
        }
        return false;
    };
    EXPECT_TRUE(has({"\"event\":\"startup\""})) << log;
    EXPECT_TRUE(has({"\"event\":\"login\"", "\"login\":\"alice\"",
                     "\"practice\":\"" + demo::kPracticeA + "\"", "\"client\":\"127.0.0.1:"}))
        << log;
    EXPECT_TRUE(has({"\"event\":\"refusal\"", "\"login\":\"alice\"",
                     "\"reason\":\"reserved_setting\"", "\"sqlstate\":\"42501\""}))
        << log;
    EXPECT_TRUE(has({"\"event\":\"disconnect\"", "\"login\":\"alice\"", "\"transactions\":2",
                     "\"duration_s\":", "\"client\":\"127.0.0.1:"}))
        << log;
    EXPECT_TRUE(has({"\"event\":\"login_failed\"", "\"login\":\"alice\"",
                     "\"reason\":\"auth_failed\"", "\"sqlstate\":\"28P01\""}))
        << log;
    EXPECT_TRUE(has({"\"event\":\"admin\"", "\"login\":\"ops\"", "\"detail\":\"SHOW POOLS\""}))
        << log;

    // SIGHUP reopens the file: logrotate moves it away, the next lines go to a new one.
    const auto path = env().proxy().dir() / "audit.log";
    std::filesystem::rename(path, env().proxy().dir() / "audit.log.1");
    env().proxy().signal(SIGHUP);
    for (int i = 0; i < 50 && !std::filesystem::exists(path); ++i)
        std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(std::filesystem::exists(path));
    { auto bob = env().connect_as(demo::kBob); }
    std::this_thread::sleep_for(300ms);
    const std::string fresh = audit();
    EXPECT_NE(fresh.find("\"event\":\"reload\""), std::string::npos) << fresh;
    EXPECT_NE(fresh.find("\"login\":\"bob\""), std::string::npos) << fresh;
}

}  // namespace
}  // namespace pgtenant::testing
