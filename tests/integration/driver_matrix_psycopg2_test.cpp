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
TEST_F(Psycopg2Matrix, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(Psycopg2Matrix, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(Psycopg2Matrix, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(Psycopg2Matrix, ErrorsDirect) { direct("errors"); }
TEST_F(Psycopg2Matrix, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(Psycopg2Matrix, CopyDirect) { direct("copy"); }
TEST_F(Psycopg2Matrix, CopyThroughPgtenant) { proxied("copy"); }

TEST_F(Psycopg2Matrix, DdlDirect) { direct("ddl"); }
TEST_F(Psycopg2Matrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(Psycopg2Matrix, SqlPrepareDirect) { direct("sql_prepare"); }
TEST_F(Psycopg2Matrix, SqlPrepareThroughPgtenant) { proxied("sql_prepare"); }

}  // namespace
}  // namespace pgtenant::testing
