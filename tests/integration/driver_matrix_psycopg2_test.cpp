// psycopg2 (Debian python3-psycopg2) in the driver matrix, including SQL-level PREPARE /
// EXECUTE / DEALLOCATE: see tests/drivers/python/psycopg2_matrix.py and
// tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class Psycopg2Matrix : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(python_program("psycopg2"), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(python_program("psycopg2"), scenario, false);
    }
};

TEST_F(Psycopg2Matrix, SettingsDirect) { direct("settings"); }
// issue 15 bug: session settings re-applied inside the client's transaction are reverted by its
// ROLLBACK and recorded as the client's own, so later transactions run with Etc/UTC or another
// client's TimeZone/DateStyle.
TEST_F(Psycopg2Matrix, DISABLED_SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(Psycopg2Matrix, SetRollbackDirect) { direct("set_rollback"); }
// issue 15 bug: a SET in a rolled-back transaction or savepoint stays recorded (statement_timeout
// 99s sticks), and ROLLBACK reverts re-applied settings: wrong or another client's
// TimeZone/DateStyle.
TEST_F(Psycopg2Matrix, DISABLED_SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(Psycopg2Matrix, ErrorsDirect) { direct("errors"); }
// issue 15 bug: after an error and ROLLBACK the client's settings are lost or another client's
// (TimeZone Etc/UTC, DateStyle of connection 1).
TEST_F(Psycopg2Matrix, DISABLED_ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(Psycopg2Matrix, CopyDirect) { direct("copy"); }
// issue 15 bug: settings lost after a rolled-back transaction, so COPY FROM reads zone-less
// timestamps and COPY TO prints them in Etc/UTC or another client's zone.
TEST_F(Psycopg2Matrix, DISABLED_CopyThroughPgtenant) { proxied("copy"); }

TEST_F(Psycopg2Matrix, DdlDirect) { direct("ddl"); }
TEST_F(Psycopg2Matrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(Psycopg2Matrix, SqlPrepareDirect) { direct("sql_prepare"); }
// issue 15 bug: SQL-level PREPARE/EXECUTE/DEALLOCATE refused with 0A000 in transaction pooling.
TEST_F(Psycopg2Matrix, DISABLED_SqlPrepareThroughPgtenant) { proxied("sql_prepare"); }

}  // namespace
}  // namespace pgtenant::testing
