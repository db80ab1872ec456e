// `pgtenant check`, second round (issue 16, items 4 and 5): tenant tables found by their key
// columns (configurable) and by the policies that isolate them, policies that read the tenant
// context without confining rows to it, severities that follow the mode, and fix SQL that fixes.
#include "tests/integration/check_fixture.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(compat_demo());

proxy::CheckOptions sealed() {
    proxy::CheckOptions o;
    o.sealed = true;
    return o;
}

// A table keyed on another column is a tenant table when the key columns name it.
TEST_F(CheckTest, KeyColumnsAreConfigurable) {
    auto u =
        plant("CREATE TABLE scope_clinics (tenant_id uuid, name text)", "DROP TABLE scope_clinics");
    expect_no_finding(checks(), "tenant_table_rls_disabled", "scope_clinics");
    proxy::CheckOptions options;
    options.tenant_columns = {"practice_id", "tenant_id"};
    auto fs = checks(options);
    expect_finding(fs, "tenant_table_rls_disabled", Severity::critical, "public.scope_clinics");
    // The demo's tables are still found by practice_id.
    su("ALTER TABLE patients NO FORCE ROW LEVEL SECURITY");
    Undo force(this, "ALTER TABLE patients FORCE ROW LEVEL SECURITY");
    expect_finding(checks(options), "tenant_table_rls_not_forced", Severity::critical,
                   "public.patients");
}

// Policies survive DISABLE ROW LEVEL SECURITY: the table they isolated is still found, with no
// key column at all, and so is a partition reached directly (policies apply to the parent).
TEST_F(CheckTest, TenantTablesAreFoundByTheirPolicies) {
    auto u = plant(
        "CREATE TABLE scope_orgs (org uuid, name text); "
        "ALTER TABLE scope_orgs ENABLE ROW LEVEL SECURITY; "
        "ALTER TABLE scope_orgs FORCE ROW LEVEL SECURITY; "
        "CREATE POLICY iso ON scope_orgs USING (org = "
        "current_setting('app.current_practice_id')::uuid); "
        "CREATE TABLE scope_parts (org uuid, n int) PARTITION BY LIST (n); "
        "CREATE TABLE scope_parts_1 PARTITION OF scope_parts FOR VALUES IN (1); "
        "ALTER TABLE scope_parts ENABLE ROW LEVEL SECURITY; "
        "ALTER TABLE scope_parts FORCE ROW LEVEL SECURITY; "
        "CREATE POLICY iso ON scope_parts USING (org = "
        "current_setting('app.current_practice_id')::uuid)",
        "DROP TABLE scope_orgs; DROP TABLE scope_parts");
    auto fs = checks();
    expect_no_finding(fs, "tenant_table_rls_disabled", "scope_orgs");
    expect_no_finding(fs, "tenant_table_rls_disabled", "public.scope_parts ");
    expect_finding(fs, "tenant_table_rls_disabled", Severity::critical, "public.scope_parts_1");
    su("ALTER TABLE scope_orgs DISABLE ROW LEVEL SECURITY");
    const auto after = checks();
    expect_finding(after, "tenant_table_rls_disabled", Severity::critical, "public.scope_orgs");
    const Finding* f = find(after, "tenant_table_rls_disabled", "public.scope_orgs");
    ASSERT_NE(f, nullptr);
    su(f->fix_sql);
    expect_no_finding(checks(), "tenant_table_rls_disabled", "public.scope_orgs");
}

TEST_F(CheckTest, PolicyReadingTheContextWithoutConfiningRows) {
    auto u = plant(
        "CREATE POLICY scope_or ON patients USING (practice_id = "
        "current_setting('app.current_practice_id')::uuid OR name IS NOT NULL); "
        "CREATE POLICY scope_null ON meal_logs FOR SELECT USING "
        "(current_setting('app.current_practice_id', true) IS NOT NULL); "
        "CREATE FUNCTION scope_same(uuid, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
        "'SELECT $1 = $2'; CREATE POLICY scope_fn ON practices USING "
        "(scope_same(id, current_setting('app.current_practice_id')::uuid))",
        "DROP POLICY scope_or ON patients; DROP POLICY scope_null ON meal_logs; "
        "DROP POLICY scope_fn ON practices; DROP FUNCTION scope_same(uuid, uuid)");
    auto fs = checks();
    expect_finding(fs, "permissive_policy_not_confined", Severity::critical,
                   "scope_or ON public.patients");
    expect_finding(fs, "permissive_policy_not_confined", Severity::critical,
                   "scope_null ON public.meal_logs");
    // A function pgtenant cannot read: a warning, not a refusal to start.
    expect_finding(fs, "permissive_policy_not_confined", Severity::warning,
                   "scope_fn ON public.practices");
    for (const char* policy : {"scope_or ON public.patients", "scope_null ON public.meal_logs"}) {
        const Finding* f = find(fs, "permissive_policy_not_confined", policy);
        ASSERT_NE(f, nullptr);
        su(f->fix_sql);
        expect_no_finding(checks(), "permissive_policy_not_confined", policy);
    }
}

// The fix for a USING (true) policy in sealed mode wraps the verifier in a sub-SELECT: applied,
// it leaves neither the critical finding nor the per-row warning.
TEST_F(CheckTest, SealedFixForAnOpenPolicyCallsTheVerifierOncePerQuery) {
    auto v = stub_verifier();
    auto u = plant("CREATE POLICY scope_open ON patients USING (true)",
                   "DROP POLICY scope_open ON patients");
    const Finding* f = nullptr;
    auto fs = checks(sealed());
    f = find(fs, "permissive_policy_without_tenant_context", "scope_open");
    ASSERT_NE(f, nullptr);
    EXPECT_NE(f->fix_sql.find("(SELECT pgtenant.practice_id())"), std::string::npos) << f->fix_sql;
    su(f->fix_sql);
    fs = checks(sealed());
    expect_no_finding(fs, "permissive_policy_without_tenant_context", "scope_open");
    expect_no_finding(fs, "policy_verifier_per_row", "scope_open");
}

// Channels the statement guard leaves to the database are warnings in compat mode (a client
// can set the tenant setting itself there) and critical in sealed mode.
TEST_F(CheckTest, SealedModeMakesCrossPracticeChannelsCritical) {
    su("CREATE EXTENSION pg_stat_statements");
    Undo drop(this, "DROP EXTENSION pg_stat_statements");
    for (const char* id : {"pool_role_can_signal_backends", "pool_role_can_use_large_objects",
                           "track_activities_on", "pg_stat_statements_readable"}) {
        expect_finding(checks(), id, Severity::warning, "");
        expect_finding(checks(sealed()), id, Severity::critical, "");
    }
}

// The startup gate is every critical finding, not a subset.
TEST_F(CheckTest, StartupChecksAreEveryCriticalFinding) {
    su("CREATE EXTENSION pg_stat_statements");
    Undo drop(this, "DROP EXTENSION pg_stat_statements");
    auto all = checks(sealed());
    auto startup = proxy::startup_checks(pool_conninfo(), sealed());
    std::size_t critical = 0;
    for (const auto& f : all) critical += f.severity == Severity::critical;
    EXPECT_GE(critical, 4u);
    EXPECT_EQ(startup.size(), critical);
    for (const auto& f : startup) EXPECT_EQ(f.severity, Severity::critical) << f.id;
}

}  // namespace
}  // namespace pgtenant::testing
