// Real drivers through pgtenant: each driver runs a small isolation script of its own.
#include <gtest/gtest.h>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

class DriversTest : public ProxyTest {
  protected:
    CommandResult run_psycopg(const std::string& mode) {
        CommandOptions opts;
        opts.env["PGTENANT_ALICE_PASSWORD"] = env().proxy().login("alice").password;
        opts.env["PGTENANT_BOB_PASSWORD"] = env().proxy().login("bob").password;
        opts.timeout = 60s;
        // Debian's interpreter: python3-psycopg is installed for it, not for a pyenv in PATH.
        return run_command(
            {"/usr/bin/python3",
             std::string(PGTENANT_SOURCE_DIR) + "/tests/integration/psycopg_isolation.py",
             std::to_string(env().proxy().port()), mode},
            opts);
    }
};

TEST_F(DriversTest, PsycopgSeesOnlyOwnRows) {
    auto r = run_psycopg("basic");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

// Named prepared statements that follow a client across server connections: issue #4.
TEST_F(DriversTest, PsycopgPreparedStatements) {
    auto r = run_psycopg("prepared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

}  // namespace
}  // namespace pgtenant::testing
