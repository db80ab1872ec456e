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
TEST_F(JdbcMatrixTest, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(JdbcMatrixTest, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(JdbcMatrixTest, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(JdbcMatrixTest, ErrorsDirect) { direct("errors"); }
TEST_F(JdbcMatrixTest, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(JdbcMatrixTest, CopyDirect) { direct("copy"); }
TEST_F(JdbcMatrixTest, CopyThroughPgtenant) { proxied("copy"); }

TEST_F(JdbcMatrixTest, DdlDirect) { direct("ddl"); }
TEST_F(JdbcMatrixTest, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(JdbcMatrixTest, PreparedDirect) { direct("prepared"); }
TEST_F(JdbcMatrixTest, PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
