// pgtenant refuses to serve when the database cannot isolate practices: a pool role that can
// bypass RLS, or a tenant table without forced RLS (DESIGN 3.6). `pgtenant check` reports the
// same, with exit code 2.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/wait.h>

#include "tests/support/integration_env.h"
#include "tests/support/process.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

class StartupCheckTest : public ProxyTest {
protected:
    CommandResult run_pgtenant(std::vector<std::string> args) {
        CommandOptions opts;
        opts.timeout = 20s;
        std::vector<std::string> argv{PGTENANT_BINARY, "--config", (env().proxy().dir() / "pgtenant.toml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, opts);
    }
};

TEST_F(StartupCheckTest, CleanDemoDatabasePassesTheCheck) {
    auto r = run_pgtenant({"check"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    auto j = run_pgtenant({"check", "--json"});
    EXPECT_NE(j.out.find("\"summary\""), std::string::npos) << j.describe();
}

TEST_F(StartupCheckTest, BypassRlsPoolRoleIsRefusedAtStart) {
    auto su = env().superuser();
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER ROLE pgtenant_pool BYPASSRLS"), "");
    auto check = run_pgtenant({"check"});
    auto start = run_pgtenant({});  // would listen on the running proxy's port: the check comes first
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER ROLE pgtenant_pool NOBYPASSRLS"), "");
    EXPECT_EQ(check.exit_code, 2) << check.describe();
    EXPECT_NE(check.out.find("pool_role_bypassrls"), std::string::npos) << check.describe();
    EXPECT_EQ(start.exit_code, 1) << start.describe();
    EXPECT_NE(start.err.find("refusing to serve"), std::string::npos) << start.describe();
}

TEST_F(StartupCheckTest, TenantTableWithoutForcedRlsIsRefusedAtStart) {
    auto su = env().superuser();
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER TABLE meal_logs NO FORCE ROW LEVEL SECURITY"), "");
    auto start = run_pgtenant({});
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER TABLE meal_logs FORCE ROW LEVEL SECURITY"), "");
    EXPECT_EQ(start.exit_code, 1) << start.describe();
    EXPECT_NE(start.err.find("tenant_table_rls_not_forced"), std::string::npos) << start.describe();
}

// rotate-key puts a new signing key first and keeps the old ones; it needs the file.
TEST_F(StartupCheckTest, RotateKeyPrependsANewKeyAndKeepsTheOld) {
    CommandOptions opts;
    opts.timeout = 20s;
    auto key_file = env().proxy().dir() / "rotation.key";
    auto first = run_command({PGTENANT_BINARY, "keygen", "--kid", "old"}, opts);
    ASSERT_TRUE(first.ok()) << first.describe();
    {
        std::ofstream out(key_file);
        out << first.out;
    }
    std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(run_command({PGTENANT_BINARY, "rotate-key", "--kid", "new"}, opts).exit_code, 2);
    auto rotated = run_command({PGTENANT_BINARY, "rotate-key", "--key-file", key_file.string(), "--kid", "new"}, opts);
    ASSERT_TRUE(rotated.ok()) << rotated.describe();
    EXPECT_NE(rotated.out.find("SELECT pgtenant.add_key('new', '"), std::string::npos) << rotated.out;
    std::ifstream in(key_file);
    std::string line1, line2;
    std::getline(in, line1);
    std::getline(in, line2);
    EXPECT_TRUE(line1.starts_with("new ")) << line1;
    EXPECT_EQ(line2 + "\n", first.out);
    EXPECT_EQ(std::filesystem::status(key_file).permissions() & std::filesystem::perms::group_all,
              std::filesystem::perms::none);
}

// SIGHUP reloads the key file and the proxy keeps serving; SIGTERM afterwards (with a client
// still connected) stops it cleanly: exit status 0 and the shutdown line in the log. (The
// SIGTERM handler was once installed only inside the SIGHUP handler: SIGTERM then killed the
// process without a shutdown.)
TEST_F(StartupCheckTest, SighupReloadsKeysAndSigtermShutsDownCleanly) {
    Pgtenant own(env().cluster());
    auto client = own.connect_as(demo::kAlice);
    own.signal(SIGHUP);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (own.log().find("key file reloaded") == std::string::npos && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    EXPECT_NE(own.log().find("key file reloaded"), std::string::npos) << own.log();
    EXPECT_EQ(sqlstate_of(client.get(), "SELECT count(*) FROM patients"), "");
    own.stop();
    EXPECT_FALSE(own.running());
    EXPECT_TRUE(WIFEXITED(own.exit_status()) && WEXITSTATUS(own.exit_status()) == 0) << own.exit_status();
    EXPECT_NE(own.log().find("shutting down"), std::string::npos) << own.log();
}

}  // namespace
}  // namespace pgtenant::testing
