// A practice switch costs no reset when nothing needs undoing (issue 19). The pool has ONE
// backend, so alice's (practice A) and bob's (practice B) transactions alternate on it: every
// transaction is a practice switch. Well-behaved statements - reads, updates, prepared
// statements, transactions, settings pgtenant follows - leave nothing behind, and the switch
// runs no reset at all, keeping the prepared statements and their plans. Whatever one could
// leave behind (a listener, sequence state, a WITH HOLD cursor, an advisory lock, a temp
// object, a setting changed where the guard cannot see, a statement under the client's own
// name) is undone before the other practice's transaction, and nothing a client does makes a
// connection look clean. Sealed mode with hardening's required part: the pool role cannot read
// pg_prepared_statements, nor create objects in a schema.
#include <gtest/gtest.h>

#include "tests/integration/console_fixture.h"
#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

const uint16_t kMetricsPort = free_port();

const auto* const kEnv = register_integration_env([] {
    PgtenantOptions options;
    options.pool_size = 1;
    options.logins = {
        {demo::kAlice, demo::kPracticeA, "alice-Secret-1", ""},
        {demo::kBob, demo::kPracticeB, "bob-Secret-2", ""},
    };
    options.extra_toml["server"].push_back("metrics_port = " + std::to_string(kMetricsPort));
    return options;
}());

class PracticeSwitchTest : public ProxyTest {
  protected:
    void SetUp() override {
        alice_ = env().connect_as(demo::kAlice);
        bob_ = env().connect_as(demo::kBob);
    }
    static double resets() {
        auto r = http_get(kMetricsPort, "/metrics");
        return std::max(0.0, metric(r.body, "pgtenant_practice_switch_resets_total"));
    }
    static std::string scalar(PGconn* c, const std::string& sql) {
        return query(c, sql).at(0).at(0);
    }
    void expect_bob_isolated() {
        auto rows = query(bob_.get(), "SELECT * FROM patients");
        EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsB);
        EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeB));
    }
    // Alice leaves something behind; a statement of bob's on the same backend must not see
    // it, and the switch must have reset it.
    void leftover(const std::string& alice_sql, const std::string& bob_sql,
                  const std::string& bob_must_get) {
        SCOPED_TRACE(alice_sql);
        const double before = resets();
        auto a = run(alice_.get(), alice_sql);
        ASSERT_TRUE(a.ok()) << a.error;
        auto b = run(bob_.get(), bob_sql);
        if (bob_must_get.size() == 5 && std::isdigit(static_cast<unsigned char>(bob_must_get[0]))) {
            EXPECT_EQ(b.sqlstate, bob_must_get) << b.error;
        } else {
            ASSERT_TRUE(b.ok()) << b.error;
            EXPECT_EQ(b.rows.at(0).at(0), bob_must_get);
        }
        EXPECT_GE(resets(), before + 1) << "no reset after: " << alice_sql;
        expect_bob_isolated();
    }

    PgConn alice_;
    PgConn bob_;
};

TEST_F(PracticeSwitchTest, WellBehavedPracticesShareTheBackendWithoutAReset) {
    for (auto* c : {alice_.get(), bob_.get()}) {
        PGresult* r =
            PQprepare(c, "by_name", "SELECT count(*) FROM patients WHERE name <> $1", 1, nullptr);
        ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
        PQclear(r);
    }
    query(alice_.get(), "SET statement_timeout = '40s'");  // followed by pgtenant: no reset
    const double before = resets();
    const char* param[] = {"nobody"};
    for (int i = 0; i < 20; ++i) {
        for (auto* c : {alice_.get(), bob_.get()}) {
            const std::string own = c == alice_.get() ? std::to_string(demo::kPatientsA)
                                                      : std::to_string(demo::kPatientsB);
            EXPECT_EQ(scalar(c, "SELECT count(*) FROM patients"), own);
            PGresult* r = PQexecPrepared(c, "by_name", 1, param, nullptr, nullptr, 0);
            ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
            EXPECT_EQ(std::string(PQgetvalue(r, 0, 0)), own);
            PQclear(r);
            auto u = run_params(c, "UPDATE patients SET name = name WHERE name = $1", {"nobody"});
            EXPECT_TRUE(u.ok()) << u.error;
            query(c, "BEGIN");
            query(c, "SELECT id, name FROM patients ORDER BY name LIMIT 2");
            query(c, "COMMIT");
        }
        EXPECT_EQ(scalar(bob_.get(), "SHOW statement_timeout"), "0");
        EXPECT_EQ(scalar(alice_.get(), "SHOW statement_timeout"), "40s");
    }
    EXPECT_EQ(resets(), before) << "well-behaved statements made the backend reset";
    expect_bob_isolated();
}

TEST_F(PracticeSwitchTest, EveryLeftoverIsUndoneBeforeTheOtherPractice) {
    auto su = env().superuser();
    query(su.get(),
          "CREATE SEQUENCE IF NOT EXISTS switch_seq; GRANT USAGE, SELECT, UPDATE ON "
          "SEQUENCE switch_seq TO pgtenant_pool");
    leftover("LISTEN alice_channel", "SELECT count(*) FROM pg_listening_channels()", "0");
    leftover("SELECT nextval('switch_seq')", "SELECT currval('switch_seq')", "55000");
    leftover("SELECT setval('switch_seq', 77)", "SELECT lastval()", "55000");
    leftover("DECLARE alice_cursor CURSOR WITH HOLD FOR SELECT name FROM patients",
             "SELECT count(*) FROM pg_cursors", "0");
    leftover("SELECT pg_advisory_lock(4243)",
             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
             "pg_backend_pid()",
             "0");
    leftover("CREATE TEMP TABLE alice_scratch (x int)",
             "SELECT count(*) FROM pg_temp.alice_scratch", "42P01");
    // Settings written where the guard cannot see them.
    leftover("DO $$ BEGIN PERFORM set_config('application_name', 'alice-hidden', false); END $$",
             "SHOW application_name", scalar(bob_.get(), "SHOW application_name"));
    leftover(
        "CREATE FUNCTION pg_temp.alice_set() RETURNS text LANGUAGE sql AS "
        "$$ SELECT set_config('search_path', 'alice_schema', false) $$",
        "SELECT pg_temp.alice_set()", "42883");
    query(su.get(), "DROP SEQUENCE switch_seq");
}

// A clean transaction of the same practice in between does not wash the backend: what alice
// left stays to be undone at the next switch.
TEST_F(PracticeSwitchTest, DirtStaysUntilTheSwitch) {
    query(alice_.get(), "LISTEN alice_channel");
    auto alice2 = env().connect_as(demo::kAlice);
    query(alice2.get(), "SELECT 1");
    query(alice_.get(), "SELECT count(*) FROM patients");
    EXPECT_EQ(scalar(bob_.get(), "SELECT count(*) FROM pg_listening_channels()"), "0");
}

// Calling a function of the client's own through a qualified name, an operator or a cast cannot
// pass for harmless: whatever it did is undone.
TEST_F(PracticeSwitchTest, AClientsOwnFunctionIsNeverVouchedFor) {
    const std::string bobs = scalar(bob_.get(), "SHOW application_name");
    query(alice_.get(),
          "CREATE FUNCTION pg_temp.leave() RETURNS int LANGUAGE sql AS "
          "$$ SELECT length(set_config('application_name', 'alice-left', false)) * 0 $$");
    // Same practice: the function survives (the backend is alice's until another practice).
    EXPECT_EQ(scalar(alice_.get(), "SELECT pg_temp.leave()"), "0");
    EXPECT_EQ(scalar(bob_.get(), "SHOW application_name"), bobs);
    EXPECT_NE(sqlstate_of(bob_.get(), "SELECT pg_temp.leave()"), "");
}

// Prepared statements stay on the backend across practices (their text is pgtenant's name for
// it, the plan reads the practice at execution), but no practice can read them.
TEST_F(PracticeSwitchTest, KeptStatementsCannotBeReadOrUsedByTheOtherPractice) {
    PGresult* r =
        PQprepare(alice_.get(), "alice_secret",
                  "SELECT 'alice-secret-literal' AS s, count(*) FROM patients", 0, nullptr);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(alice_.get());
    PQclear(r);
    EXPECT_EQ(sqlstate_of(bob_.get(), "SELECT statement FROM pg_prepared_statements"), "42501");
    EXPECT_EQ(sqlstate_of(bob_.get(), "SELECT * FROM pg_catalog.pg_prepared_statement()"), "42501");
    r = PQexecPrepared(bob_.get(), "alice_secret", 0, nullptr, nullptr, nullptr, 0);
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    EXPECT_EQ(std::string(state ? state : ""), "26000");
    PQclear(r);
    // Bob preparing the same text gets his own rows through the shared server copy.
    r = PQprepare(bob_.get(), "bob_same",
                  "SELECT 'alice-secret-literal' AS s, count(*) FROM patients", 0, nullptr);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQexecPrepared(bob_.get(), "bob_same", 0, nullptr, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(bob_.get());
    EXPECT_EQ(std::string(PQgetvalue(r, 0, 1)), std::to_string(demo::kPatientsB));
    PQclear(r);
    r = PQexecPrepared(alice_.get(), "alice_secret", 0, nullptr, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(alice_.get());
    EXPECT_EQ(std::string(PQgetvalue(r, 0, 1)), std::to_string(demo::kPatientsA));
    PQclear(r);
}

}  // namespace
}  // namespace pgtenant::testing
