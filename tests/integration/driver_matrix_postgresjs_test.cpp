// postgres.js (npm postgres) in the driver matrix, with its default prepare: true: see
// tests/drivers/node/postgresjs_matrix.mjs and tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"
#include "tests/support/pg_cluster.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class PostgresJsMatrix : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(node_program("postgresjs", "postgresjs_matrix.mjs"), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(node_program("postgresjs", "postgresjs_matrix.mjs"), scenario,
                               false);
    }
};

TEST_F(PostgresJsMatrix, SettingsDirect) { direct("settings"); }
TEST_F(PostgresJsMatrix, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(PostgresJsMatrix, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(PostgresJsMatrix, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(PostgresJsMatrix, ErrorsDirect) { direct("errors"); }
TEST_F(PostgresJsMatrix, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(PostgresJsMatrix, CopyDirect) { direct("copy"); }
TEST_F(PostgresJsMatrix, CopyThroughPgtenant) { proxied("copy"); }

TEST_F(PostgresJsMatrix, DdlDirect) { direct("ddl"); }
TEST_F(PostgresJsMatrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(PostgresJsMatrix, PreparedDirect) { direct("prepared"); }
TEST_F(PostgresJsMatrix, PreparedThroughPgtenant) { proxied("prepared"); }

// The first logins while PostgreSQL is down: pgtenant answers 57P03 where PostgreSQL itself
// puts its refusals after authentication (AuthenticationOk, then the FATAL). Sent between
// SASLFinal and AuthenticationOk, postgres.js could not tie it to a query: an unhandled
// rejection, which ended the Node process.
TEST_F(PostgresJsMatrix, LoginsWhilePostgresIsDownFailWith57P03) {
    auto options = driver_matrix_options();
    options.tenant_mode = "compat";            // a sealed one would replace the shared proxy's key
    Pgtenant proxy(env().cluster(), options);  // no server connection yet
    ClusterDown down(env().cluster());
    const std::string dir = node_program("postgresjs", "").cwd;
    CommandOptions opts;
    opts.cwd = dir;
    opts.timeout = std::chrono::seconds(60);
    opts.env["PGTENANT_HOST"] = "127.0.0.1";
    opts.env["PGTENANT_PORT"] = std::to_string(proxy.port());
    opts.env["PGTENANT_ALICE_USER"] = "alice";
    opts.env["PGTENANT_ALICE_PASSWORD"] = proxy.login("alice").password;
    auto r = run_command({"node", dir + "/postgresjs_unreachable.mjs"}, opts);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\nOK\n"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace pgtenant::testing
