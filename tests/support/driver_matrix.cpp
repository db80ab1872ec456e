#include "tests/support/driver_matrix.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace pgtenant::testing {
namespace {

const std::string kSource = PGTENANT_SOURCE_DIR;
// Logins straight to PostgreSQL for the control runs (matrix_alice, matrix_bob: a plain
// per-login policy stands in for pgtenant's binding) and a superuser over TCP.
const std::string kDirectPassword = "matrix-direct-secret";
const std::string kDdlPassword = "matrix-ddl-secret";

}  // namespace

PgtenantOptions driver_matrix_options() {
    PgtenantOptions o;
    o.pool_size = 2;
    // Sealed by default; PGTENANT_MATRIX_MODE=compat runs the matrix in compat mode (by hand).
    if (const char* mode = std::getenv("PGTENANT_MATRIX_MODE")) o.tenant_mode = mode;
    return o;
}

DriverProgram python_program(const std::string& name) {
    // Debian's interpreter: python3-psycopg & co. are installed for it, not for a pyenv in PATH.
    return {name,
            {"/usr/bin/python3", kSource + "/tests/drivers/python/" + name + "_matrix.py"},
            kSource + "/tests/drivers/python"};
}

DriverProgram jdbc_program() {
    return {"jdbc",
            {"java", "-cp", "/usr/share/java/postgresql.jar",
             kSource + "/tests/drivers/jdbc/JdbcMatrix.java"},
            kSource + "/tests/drivers/jdbc"};
}

DriverProgram node_program(const std::string& name, const std::string& file) {
    return {
        name, {"node", kSource + "/tests/drivers/node/" + file}, kSource + "/tests/drivers/node"};
}

void DriverMatrixTest::SetUpTestSuite() {
    integration_env().cluster().psql_file(
        kSource + "/tests/drivers/matrix/setup.sql",
        {{"direct_password", kDirectPassword},
         {"ddl_password", kDdlPassword},
         {"sealed", driver_matrix_options().tenant_mode == "sealed" ? "true" : "false"}});
}

CommandResult DriverMatrixTest::run_scenario(const DriverProgram& program,
                                             const std::string& scenario, bool direct) {
    // A fresh helper table (one int column, one row) for the "ddl" scenario.
    const std::string table = "matrix_ddl_" + program.name + (direct ? "_direct" : "_proxy");
    {
        auto su = env().superuser();
        query(su.get(), "DROP TABLE IF EXISTS " + table);
        query(su.get(), "CREATE TABLE " + table + " (a int)");
        query(su.get(), "INSERT INTO " + table + " VALUES (1)");
        query(su.get(), "GRANT SELECT ON " + table + " TO PUBLIC");
    }
    const std::string cluster_port = std::to_string(env().cluster().port());
    CommandOptions opts;
    opts.cwd = program.cwd;
    opts.timeout = std::chrono::seconds(90);  // the programs' own watchdogs fire at 50 s
    opts.env["PGTENANT_HOST"] = "127.0.0.1";
    opts.env["PGTENANT_TARGET"] = direct ? "postgres" : "pgtenant";
    if (direct) {
        opts.env["PGTENANT_PORT"] = cluster_port;
        opts.env["PGTENANT_ALICE_USER"] = "matrix_alice";
        opts.env["PGTENANT_BOB_USER"] = "matrix_bob";
        opts.env["PGTENANT_ALICE_PASSWORD"] = kDirectPassword;
        opts.env["PGTENANT_BOB_PASSWORD"] = kDirectPassword;
    } else {
        opts.env["PGTENANT_PORT"] = std::to_string(env().proxy().port());
        opts.env["PGTENANT_ALICE_USER"] = "alice";
        opts.env["PGTENANT_BOB_USER"] = "bob";
        opts.env["PGTENANT_ALICE_PASSWORD"] = env().proxy().login("alice").password;
        opts.env["PGTENANT_BOB_PASSWORD"] = env().proxy().login("bob").password;
    }
    opts.env["PGTENANT_DDL_HOST"] = "127.0.0.1";
    opts.env["PGTENANT_DDL_PORT"] = cluster_port;
    opts.env["PGTENANT_DDL_USER"] = "drivers_ddl";
    opts.env["PGTENANT_DDL_PASSWORD"] = kDdlPassword;
    opts.env["PGTENANT_DDL_TABLE"] = table;
    // The JVM: small stacks, no C2 compiler, one GC thread (2 shared cores).
    opts.env["JAVA_TOOL_OPTIONS"] = "-Xss1m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC";
    auto argv = program.argv;
    argv.push_back(scenario);
    return run_command(argv, opts);
}

void DriverMatrixTest::expect_scenario_passes(const DriverProgram& program,
                                              const std::string& scenario, bool direct) {
    for (std::size_t i = 1; i < program.argv.size(); ++i) {
        const auto& arg = program.argv[i];
        if (arg.starts_with("/") && !std::filesystem::exists(arg)) {
            GTEST_FAIL() << arg << " missing: ./run.sh deps installs the driver";
        }
    }
    if (std::filesystem::exists(program.cwd + "/package.json") &&
        !std::filesystem::exists(program.cwd + "/node_modules")) {
        GTEST_FAIL() << program.cwd << "/node_modules missing: ./run.sh deps runs npm ci there";
    }
    auto r = run_scenario(program, scenario, direct);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\nOK\n"), std::string::npos) << r.describe();
}

}  // namespace pgtenant::testing
