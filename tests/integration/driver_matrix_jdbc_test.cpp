// pgJDBC (Debian libpostgresql-jdbc-java) in the driver matrix, with its defaults
// (prepareThreshold 5): see tests/drivers/jdbc/JdbcMatrix.java and tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class JdbcMatrixTest : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(jdbc_program(), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(jdbc_program(), scenario, false);
    }
};

TEST_F(JdbcMatrixTest, SettingsDirect) { direct("settings"); }
// issue 15 bug: session settings re-applied inside the client's transaction are reverted by its
// ROLLBACK and recorded as the client's own, so later transactions run with Etc/UTC or another
// client's TimeZone/DateStyle.
TEST_F(JdbcMatrixTest, DISABLED_SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(JdbcMatrixTest, SetRollbackDirect) { direct("set_rollback"); }
// issue 15 bug: a SET in a rolled-back transaction or savepoint stays recorded (statement_timeout
// 99s sticks), and ROLLBACK reverts re-applied settings: wrong or another client's
// TimeZone/DateStyle.
TEST_F(JdbcMatrixTest, DISABLED_SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(JdbcMatrixTest, ErrorsDirect) { direct("errors"); }
// issue 15 bug: after an error and ROLLBACK the client's settings are lost or another client's
// (TimeZone Etc/UTC, DateStyle of connection 1).
TEST_F(JdbcMatrixTest, DISABLED_ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(JdbcMatrixTest, CopyDirect) { direct("copy"); }
// issue 15 bug: settings lost after a rolled-back transaction, so COPY FROM reads zone-less
// timestamps and COPY TO prints them in Etc/UTC or another client's zone.
TEST_F(JdbcMatrixTest, DISABLED_CopyThroughPgtenant) { proxied("copy"); }

TEST_F(JdbcMatrixTest, DdlDirect) { direct("ddl"); }
// issue 15 bug: the transaction that fails with 0A000 after the ALTER is rolled back, and from then
// on the client runs with Etc/UTC or another client's settings.
TEST_F(JdbcMatrixTest, DISABLED_DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(JdbcMatrixTest, PreparedDirect) { direct("prepared"); }
// issue 15 bug: settings lost or another client's after the rolled-back transactions (every 4th),
// with the driver's default prepared statements.
TEST_F(JdbcMatrixTest, DISABLED_PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
