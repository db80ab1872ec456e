// node-postgres (npm pg) in the driver matrix: see tests/drivers/node/pg_matrix.js and
// tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class NodePostgresMatrix : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(node_program("pg", "pg_matrix.js"), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(node_program("pg", "pg_matrix.js"), scenario, false);
    }
};

TEST_F(NodePostgresMatrix, SettingsDirect) { direct("settings"); }
TEST_F(NodePostgresMatrix, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(NodePostgresMatrix, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(NodePostgresMatrix, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(NodePostgresMatrix, ErrorsDirect) { direct("errors"); }
TEST_F(NodePostgresMatrix, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(NodePostgresMatrix, DdlDirect) { direct("ddl"); }
TEST_F(NodePostgresMatrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(NodePostgresMatrix, PreparedDirect) { direct("prepared"); }
TEST_F(NodePostgresMatrix, PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
