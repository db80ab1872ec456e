#pragma once
// Shared by the fault suites (faults_test, server_faults_test): a table whose rows carry ids
// unique per case and are checked by the superuser (every row a client saw committed is
// there, no other), a pgtenant per case (optionally behind a FaultRelay), and a bystander of
// another practice that must keep working.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "tests/support/fault_relay.h"
#include "tests/support/integration_env.h"

namespace pgtenant::testing {

constexpr int kFaultPoolSize = 2;

long ms_since(std::chrono::steady_clock::time_point t);
// A lost server connection is reported as a connection failure (08xxx) or as the server
// shutting down or unreachable (57Pxx), never without a SQLSTATE.
bool connection_failure(const std::string& sqlstate);
std::string insert_sql(long id, const std::string& note);

class FaultTest : public ProxyTest {
  protected:
    static void SetUpTestSuite();
    void SetUp() override;
    void TearDown() override;

    // A pgtenant whose server connections go through a fresh relay.
    void start_behind_relay(PgtenantOptions options = small_pool());
    // kFaultPoolSize connections, 3 s pool wait, 2 s to connect to PostgreSQL.
    static PgtenantOptions small_pool();

    // A block of ids no other case uses.
    long new_ids(long count);
    bool row_exists(long id);
    long rows_between(long first, long last);
    // Another practice's client runs a transaction through the proxy and commits a row.
    void expect_bystander_works(Pgtenant& proxy);

    static long next_id_;
    PgConn su_;
    std::unique_ptr<FaultRelay> relay_;
    std::unique_ptr<Pgtenant> proxy_;
};

}  // namespace pgtenant::testing
