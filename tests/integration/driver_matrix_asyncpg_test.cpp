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
TEST_F(AsyncpgMatrix, SettingsThroughPgtenant) { proxied("settings"); }

TEST_F(AsyncpgMatrix, SetRollbackDirect) { direct("set_rollback"); }
TEST_F(AsyncpgMatrix, SetRollbackThroughPgtenant) { proxied("set_rollback"); }

TEST_F(AsyncpgMatrix, ErrorsDirect) { direct("errors"); }
TEST_F(AsyncpgMatrix, ErrorsThroughPgtenant) { proxied("errors"); }

TEST_F(AsyncpgMatrix, CopyDirect) { direct("copy"); }
TEST_F(AsyncpgMatrix, CopyThroughPgtenant) { proxied("copy"); }

TEST_F(AsyncpgMatrix, DdlDirect) { direct("ddl"); }
TEST_F(AsyncpgMatrix, DdlThroughPgtenant) { proxied("ddl"); }

TEST_F(AsyncpgMatrix, PreparedDirect) { direct("prepared"); }
TEST_F(AsyncpgMatrix, PreparedThroughPgtenant) { proxied("prepared"); }

}  // namespace
}  // namespace pgtenant::testing
