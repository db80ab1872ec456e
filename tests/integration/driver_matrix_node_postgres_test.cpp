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
// issue 15 bug: session settings re-applied inside the client's transaction are reverted by its
// ROLLBACK and recorded as the client's own, so later transactions run with Etc/UTC or another
// client's TimeZone/DateStyle.
TEST_F(NodePostgresMatrix, DISABLED_SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(NodePostgresMatrix, SetRollbackDirect) { direct("set_rollback"); }
// issue 15 bug: a SET in a rolled-back transaction or savepoint stays recorded (statement_timeout
// 99s sticks), and ROLLBACK reverts re-applied settings: wrong or another client's
// TimeZone/DateStyle.
TEST_F(NodePostgresMatrix, DISABLED_SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(NodePostgresMatrix, ErrorsDirect) { direct("errors"); }
// issue 15 bug: after an error and ROLLBACK the client's settings are lost or another client's
// (TimeZone Etc/UTC, DateStyle of connection 1).
TEST_F(NodePostgresMatrix, DISABLED_ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(NodePostgresMatrix, DdlDirect) { direct("ddl"); }
// issue 15 bug: the transaction that fails with 0A000 after the ALTER is rolled back, and from then
// on the client runs with Etc/UTC or another client's settings.
TEST_F(NodePostgresMatrix, DISABLED_DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(NodePostgresMatrix, PreparedDirect) { direct("prepared"); }
// issue 15 bug: settings lost or another client's after the rolled-back transactions (every 4th),
// with the driver's default prepared statements.
TEST_F(NodePostgresMatrix, DISABLED_PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
