// psycopg 3 (Debian python3-psycopg) in the driver matrix, with its defaults: see
// tests/drivers/python/psycopg3_matrix.py and tests/support/driver_matrix.h.
#include "tests/support/driver_matrix.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(driver_matrix_options());

class Psycopg3Matrix : public DriverMatrixTest {
  protected:
    void direct(const std::string& scenario) {
        expect_scenario_passes(python_program("psycopg3"), scenario, true);
    }
    void proxied(const std::string& scenario) {
        expect_scenario_passes(python_program("psycopg3"), scenario, false);
    }
};

TEST_F(Psycopg3Matrix, SettingsDirect) { direct("settings"); }
TEST_F(Psycopg3Matrix, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(Psycopg3Matrix, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(Psycopg3Matrix, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(Psycopg3Matrix, ErrorsDirect) { direct("errors"); }
TEST_F(Psycopg3Matrix, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(Psycopg3Matrix, CopyDirect) { direct("copy"); }
TEST_F(Psycopg3Matrix, CopyThroughPgtenant) { proxied("copy"); }

TEST_F(Psycopg3Matrix, DdlDirect) { direct("ddl"); }
TEST_F(Psycopg3Matrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(Psycopg3Matrix, PreparedDirect) { direct("prepared"); }
TEST_F(Psycopg3Matrix, PreparedThroughPgtenant) { proxied("prepared"); }

TEST_F(Psycopg3Matrix, NestedRollbackDirect) { direct("nested_rollback"); }
TEST_F(Psycopg3Matrix, NestedRollbackThroughPgtenant) { proxied("nested_rollback"); }

}  // namespace
}  // namespace pgtenant::testing
