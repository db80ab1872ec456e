// postgres.js (npm postgres) in the driver matrix, with its default prepare: true: see
// tests/drivers/node/postgresjs_matrix.mjs and tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

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

}  // namespace
}  // namespace pgtenant::testing
