#include "tests/support/fault_fixture.h"

#include <iostream>

namespace pgtenant::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long ms_since(Clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

bool connection_failure(const std::string& sqlstate) {
    return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

std::string insert_sql(long id, const std::string& note) {
    return "INSERT INTO fault_rows (id, note) VALUES (" + std::to_string(id) + ", '" + note + "')";
}

long FaultTest::next_id_ = 1;

void FaultTest::SetUpTestSuite() {
    integration_env().cluster().psql_command(
        "CREATE TABLE IF NOT EXISTS fault_rows (id bigint PRIMARY KEY, note text); "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON fault_rows TO pgtenant_pool");
}

void FaultTest::SetUp() { su_ = env().superuser(); }

void FaultTest::TearDown() {
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

void FaultTest::start_behind_relay(PgtenantOptions options) {
    relay_ = std::make_unique<FaultRelay>(env().cluster().port());
    options.backend_port = relay_->port();
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
}

PgtenantOptions FaultTest::small_pool() {
    PgtenantOptions options;
    options.pool_size = kFaultPoolSize;
    options.wait_timeout_ms = 3000;
    options.extra_toml["backend"].push_back("connect_timeout_ms = 2000");
    return options;
}

long FaultTest::new_ids(long count) {
    const long first = next_id_;
    next_id_ += count;
    return first;
}

bool FaultTest::row_exists(long id) {
    return query(su_.get(), "SELECT count(*) FROM fault_rows WHERE id = " + std::to_string(id))
               .at(0)
               .at(0) == "1";
}

long FaultTest::rows_between(long first, long last) {
    return std::stol(query(su_.get(), "SELECT count(*) FROM fault_rows WHERE id BETWEEN " +
                                          std::to_string(first) + " AND " + std::to_string(last))
                         .at(0)
                         .at(0));
}

void FaultTest::expect_bystander_works(Pgtenant& proxy) {
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

}  // namespace pgtenant::testing
