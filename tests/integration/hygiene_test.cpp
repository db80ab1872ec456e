// Backend hygiene and the statement guard (DESIGN 3.4, 3.5). The pool has ONE backend, so
// every client shares it: whatever session state one practice leaves behind, the other
// practice's next transaction runs on exactly that backend.
#include <gtest/gtest.h>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env([] {
    PgtenantOptions options;
    options.pool_size = 1;
    options.logins = {
        {demo::kAlice, demo::kPracticeA, "alice-Secret-1", ""},
        {demo::kBob, demo::kPracticeB, "bob-Secret-2", ""},
    };
    return options;
}());

class HygieneTest : public ProxyTest {
  protected:
    void SetUp() override {
        alice_ = env().connect_as(demo::kAlice);
        bob_ = env().connect_as(demo::kBob);
    }
    void TearDown() override {
        // Best effort, so one case's leftovers on the single backend do not fail the next.
        for (const char* sql : {"CLOSE ALL", "DISCARD TEMP", "RESET ALL",
                                "SELECT pg_advisory_unlock_all()", "DEALLOCATE ALL"}) {
            run(alice_.get(), sql);
        }
        ProxyTest::TearDown();
    }
    // Bob's view must be exactly his own patients.
    void expect_bob_isolated() {
        auto rows = query(bob_.get(), "SELECT * FROM patients");
        EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsB);
        EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeB));
    }
    // Refused by pgtenant's guard (42501) or by transaction pooling (0A000): either is fine,
    // success is not.
    static bool refused(const std::string& sqlstate) {
        return sqlstate == "42501" || sqlstate == "0A000";
    }

    PgConn alice_;
    PgConn bob_;
};

// ---- statement guard: reserved settings ----

TEST_F(HygieneTest, SettingTheTenantIsRefused) {
    const std::string b = demo::kPracticeB;
    for (const auto& sql : std::vector<std::string>{
             "SET app.current_practice_id = '" + b + "'",
             "SET SESSION app.current_practice_id TO '" + b + "'",
             "SET LOCAL app.current_practice_id = '" + b + "'",
             "set \"app\".\"current_practice_id\" = '" + b + "'",
             std::string("RESET app.current_practice_id"),
             "SELECT set_config('app.current_practice_id', '" + b + "', false)",
             "SELECT set_config('app.current_practice_id', '" + b + "', true)",
             "SET pgtenant.context = 'v1.forged'",
         }) {
        SCOPED_TRACE(sql);
        EXPECT_EQ(sqlstate_of(alice_.get(), sql), "42501");
        auto r = run_params(alice_.get(), sql, {});
        EXPECT_EQ(r.sqlstate, "42501") << r.error;
    }
    auto rows = query(alice_.get(), "SELECT * FROM patients");
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    expect_bob_isolated();
}

TEST_F(HygieneTest, DiscardAllAndDeallocateAllDoNotBreakBinding) {
    // Both would drop pgtenant's own prepared binding statement on the backend.
    for (const char* sql : {"DISCARD ALL", "DEALLOCATE ALL", "DEALLOCATE PREPARE ALL"}) {
        SCOPED_TRACE(sql);
        run(alice_.get(), sql);  // intercepted, emulated or refused: all acceptable
        EXPECT_EQ(query(alice_.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsA));
        EXPECT_EQ(query_params(alice_.get(), "SELECT count(*) FROM meal_logs", {}).at(0).at(0),
                  std::to_string(demo::kMealLogsA));
        expect_bob_isolated();
    }
}

// ---- hygiene: state one practice leaves on the shared backend ----

TEST_F(HygieneTest, SessionLevelTenantSettingDoesNotReachNextPractice) {
    // A DO block hides set_config from any text filter (the T2 hole of compat mode); whatever
    // alice achieves on her own connection, bob's unbound statement must still fail closed.
    auto state =
        sqlstate_of(alice_.get(), "DO $$ BEGIN PERFORM set_config('app.current_practice_id', '" +
                                      demo::kPracticeA + "', false); END $$");
    RecordProperty("do_block_sqlstate", state.empty() ? "accepted" : state);
    auto r = run(bob_.get(), "SELECT 1; COMMIT; SELECT * FROM patients");
    EXPECT_TRUE(fails_closed(r)) << "bob's unbound statement";
    expect_bob_isolated();
}

TEST_F(HygieneTest, TempTableIsNotVisibleToOtherPractice) {
    auto state =
        sqlstate_of(alice_.get(), "CREATE TEMP TABLE alice_scratch AS SELECT * FROM patients");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    EXPECT_NE(sqlstate_of(bob_.get(), "SELECT * FROM alice_scratch"), "");
    EXPECT_NE(sqlstate_of(bob_.get(), "SELECT * FROM pg_temp.alice_scratch"), "");
    expect_bob_isolated();
}

TEST_F(HygieneTest, TempTableCannotCaptureOtherPracticesWrites) {
    // pg_temp comes first in the search path: a temp "patients" left behind would swallow
    // bob's unqualified reads and writes.
    auto state = sqlstate_of(alice_.get(),
                             "CREATE TEMP TABLE patients (id uuid, practice_id uuid, name text)");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    run(alice_.get(),
        "INSERT INTO patients VALUES (gen_random_uuid(), '" + demo::kPracticeA + "', 'decoy')");
    expect_bob_isolated();
    auto r = run(bob_.get(), "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeB + "', 'Captured Carl') RETURNING practice_id");
    ASSERT_TRUE(r.ok()) << r.error;
    auto su = env().superuser();
    EXPECT_EQ(query(su.get(), "SELECT count(*) FROM public.patients WHERE name = 'Captured Carl'")
                  .at(0)
                  .at(0),
              "1");
    query(su.get(), "DELETE FROM public.patients WHERE name = 'Captured Carl'");
    run(alice_.get(), "DROP TABLE IF EXISTS pg_temp.patients");
}

TEST_F(HygieneTest, HoldCursorIsNotReadableByOtherPractice) {
    auto state =
        sqlstate_of(alice_.get(), "DECLARE alice_cur CURSOR WITH HOLD FOR SELECT * FROM patients");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    auto r = run(bob_.get(), "FETCH ALL FROM alice_cur");
    EXPECT_FALSE(r.ok()) << "bob fetched " << r.rows.size() << " rows from alice's cursor";
    run(alice_.get(), "CLOSE alice_cur");
}

TEST_F(HygieneTest, SqlPreparedStatementIsNotUsableByOtherPractice) {
    auto state = sqlstate_of(
        alice_.get(), "PREPARE alice_q AS SELECT current_setting('app.current_practice_id')");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    auto r = run(bob_.get(), "EXECUTE alice_q");
    if (r.ok()) {
        // Executing it is harmless only if it runs bound to bob.
        EXPECT_EQ(r.rows.at(0).at(0), demo::kPracticeB);
    }
    run(alice_.get(), "DEALLOCATE alice_q");
}

TEST_F(HygieneTest, SessionSettingsDoNotLeakToOtherPractice) {
    auto state = sqlstate_of(alice_.get(), "SET statement_timeout = '1234ms'");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    EXPECT_EQ(query(bob_.get(), "SHOW statement_timeout").at(0).at(0), "0");
    state = sqlstate_of(alice_.get(), "SET search_path = pg_catalog");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    expect_bob_isolated();
}

TEST_F(HygieneTest, SessionAdvisoryLockIsReleasedForOtherPractice) {
    auto state = sqlstate_of(alice_.get(), "SELECT pg_advisory_lock(4242)");
    EXPECT_TRUE(state.empty() || refused(state)) << state;
    expect_bob_isolated();
    auto su = env().superuser();
    EXPECT_EQ(
        query(su.get(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").at(0).at(0),
        "0")
        << "alice's session advisory lock survived on the shared backend";
    run(alice_.get(), "SELECT pg_advisory_unlock_all()");
}

}  // namespace
}  // namespace pgtenant::testing
