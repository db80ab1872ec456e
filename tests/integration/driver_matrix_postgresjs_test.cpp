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
// issue 15 bug: session settings re-applied inside the client's transaction are reverted by its
// ROLLBACK and recorded as the client's own, so later transactions run with Etc/UTC or another
// client's TimeZone/DateStyle.
TEST_F(PostgresJsMatrix, DISABLED_SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(PostgresJsMatrix, SetRollbackDirect) { direct("set_rollback"); }
// issue 15 bug: a SET in a rolled-back transaction or savepoint stays recorded (statement_timeout
// 99s sticks), and ROLLBACK reverts re-applied settings: wrong or another client's
// TimeZone/DateStyle.
TEST_F(PostgresJsMatrix, DISABLED_SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(PostgresJsMatrix, ErrorsDirect) { direct("errors"); }
// issue 15 bug: after an error and ROLLBACK the client's settings are lost or another client's
// (TimeZone Etc/UTC, DateStyle of connection 1).
TEST_F(PostgresJsMatrix, DISABLED_ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(PostgresJsMatrix, CopyDirect) { direct("copy"); }
// issue 15 bug: settings lost after a rolled-back transaction, so COPY FROM reads zone-less
// timestamps and COPY TO prints them in Etc/UTC or another client's zone.
TEST_F(PostgresJsMatrix, DISABLED_CopyThroughPgtenant) { proxied("copy"); }

TEST_F(PostgresJsMatrix, DdlDirect) { direct("ddl"); }
TEST_F(PostgresJsMatrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(PostgresJsMatrix, PreparedDirect) { direct("prepared"); }
// issue 15 bug: settings lost or another client's after the rolled-back transactions (every 4th),
// with the driver's default prepared statements.
TEST_F(PostgresJsMatrix, DISABLED_PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
