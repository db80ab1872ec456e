// `pgtenant probe` (issue 16 item 7): the live cross-practice self-test, run as the real
// binary against a real PostgreSQL with pgtenant in front. A correctly isolated setup passes
// (sealed, and compat), a planted leak is found and named (exit 2), a login that fails makes
// the probe exit 1, and --write-checks commits nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "tests/support/integration_env.h"
#include "tests/support/process.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();  // sealed mode, as new installs

std::map<std::string, std::string> probe_env(const Pgtenant& proxy) {
    return {{"PGTENANT_PROBE_LOGIN_A", demo::kAlice},
            {"PGTENANT_PROBE_PASSWORD_A", proxy.login(demo::kAlice).password},
            {"PGTENANT_PROBE_LOGIN_B", demo::kBob},
            {"PGTENANT_PROBE_PASSWORD_B", proxy.login(demo::kBob).password}};
}

// The JSON report's check objects, one per line.
std::vector<std::string> check_lines(const std::string& json) {
    std::vector<std::string> out;
    std::istringstream in(json);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("  {\"kind\":")) out.push_back(line);
    }
    return out;
}

// Check lines containing every one of `parts`.
int count_checks(const std::string& json, const std::vector<std::string>& parts) {
    int n = 0;
    for (const auto& line : check_lines(json)) {
        bool all = true;
        for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
        n += all;
    }
    return n;
}

class ProbeTest : public ProxyTest {
  protected:
    CommandResult probe(const Pgtenant& proxy, std::vector<std::string> args,
                        std::map<std::string, std::string> env = {}) {
        CommandOptions opts;
        opts.timeout = 120s;
        opts.env = probe_env(proxy);
        for (auto& [k, v] : env) opts.env[k] = v;
        std::vector<std::string> argv{PGTENANT_BINARY, "probe", "--config",
                                      (proxy.dir() / "pgtenant.toml").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, opts);
    }

    // Rows per table and practice, as the superuser sees them.
    std::map<std::string, int> row_counts() {
        auto su = env().superuser();
        std::map<std::string, int> counts;
        for (const auto& t : tenant_tables()) {
            for (const auto& p : {demo::kPracticeA, demo::kPracticeB}) {
                counts[t.name + " " + p] = count_as_superuser(su.get(), t.name, t.practice_key, p);
            }
        }
        counts["all patients"] = std::stoi(query(su.get(), "SELECT count(*) FROM patients")[0][0]);
        return counts;
    }

    void su(const std::string& sql) { query(env().superuser().get(), sql); }

    static void expect_isolated(const CommandResult& r, const std::string& mode) {
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_NE(r.out.find("\"mode\":\"" + mode + "\""), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("\"leaks\":0,"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("\"inconclusive\":0}"), std::string::npos) << r.out;
        for (const char* table : {"public.patients", "public.meal_logs", "public.practices"}) {
            const std::string object = std::string("\"object\":\"") + table + "\"";
            // Each login sees only its own rows, and the two see disjoint rows: practices is
            // keyed by id, learned from its policy.
            EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"", object, "\"pass\""}), 2)
                << table << "\n"
                << r.out;
            EXPECT_EQ(count_checks(r.out, {"\"kind\":\"disjoint\"", object, "\"pass\""}), 1)
                << table << "\n"
                << r.out;
        }
        // Every forgery attempt is refused by pgtenant's guard (42501), for both logins.
        for (const char* name :
             {"set", "set_session", "set_local", "set_config_session", "set_config_local",
              "set_quoted_mixed_case", "set_unicode_escaped", "reset", "context_set",
              "context_set_config", "set_config_in_where", "startup_options", "startup_parameter",
              "startup_parameter_mixed_case", "startup_options_context"}) {
            EXPECT_EQ(count_checks(r.out, {std::string("\"name\":\"") + name + "\"",
                                           "\"outcome\":\"refused\"", "\"sqlstate\":\"42501\""}),
                      2)
                << name << "\n"
                << r.out;
        }
    }
};

TEST_F(ProbeTest, SealedSetupPasses) {
    auto r = probe(env().proxy(), {"--json"});
    expect_isolated(r, "sealed");
    // set_config hidden from the guard (DO, query_to_xml) runs, and changes nothing: the
    // policies ignore the plain setting and the forged token verifies to no practice.
    for (const char* name : {"do_block_set_config", "do_block_context", "query_to_xml_set_config",
                             "query_to_xml_context"}) {
        EXPECT_EQ(count_checks(r.out, {std::string("\"name\":\"") + name + "\"",
                                       "\"outcome\":\"no_effect\""}),
                  2)
            << name << "\n"
            << r.out;
    }
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"write\""}), 0) << "read-only by default";
    auto text = probe(env().proxy(), {});
    std::cout << text.out;
    EXPECT_EQ(text.exit_code, 0) << text.describe();
    EXPECT_NE(text.out.find("no leak found"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("login alice: practice " + demo::kPracticeA), std::string::npos);
}

TEST_F(ProbeTest, WriteChecksPassAndCommitNothing) {
    const auto before = row_counts();
    auto r = probe(env().proxy(), {"--json", "--write-checks"});
    std::cout << r.out;
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\"leaks\":0,"), std::string::npos) << r.out;
    for (const char* table : {"public.patients", "public.meal_logs", "public.practices"}) {
        const std::string object = std::string("\"object\":\"") + table + "\"";
        for (const char* name : {"insert_other_practice", "move_own_rows_to_other_practice"}) {
            EXPECT_EQ(count_checks(r.out, {object, std::string("\"name\":\"") + name + "\"",
                                           "\"outcome\":\"refused\""}),
                      2)
                << table << " " << name << "\n"
                << r.out;
        }
        for (const char* name : {"update_other_practice", "delete_other_practice"}) {
            EXPECT_EQ(count_checks(r.out, {object, std::string("\"name\":\"") + name + "\"",
                                           "\"outcome\":\"pass\""}),
                      2)
                << table << " " << name << "\n"
                << r.out;
        }
    }
    EXPECT_EQ(row_counts(), before);
}

// A permissive policy that ignores the practice is OR-ed with the tenant policy: alice then
// sees bob's patients. pgtenant's running proxy serves on (its start-up check does not look
// at policies); the probe names the table.
TEST_F(ProbeTest, PermissivePolicyLeakIsFound) {
    su("CREATE POLICY probe_leak ON patients USING (true)");
    auto r = probe(env().proxy(), {"--json"});
    auto text = probe(env().proxy(), {});
    su("DROP POLICY probe_leak ON patients");
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_GE(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.patients\"",
                                   "\"outcome\":\"LEAK\""}),
              2)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"disjoint\"", "\"object\":\"public.patients\"",
                                   "\"outcome\":\"LEAK\""}),
              1)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"object\":\"public.meal_logs\"", "\"outcome\":\"LEAK\""}), 0)
        << r.out;
    // The forgery attempts are refused and add nothing: the leak is not blamed on them.
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"forgery\"", "\"outcome\":\"LEAK\""}), 0) << r.out;
    EXPECT_NE(r.out.find("public.patients already leaks without any attempt"), std::string::npos);
    std::cout << text.out;
    EXPECT_EQ(text.exit_code, 2) << text.describe();
    EXPECT_NE(text.out.find("[LEAK] visibility own_rows_only as alice on public.patients"),
              std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find("PRACTICES ARE NOT ISOLATED"), std::string::npos) << text.out;
    // Back to isolated.
    EXPECT_EQ(probe(env().proxy(), {}).exit_code, 0);
}

// A sealed install where one table's policy reads the plain setting instead of
// pgtenant.practice_id(): every login still sees only its own rows, and the guard refuses
// every spelling it can see, but set_config hidden in a DO block or query_to_xml() binds the
// other practice. The probe blames exactly those attempts, on that table.
TEST_F(ProbeTest, ForgeablePolicyIsFoundThroughHiddenSetConfig) {
    const std::string plain = "(practice_id = current_setting('app.current_practice_id')::uuid)";
    su("ALTER POLICY pgtenant_sealed ON patients USING " + plain + " WITH CHECK " + plain);
    auto r = probe(env().proxy(), {"--json"});
    env().cluster().psql_file(std::filesystem::path(PGTENANT_SOURCE_DIR) / "config" /
                              "sealed_demo.sql");
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.patients\"",
                                   "\"outcome\":\"pass\""}),
              2)
        << r.out;
    for (const char* name : {"do_block_set_config", "query_to_xml_set_config"}) {
        EXPECT_EQ(count_checks(r.out, {std::string("\"name\":\"") + name + "\"",
                                       "\"object\":\"public.patients\"", "\"outcome\":\"LEAK\""}),
                  2)
            << name << "\n"
            << r.out;
    }
    EXPECT_EQ(count_checks(r.out, {"\"outcome\":\"LEAK\""}), 4) << r.out;
    EXPECT_EQ(probe(env().proxy(), {}).exit_code, 0) << "restored";
}

// Tables without the tenant column: probe_docs is keyed by the column its policy compares
// (through a cast) with the verifier; probe_shared's policy compares no column, so the probe
// cannot tell whose its rows are and reports the rows both logins see as inconclusive,
// never as a leak.
TEST_F(ProbeTest, KeyFromThePolicyAndUnkeyedTables) {
    su("CREATE TABLE probe_docs (owner uuid NOT NULL, body text); "
       "CREATE TABLE probe_shared (body text); "
       "ALTER TABLE probe_docs ENABLE ROW LEVEL SECURITY; "
       "ALTER TABLE probe_docs FORCE ROW LEVEL SECURITY; "
       "ALTER TABLE probe_shared ENABLE ROW LEVEL SECURITY; "
       "ALTER TABLE probe_shared FORCE ROW LEVEL SECURITY; "
       "CREATE POLICY own ON probe_docs "
       "  USING ((owner)::text = (SELECT pgtenant.practice_id())::text); "
       "CREATE POLICY everyone ON probe_shared USING ((SELECT pgtenant.practice_id()) IS NOT "
       "NULL); "
       "GRANT SELECT ON probe_docs, probe_shared TO pgtenant_pool; "
       "INSERT INTO probe_docs VALUES ('" +
       demo::kPracticeA + "', 'a1'), ('" + demo::kPracticeA + "', 'a2'), ('" + demo::kPracticeB +
       "', 'b1'); INSERT INTO probe_shared VALUES ('hello'), ('world')");
    auto r = probe(env().proxy(), {"--json"});
    su("DROP TABLE probe_docs, probe_shared");
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.probe_docs\"",
                                   "\"outcome\":\"pass\""}),
              2)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"sees 2 rows, all of its own practice",
                                   "\"object\":\"public.probe_docs\""}),
              1)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"disjoint\"", "\"object\":\"public.probe_docs\"",
                                   "\"outcome\":\"pass\"", "same owner"}),
              1)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.probe_shared\"",
                                   "\"outcome\":\"skipped\""}),
              2)
        << r.out;
    EXPECT_EQ(
        count_checks(r.out, {"\"name\":\"identical_rows\"", "\"object\":\"public.probe_shared\"",
                             "\"outcome\":\"inconclusive\"", "2 rows identical"}),
        1)
        << r.out;
}

// Row-level security on a partitioned table does not cover its partitions when they are
// queried directly: the probe reads each partition as a table of its own.
TEST_F(ProbeTest, PartitionWithoutRlsIsFound) {
    su("CREATE TABLE probe_visits (practice_id uuid NOT NULL, note text) "
       "  PARTITION BY HASH (practice_id); "
       "CREATE TABLE probe_visits_0 PARTITION OF probe_visits FOR VALUES WITH (MODULUS 1, "
       "  REMAINDER 0); "
       "ALTER TABLE probe_visits ENABLE ROW LEVEL SECURITY; "
       "ALTER TABLE probe_visits FORCE ROW LEVEL SECURITY; "
       "SELECT pgtenant.enable_sealed_policy('public.probe_visits'); "
       "GRANT SELECT ON probe_visits, probe_visits_0 TO pgtenant_pool; "
       "INSERT INTO probe_visits VALUES ('" +
       demo::kPracticeA + "', 'a'), ('" + demo::kPracticeB + "', 'b')");
    auto r = probe(env().proxy(), {"--json"});
    su("DROP TABLE probe_visits");
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.probe_visits\"",
                                   "\"outcome\":\"pass\""}),
              2)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"kind\":\"visibility\"",
                                   "\"object\":\"public.probe_visits_0\"", "\"outcome\":\"LEAK\""}),
              2)
        << r.out;
}

TEST_F(ProbeTest, WrongPasswordCannotRun) {
    auto r = probe(env().proxy(), {"--json"}, {{"PGTENANT_PROBE_PASSWORD_B", "not-bobs-password"}});
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_TRUE(r.out.starts_with("{\"error\":")) << r.out;
    EXPECT_NE(r.out.find("28P01"), std::string::npos) << r.out;
    auto text = probe(env().proxy(), {}, {{"PGTENANT_PROBE_PASSWORD_A", "wrong"}});
    EXPECT_EQ(text.exit_code, 1) << text.describe();
    EXPECT_NE(text.out.find("pgtenant probe: "), std::string::npos) << text.out;
}

TEST_F(ProbeTest, CannotRunWithoutTwoPracticesOrAProxy) {
    // Logins from flags; alice and carol are the same practice.
    auto same = probe(env().proxy(), {"--login-b", demo::kCarol},
                      {{"PGTENANT_PROBE_PASSWORD_B", env().proxy().login(demo::kCarol).password}});
    EXPECT_EQ(same.exit_code, 1) << same.describe();
    EXPECT_NE(same.out.find("same practice"), std::string::npos) << same.out;
    auto missing = probe(env().proxy(), {}, {{"PGTENANT_PROBE_LOGIN_B", ""}});
    EXPECT_EQ(missing.exit_code, 1) << missing.describe();
    auto no_proxy = probe(env().proxy(), {"--port", std::to_string(env().cluster().port() + 1)});
    EXPECT_EQ(no_proxy.exit_code, 1) << no_proxy.describe();
    auto bad_arg = probe(env().proxy(), {"--no-such-flag"});
    EXPECT_EQ(bad_arg.exit_code, 1) << bad_arg.describe();
    // --host/--port override the config's [server] section.
    auto overridden = probe(
        env().proxy(), {"--host", "127.0.0.1", "--port", std::to_string(env().proxy().port())});
    EXPECT_EQ(overridden.exit_code, 0) << overridden.describe();
}

// Compat mode: the demo's plain-setting policies and a compat pgtenant pass (also one that
// requires TLS from its clients); then, with RLS
// disabled on meal_logs (a pgtenant that must be started with --allow-unsafe-database), the
// probe finds the leak.
TEST_F(ProbeTest, CompatSetupPassesAndDisabledRlsIsFound) {
    const auto config = std::filesystem::path(PGTENANT_SOURCE_DIR) / "config";
    env().cluster().psql_file(config / "demo_schema.sql",
                              {{"pool_password", env().cluster().pool_password()}});
    su("DROP POLICY pgtenant_sealed ON practices; DROP POLICY pgtenant_sealed ON patients; "
       "DROP POLICY pgtenant_sealed ON meal_logs");
    struct Restore {
        PgCluster& cluster;
        std::filesystem::path file;
        ~Restore() {
            query(cluster.superuser().get(), "ALTER TABLE meal_logs ENABLE ROW LEVEL SECURITY");
            cluster.psql_file(file);
        }
    } restore{env().cluster(), config / "sealed_demo.sql"};
    PgtenantOptions compat;
    compat.tenant_mode = "compat";
    {
        Pgtenant proxy(env().cluster(), compat);
        auto r = probe(proxy, {"--json", "--write-checks"});
        expect_isolated(r, "compat");
        EXPECT_EQ(count_checks(r.out, {"\"name\":\"do_block_set_config\""}), 0)
            << "sealed mode only";
    }
    {
        // Clients must use TLS: libpq negotiates it, and so does the hand-written startup of
        // the startup_parameter attempts (expect_isolated wants them refused with 42501).
        PgtenantOptions tls = compat;
        const auto dir = env().cluster().root() / "probe-tls";
        std::filesystem::create_directories(dir);
        auto cert = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                 "-days", "1", "-subj", "/CN=localhost", "-keyout",
                                 (dir / "key.pem").string(), "-out", (dir / "cert.pem").string()});
        ASSERT_TRUE(cert.ok()) << cert.describe();
        tls.extra_toml["server"] = {"tls_cert = \"" + (dir / "cert.pem").string() + "\"",
                                    "tls_key = \"" + (dir / "key.pem").string() + "\"",
                                    "tls_required = true"};
        Pgtenant proxy(env().cluster(), tls);
        expect_isolated(probe(proxy, {"--json"}, {{"PGSSLMODE", "require"}}), "compat");
    }
    su("ALTER TABLE meal_logs DISABLE ROW LEVEL SECURITY");
    compat.args = {"--allow-unsafe-database"};
    Pgtenant unsafe(env().cluster(), compat);
    auto r = probe(unsafe, {"--json"});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_GE(count_checks(r.out, {"\"kind\":\"visibility\"", "\"object\":\"public.meal_logs\"",
                                   "\"outcome\":\"LEAK\""}),
              2)
        << r.out;
    EXPECT_EQ(count_checks(r.out, {"\"object\":\"public.patients\"", "\"outcome\":\"LEAK\""}), 0)
        << r.out;
}

}  // namespace
}  // namespace pgtenant::testing
