// The isolation gate (issue 16, items 2 to 5): every critical finding of `pgtenant check` stops
// the start, and the re-check while serving (tenant.recheck_interval_s) refuses new transactions
// from the moment one appears until its fix lands. Each case plants one misconfiguration in the
// production-like sealed setup, then checks all three: refused at start, found by the running
// proxy (clients get 55000), served again once the finding's own fix SQL has run.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "proxy/check/check.h"
#include "tests/support/demo_fixture.h"
#include "tests/support/integration_env.h"
#include "tests/support/process.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env([] {
    PgtenantOptions o;  // sealed, with config/hardening.sql's required part
    o.extra_toml["tenant"].push_back("recheck_interval_s = 1");
    return o;
}());

struct Plant {
    const char* name;
    const char* sql;      // run as the superuser
    const char* finding;  // the critical finding it causes
    const char* cleanup;  // run as the superuser after the case, whatever happened
};

const Plant kPlants[] = {
    {"permissive_true", "CREATE POLICY gate_open ON patients USING (true)",
     "permissive_policy_without_tenant_context", "DROP POLICY IF EXISTS gate_open ON patients"},
    {"permissive_or_true",
     "CREATE POLICY gate_or ON patients USING (practice_id = (SELECT pgtenant.practice_id()) OR "
     "true)",
     "permissive_policy_not_confined", "DROP POLICY IF EXISTS gate_or ON patients"},
    {"materialized_view",
     "CREATE MATERIALIZED VIEW gate_mv AS SELECT * FROM patients; "
     "GRANT SELECT ON gate_mv TO pgtenant_pool",
     "materialized_view_over_tenant_table", "DROP MATERIALIZED VIEW IF EXISTS gate_mv"},
    {"persisted_setting",
     "ALTER ROLE pgtenant_pool SET app.current_practice_id = "
     "'22222222-2222-2222-2222-222222222222'",
     "persisted_tenant_setting", "ALTER ROLE pgtenant_pool RESET app.current_practice_id"},
    {"member_of_table_owner", "GRANT pgtenant_migrator TO pgtenant_pool",
     "pool_role_member_of_table_owner", "REVOKE pgtenant_migrator FROM pgtenant_pool"},
    {"createrole", "ALTER ROLE pgtenant_pool CREATEROLE", "pool_role_createrole",
     "ALTER ROLE pgtenant_pool NOCREATEROLE"},
    {"bypassrls", "ALTER ROLE pgtenant_pool BYPASSRLS", "pool_role_bypassrls",
     "ALTER ROLE pgtenant_pool NOBYPASSRLS"},
    {"rls_disabled", "ALTER TABLE meal_logs DISABLE ROW LEVEL SECURITY",
     "tenant_table_rls_disabled", "ALTER TABLE meal_logs ENABLE ROW LEVEL SECURITY"},
    // practices has no practice_id column: it is a tenant table by its policy (keyed on id).
    {"rls_disabled_keyed_on_id", "ALTER TABLE practices DISABLE ROW LEVEL SECURITY",
     "tenant_table_rls_disabled", "ALTER TABLE practices ENABLE ROW LEVEL SECURITY"},
    {"rls_not_forced_keyed_on_id", "ALTER TABLE practices NO FORCE ROW LEVEL SECURITY",
     "tenant_table_rls_not_forced", "ALTER TABLE practices FORCE ROW LEVEL SECURITY"},
    {"large_objects", "GRANT EXECUTE ON FUNCTION lo_get(oid) TO PUBLIC",
     "pool_role_can_use_large_objects", "REVOKE EXECUTE ON FUNCTION lo_get(oid) FROM PUBLIC"},
    {"signal_backends", "GRANT EXECUTE ON FUNCTION pg_cancel_backend(integer) TO pgtenant_pool",
     "pool_role_can_signal_backends",
     "REVOKE EXECUTE ON FUNCTION pg_cancel_backend(integer) FROM pgtenant_pool"},
    // track_activities is on (hardening's required part takes the view away instead).
    {"activity_readable", "GRANT SELECT ON pg_catalog.pg_stat_activity TO pgtenant_pool",
     "track_activities_on",
     "REVOKE SELECT ON pg_catalog.pg_stat_activity FROM pgtenant_pool; "
     "ALTER ROLE pgtenant_pool RESET track_activities"},
    {"pg_stat_statements",
     "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; "
     "GRANT SELECT ON pg_stat_statements TO pgtenant_pool",
     "pg_stat_statements_readable", "DROP EXTENSION IF EXISTS pg_stat_statements"},
};

class IsolationGateTest : public ProxyTest, public ::testing::WithParamInterface<Plant> {
  protected:
    std::string pool_conninfo() {
        return "host=127.0.0.1 port=" + std::to_string(env().cluster().port()) +
               " dbname=postgres user=pgtenant_pool password=" + env().cluster().pool_password();
    }
    std::vector<proxy::Finding> critical_findings() {
        proxy::CheckOptions sealed;
        sealed.sealed = true;
        return proxy::startup_checks(pool_conninfo(), sealed);
    }
    static const proxy::Finding* find(const std::vector<proxy::Finding>& fs,
                                      const std::string& id) {
        for (const auto& f : fs)
            if (f.id == id) return &f;
        return nullptr;
    }
    CommandResult start_another() {
        CommandOptions opts;
        opts.timeout = 30s;
        // It would listen on the running proxy's port: the check comes first.
        return run_command(
            {PGTENANT_BINARY, "--config", (env().proxy().dir() / "pgtenant.toml").string()}, opts);
    }
    // Polls a fresh transaction of alice's until its SQLSTATE is `want` ("" for success).
    bool alice_gets(const std::string& want, std::chrono::seconds within = 10s) {
        auto alice = env().connect_as(demo::kAlice);
        const auto deadline = std::chrono::steady_clock::now() + within;
        std::string got;
        while (std::chrono::steady_clock::now() < deadline) {
            got = sqlstate_of(alice.get(), "SELECT count(*) FROM patients");
            if (got == want) return true;
            std::this_thread::sleep_for(100ms);
        }
        ADD_FAILURE() << "alice got \"" << got << "\", not \"" << want << "\"";
        return false;
    }
};

TEST_P(IsolationGateTest, RefusedAtStartFoundWhileRunningServedAgainAfterTheFix) {
    const Plant& p = GetParam();
    auto su = env().superuser();
    ASSERT_TRUE(alice_gets(""));
    struct Cleanup {
        PGconn* su;
        const char* sql;
        ~Cleanup() { EXPECT_TRUE(run(su, sql).ok()) << sql; }
    } cleanup{su.get(), p.cleanup};
    ASSERT_EQ(sqlstate_of(su.get(), p.sql), "");

    const auto findings = critical_findings();
    const proxy::Finding* f = find(findings, p.finding);
    ASSERT_NE(f, nullptr) << proxy::format_text(findings);

    auto start = start_another();
    EXPECT_EQ(start.exit_code, 1) << start.describe();
    EXPECT_NE(start.err.find(p.finding), std::string::npos) << start.describe();
    EXPECT_NE(start.err.find("refusing to serve"), std::string::npos) << start.describe();

    // The running proxy finds it within a re-check interval and fails closed, in the simple
    // and the extended protocol alike.
    EXPECT_TRUE(alice_gets("55000"));
    auto alice = env().connect_as(demo::kAlice);
    auto extended = run_params(alice.get(), "SELECT count(*) FROM patients WHERE $1", {"true"});
    EXPECT_EQ(extended.sqlstate, "55000") << extended.error;
    EXPECT_NE(env().proxy().log().find(std::string("isolation re-check: ") + p.finding),
              std::string::npos);

    // The finding's own fix SQL removes it, and the proxy serves again.
    ASSERT_EQ(sqlstate_of(su.get(), f->fix_sql), "") << f->fix_sql;
    EXPECT_EQ(find(critical_findings(), p.finding), nullptr) << "fix did not fix: " << f->fix_sql;
    EXPECT_TRUE(alice_gets(""));
    auto rows = query(alice.get(), "SELECT DISTINCT practice_id FROM patients");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], demo::kPracticeA);
}

INSTANTIATE_TEST_SUITE_P(Plants, IsolationGateTest, ::testing::ValuesIn(kPlants),
                         [](const auto& info) { return std::string(info.param.name); });

// A transaction under way when the gate closes may finish; the next one is refused.
TEST_F(IsolationGateTest, ATransactionUnderWayFinishes) {
    auto su = env().superuser();
    auto alice = env().connect_as(demo::kAlice);
    ASSERT_TRUE(run(alice.get(), "BEGIN").ok());
    ASSERT_TRUE(run(alice.get(), "SELECT count(*) FROM patients").ok());
    struct Cleanup {
        PGconn* su;
        ~Cleanup() { EXPECT_TRUE(run(su, "ALTER ROLE pgtenant_pool NOBYPASSRLS").ok()); }
    } cleanup{su.get()};
    ASSERT_EQ(sqlstate_of(su.get(), "ALTER ROLE pgtenant_pool BYPASSRLS"), "");
    EXPECT_TRUE(alice_gets("55000"));
    auto in_tx = run(alice.get(), "SELECT count(*) FROM patients");
    EXPECT_TRUE(in_tx.ok()) << in_tx.error;
    EXPECT_TRUE(run(alice.get(), "COMMIT").ok());
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT 1"), "55000");
}

}  // namespace
}  // namespace pgtenant::testing
