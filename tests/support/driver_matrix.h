#pragma once
// The driver matrix (issue 15 item 4): each real driver runs the programs under
// tests/drivers/ (python/*_matrix.py, jdbc/JdbcMatrix.java, node/*_matrix.*), one scenario per
// run, 8 client connections of two practices over a pgtenant pool of 2 server connections.
// Every scenario runs twice: straight against the harness's PostgreSQL (the control run, which
// must pass: it shows the program checks what PostgreSQL does) and through pgtenant.
#include <string>
#include <vector>

#include "tests/support/integration_env.h"
#include "tests/support/process.h"

namespace pgtenant::testing {

// A pool of 2 server connections for the 8 client connections of each program.
PgtenantOptions driver_matrix_options();

// A driver program: the command line before the scenario name, and where it runs.
struct DriverProgram {
    std::string name;  // short, for helper-table names: "psycopg3", "jdbc", ...
    std::vector<std::string> argv;
    std::string cwd;
};

DriverProgram python_program(const std::string& name);  // tests/drivers/python/<name>_matrix.py
DriverProgram jdbc_program();                           // tests/drivers/jdbc/JdbcMatrix.java
DriverProgram node_program(const std::string& name,
                           const std::string& file);  // tests/drivers/node/<file>

class DriverMatrixTest : public ProxyTest {
  protected:
    // Loads tests/drivers/matrix/setup.sql (tenant table, staging table, schemas, logins).
    static void SetUpTestSuite();

    // Runs one scenario of `program` through pgtenant, or straight against PostgreSQL.
    CommandResult run_scenario(const DriverProgram& program, const std::string& scenario,
                               bool direct);

    // Runs it and expects the program's verdict "OK" with exit status 0.
    void expect_scenario_passes(const DriverProgram& program, const std::string& scenario,
                                bool direct);
};

}  // namespace pgtenant::testing
