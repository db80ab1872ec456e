// asyncpg (Debian python3-asyncpg) in the driver matrix, with its statement cache: see
// tests/drivers/python/asyncpg_matrix.py and tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class AsyncpgMatrix : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(python_program("asyncpg"), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(python_program("asyncpg"), scenario, false);
    }
};

TEST_F(AsyncpgMatrix, SettingsDirect) { direct("settings"); }
// issue 15 bug: session settings re-applied inside the client's transaction are reverted by its
// ROLLBACK and recorded as the client's own, so later transactions run with Etc/UTC or another
// client's TimeZone/DateStyle.
TEST_F(AsyncpgMatrix, DISABLED_SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(AsyncpgMatrix, SetRollbackDirect) { direct("set_rollback"); }
// issue 15 bug: a SET in a rolled-back transaction or savepoint stays recorded (statement_timeout
// 99s sticks), and ROLLBACK reverts re-applied settings: wrong or another client's
// TimeZone/DateStyle.
TEST_F(AsyncpgMatrix, DISABLED_SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(AsyncpgMatrix, ErrorsDirect) { direct("errors"); }
// issue 15 bug: after an error and ROLLBACK the client's settings are lost or another client's
// (TimeZone Etc/UTC, DateStyle of connection 1).
TEST_F(AsyncpgMatrix, DISABLED_ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(AsyncpgMatrix, CopyDirect) { direct("copy"); }
// issue 15 bug: settings lost after a rolled-back transaction, so COPY FROM reads zone-less
// timestamps and COPY TO prints them in Etc/UTC or another client's zone.
TEST_F(AsyncpgMatrix, DISABLED_CopyThroughPgtenant) { proxied("copy"); }

TEST_F(AsyncpgMatrix, DdlDirect) { direct("ddl"); }
// issue 15 bug: the transaction that fails with 0A000 after the ALTER is rolled back, and from then
// on the client runs with Etc/UTC or another client's settings.
TEST_F(AsyncpgMatrix, DISABLED_DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(AsyncpgMatrix, PreparedDirect) { direct("prepared"); }
// issue 15 bug: settings lost or another client's after the rolled-back transactions (every 4th),
// with the driver's default prepared statements.
TEST_F(AsyncpgMatrix, DISABLED_PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
