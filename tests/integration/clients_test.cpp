// Real clients through pgtenant: COPY over libpq, psql (including \copy) and pgbench with
// the simple, extended and prepared query protocols (named statements follow the client
// across server connections).
#include <gtest/gtest.h>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

class ClientsTest : public ProxyTest {
  protected:
    CommandOptions with_password(const std::string& login) {
        CommandOptions opts;
        opts.env["PGPASSWORD"] = env().proxy().login(login).password;
        opts.env["PGSSLMODE"] = "disable";
        opts.env["PGGSSENCMODE"] = "disable";
        opts.timeout = 60s;
        return opts;
    }

    std::vector<std::string> psql(const std::string& login, const std::vector<std::string>& args) {
        std::vector<std::string> argv{"psql",
                                      "-X",
                                      "-At",
                                      "-v",
                                      "ON_ERROR_STOP=1",
                                      "-h",
                                      "127.0.0.1",
                                      "-p",
                                      std::to_string(env().proxy().port()),
                                      "-U",
                                      login,
                                      "-d",
                                      "postgres"};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    std::vector<std::string> pgbench(const std::string& login,
                                     const std::vector<std::string>& args) {
        std::vector<std::string> argv{"pgbench",   "-n", "-h",
                                      "127.0.0.1", "-p", std::to_string(env().proxy().port()),
                                      "-U",        login};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back("postgres");
        return argv;
    }

    static void expect_no_errors(const CommandResult& r) {
        EXPECT_EQ(r.err.find("ERROR"), std::string::npos) << r.describe();
        EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.describe();
        EXPECT_EQ(r.err.find("error"), std::string::npos) << r.describe();
    }
};

// ---- COPY over libpq ----

TEST_F(ClientsTest, CopyToStdoutReturnsOnlyOwnRows) {
    for (const auto& [login, practice, count] :
         {std::tuple{demo::kAlice, demo::kPracticeA, demo::kPatientsA},
          std::tuple{demo::kBob, demo::kPracticeB, demo::kPatientsB}}) {
        SCOPED_TRACE(login);
        auto conn = env().connect_as(login);
        auto lines = copy_out(conn.get(), "COPY patients TO STDOUT");
        EXPECT_EQ(static_cast<int>(lines.size()), count);
        for (const auto& line : lines) {
            EXPECT_EQ(line.substr(37, 36), practice) << line;  // id <tab> practice_id <tab> ...
        }
        auto query_lines =
            copy_out(conn.get(), "COPY (SELECT practice_id FROM meal_logs) TO STDOUT");
        EXPECT_EQ(static_cast<int>(query_lines.size()),
                  login == demo::kAlice ? demo::kMealLogsA : demo::kMealLogsB);
        for (const auto& line : query_lines) {
            EXPECT_EQ(line, practice);
        }
        // Still bound afterwards.
        EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(count));
    }
}

TEST_F(ClientsTest, CopyFromStdinIsRefusedByRlsAndInsertsNothing) {
    // PostgreSQL does not support COPY FROM into a table with row-level security for
    // non-bypassing roles (0A000, "use INSERT instead"): own rows and foreign rows alike are
    // refused, and the connection stays usable.
    auto conn = env().connect_as(demo::kAlice);
    std::string own =
        demo::kPracticeA + "\t" + demo::kPatientA + "\t2026-05-01 08:00+00\t{\"meal\": \"copy\"}\n";
    std::string foreign =
        demo::kPracticeB + "\t" + demo::kPatientB + "\t2026-05-01 08:00+00\t{\"meal\": \"copy\"}\n";
    for (const auto& data : {own, foreign}) {
        auto r = copy_in(
            conn.get(), "COPY meal_logs (practice_id, patient_id, logged_at, meal_data) FROM STDIN",
            data);
        EXPECT_FALSE(r.ok());
        EXPECT_EQ(r.sqlstate, "0A000") << r.error;
    }
    auto su = env().superuser();
    EXPECT_EQ(count_as_superuser(su.get(), "meal_logs", "practice_id", demo::kPracticeA),
              demo::kMealLogsA);
    EXPECT_EQ(count_as_superuser(su.get(), "meal_logs", "practice_id", demo::kPracticeB),
              demo::kMealLogsB);
    EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM meal_logs").at(0).at(0),
              std::to_string(demo::kMealLogsA));
}

TEST_F(ClientsTest, CopyFromStdinIntoTableWithoutRlsWorks) {
    // COPY IN itself must pass through the proxy intact: use a table without RLS.
    auto su = env().superuser();
    query(su.get(), "CREATE TABLE IF NOT EXISTS import_staging (practice_id uuid, note text)");
    query(su.get(), "TRUNCATE import_staging");
    query(su.get(), "GRANT SELECT, INSERT ON import_staging TO pgtenant_pool");
    auto conn = env().connect_as(demo::kAlice);
    std::string data;
    for (int i = 0; i < 1000; ++i) {
        data += demo::kPracticeA + "\tnote " + std::to_string(i) + "\n";
    }
    auto r = copy_in(conn.get(), "COPY import_staging FROM STDIN", data);
    EXPECT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
    EXPECT_EQ(r.command_tuples, "1000");
    EXPECT_EQ(query(su.get(), "SELECT count(*) FROM import_staging").at(0).at(0), "1000");
    EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

// ---- psql ----

TEST_F(ClientsTest, PsqlCountsOnlyOwnPatients) {
    auto r = run_command(psql(demo::kAlice, {"-c", "SELECT count(*) FROM patients"}),
                         with_password(demo::kAlice));
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, std::to_string(demo::kPatientsA) + "\n");
    r = run_command(psql(demo::kBob, {"-c", "SELECT DISTINCT practice_id FROM meal_logs"}),
                    with_password(demo::kBob));
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, demo::kPracticeB + "\n");
}

TEST_F(ClientsTest, PsqlBackslashCopyExportsOnlyOwnRows) {
    auto file = env().proxy().dir() / "alice_patients.tsv";
    auto r = run_command(psql(demo::kAlice, {"-c", "\\copy patients TO '" + file.string() + "'"}),
                         with_password(demo::kAlice));
    ASSERT_TRUE(r.ok()) << r.describe();
    auto text = read_file(file);
    int lines = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        auto end = text.find('\n', pos);
        EXPECT_EQ(text.substr(pos + 37, 36), demo::kPracticeA);
        ++lines;
        pos = end == std::string::npos ? text.size() : end + 1;
    }
    EXPECT_EQ(lines, demo::kPatientsA);
}

TEST_F(ClientsTest, PsqlBackslashCopyFromIsRefusedCleanly) {
    auto file = env().proxy().dir() / "import.tsv";
    write_file(file, demo::kPracticeA + "\tCopied Carla\n");
    auto r = run_command(psql(demo::kAlice, {"-c", "\\copy patients (practice_id, name) FROM '" +
                                                       file.string() + "'"}),
                         with_password(demo::kAlice));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.err.find("COPY FROM not supported with row-level security"), std::string::npos)
        << r.describe();
}

TEST_F(ClientsTest, PsqlWrongPasswordFails) {
    auto opts = with_password(demo::kAlice);
    opts.env["PGPASSWORD"] = "not-the-password";
    auto r = run_command(psql(demo::kAlice, {"-c", "SELECT 1"}), opts);
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.describe();
}

// ---- pgbench ----

// A tenant-bound custom script: the transaction fails (division by zero, so pgbench reports
// an error and exits non-zero) if it ever sees a foreign row or a wrong count.
const char* kTenantScript = R"(\set n random(1, 1000)
SELECT count(*) AS total, count(*) FILTER (WHERE left(practice_id::text, 1) <> :digit::text) AS foreign_rows FROM patients \gset
\if :foreign_rows > 0 or :total != :expected
SELECT 1 / 0 AS isolation_broken;
\endif
SELECT id, logged_at, meal_data FROM meal_logs WHERE logged_at > now() - interval '100 years' ORDER BY logged_at LIMIT 3;
BEGIN;
SELECT count(*) AS practices FROM practices \gset
\if :practices != 1
SELECT 1 / 0 AS practices_leak;
\endif
SELECT :n;
END;
)";

class PgbenchModeTest : public ClientsTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(PgbenchModeTest, TenantScriptRunsWithoutErrors) {
    auto script = env().proxy().dir() / "tenant.sql";
    write_file(script, kTenantScript);
    // The demo practices' ids start with their number: "digit" names the practice without
    // quoting, which pgbench's simple and extended modes would need differently.
    auto r = run_command(pgbench(demo::kAlice, {"-M", GetParam(), "-c", "8", "-j", "2", "-T", "3",
                                                "-f", script.string(), "-D", "digit=1", "-D",
                                                "expected=" + std::to_string(demo::kPatientsA)}),
                         with_password(demo::kAlice));
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    expect_no_errors(r);
    EXPECT_NE(r.out.find("number of failed transactions: 0"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("number of transactions actually processed: 0/"), std::string::npos)
        << r.out;
}

INSTANTIATE_TEST_SUITE_P(Modes, PgbenchModeTest, ::testing::Values("simple", "extended", "prepared"));

TEST_F(ClientsTest, PgbenchScriptDetectsForeignRows) {
    // The script's check must be able to fail: claim bob's practice while logged in as alice.
    auto script = env().proxy().dir() / "tenant_wrong.sql";
    write_file(script, kTenantScript);
    auto r = run_command(
        pgbench(demo::kAlice, {"-M", "simple", "-c", "1", "-t", "1", "-f", script.string(), "-D",
                               "digit=2", "-D", "expected=" + std::to_string(demo::kPatientsA)}),
        with_password(demo::kAlice));
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.err.find("division by zero"), std::string::npos) << r.describe();
}

TEST_F(ClientsTest, PgbenchBuiltinTpcbOnNonTenantTables) {
    // Standard pgbench tables, created directly as superuser (never `pgbench -i` through the
    // proxy) and granted to the pool role; they carry no practice and no RLS.
    CommandOptions init;
    init.timeout = 120s;
    auto args = env().cluster().superuser_args();
    std::vector<std::string> argv{"pgbench", "-i", "-q", "-s", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("postgres");
    auto r = run_command(argv, init);
    ASSERT_TRUE(r.ok()) << r.describe();
    env().cluster().psql_command(
        "GRANT SELECT, INSERT, UPDATE ON pgbench_accounts, pgbench_branches, pgbench_tellers, "
        "pgbench_history TO pgtenant_pool");
    for (const char* mode : {"simple", "extended"}) {
        SCOPED_TRACE(mode);
        r = run_command(pgbench(demo::kBob, {"-M", mode, "-c", "8", "-j", "2", "-t", "50"}),
                        with_password(demo::kBob));
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        expect_no_errors(r);
        EXPECT_NE(r.out.find("number of transactions actually processed: 400/400"),
                  std::string::npos)
            << r.out;
    }
    auto su = env().superuser();
    EXPECT_EQ(query(su.get(), "SELECT count(*) FROM pgbench_history").at(0).at(0), "800");
}

}  // namespace
}  // namespace pgtenant::testing
