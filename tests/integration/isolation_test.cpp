// Cross-tenant isolation through pgtenant: for every tenant table, a login of practice A
// never reads or changes practice B's rows, over the simple, extended and pipelined protocol.
#include <gtest/gtest.h>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

const auto* const kEnv = register_integration_env();

struct Tenant {
    std::string login;
    std::string practice;
};
const std::vector<Tenant> kTenants{{demo::kAlice, demo::kPracticeA},
                                   {demo::kBob, demo::kPracticeB}};

class IsolationTest : public ProxyTest {
  protected:
    // The other practice's rows must be exactly as the demo data left them.
    void expect_demo_rows_untouched() {
        auto su = env().superuser();
        for (const auto& table : tenant_tables()) {
            for (const auto& practice : {demo::kPracticeA, demo::kPracticeB}) {
                EXPECT_EQ(count_as_superuser(su.get(), table.name, table.practice_key, practice),
                          expected_rows(table, practice))
                    << table.name << " rows of " << practice;
            }
        }
    }
};

TEST_F(IsolationTest, PoolRoleWithoutProxyFailsClosed) {
    // Guards the premise of every other case: without pgtenant's binding the pool role sees
    // nothing - not even when it sets the plain setting itself, which sealed policies ignore.
    auto& cluster = env().cluster();
    auto direct = connect(
        "host=127.0.0.1 port=" + std::to_string(cluster.port()) +
        " dbname=postgres user=pgtenant_pool sslmode=disable password=" + cluster.pool_password());
    for (const auto& table : tenant_tables()) {
        EXPECT_TRUE(fails_closed(run(direct.get(), "SELECT * FROM " + table.name))) << table.name;
        ASSERT_EQ(sqlstate_of(direct.get(), "SELECT set_config('app.current_practice_id', '" + demo::kPracticeB +
                                                 "', false)"),
                  "");
        EXPECT_TRUE(fails_closed(run(direct.get(), "SELECT * FROM " + table.name))) << table.name;
    }
}

TEST_F(IsolationTest, SimpleSelectWithoutWhereSeesOnlyOwnRows) {
    for (const auto& tenant : kTenants) {
        auto conn = env().connect_as(tenant.login);
        for (const auto& table : tenant_tables()) {
            SCOPED_TRACE(tenant.login + " " + table.name);
            auto rows = query(conn.get(), "SELECT * FROM " + table.name);
            EXPECT_EQ(static_cast<int>(rows.size()), expected_rows(table, tenant.practice));
            EXPECT_TRUE(all_rows_in_practice(rows, table.practice_column, tenant.practice));
        }
    }
}

TEST_F(IsolationTest, ExtendedSelectSeesOnlyOwnRows) {
    for (const auto& tenant : kTenants) {
        auto conn = env().connect_as(tenant.login);
        for (const auto& table : tenant_tables()) {
            SCOPED_TRACE(tenant.login + " " + table.name);
            auto rows = query_params(conn.get(), "SELECT * FROM " + table.name, {});
            EXPECT_EQ(static_cast<int>(rows.size()), expected_rows(table, tenant.practice));
            EXPECT_TRUE(all_rows_in_practice(rows, table.practice_column, tenant.practice));
            // Asking for the other practice explicitly still returns nothing.
            auto theirs = query_params(
                conn.get(),
                "SELECT * FROM " + table.name + " WHERE " + table.practice_key + " = $1",
                {other_practice(tenant.practice)});
            EXPECT_TRUE(theirs.empty());
        }
    }
}

TEST_F(IsolationTest, BindingIsVisibleAsTheSetting) {
    for (const auto& tenant : kTenants) {
        auto conn = env().connect_as(tenant.login);
        EXPECT_EQ(
            query(conn.get(), "SELECT current_setting('app.current_practice_id')").at(0).at(0),
            tenant.practice);
        EXPECT_EQ(query_params(conn.get(), "SELECT current_setting('app.current_practice_id')", {})
                      .at(0)
                      .at(0),
                  tenant.practice);
    }
}

TEST_F(IsolationTest, InsertTaggedWithOtherPracticeIsRejected) {
    for (const auto& tenant : kTenants) {
        SCOPED_TRACE(tenant.login);
        auto conn = env().connect_as(tenant.login);
        const auto& theirs = other_practice(tenant.practice);
        const auto& their_patient = theirs == demo::kPracticeA ? demo::kPatientA : demo::kPatientB;
        EXPECT_EQ(sqlstate_of(conn.get(), "INSERT INTO practices (id, name) VALUES ('" + theirs +
                                              "', 'hijack')"),
                  "42501");
        EXPECT_EQ(sqlstate_of(conn.get(), "INSERT INTO patients (practice_id, name) VALUES ('" +
                                              theirs + "', 'Intruder')"),
                  "42501");
        EXPECT_EQ(
            sqlstate_of(conn.get(),
                        "INSERT INTO meal_logs (practice_id, patient_id, logged_at, meal_data) "
                        "VALUES ('" +
                            theirs + "', '" + their_patient + "', now(), '{}')"),
            "42501");
        // Same through the extended protocol, the value arriving as a parameter.
        auto r = run_params(conn.get(), "INSERT INTO patients (practice_id, name) VALUES ($1, $2)",
                            {theirs, std::string("Intruder")});
        EXPECT_EQ(r.sqlstate, "42501") << r.error;
        r = run_params(conn.get(),
                       "INSERT INTO meal_logs (practice_id, patient_id, logged_at, meal_data) "
                       "VALUES ($1, $2, now(), '{}')",
                       {theirs, their_patient});
        EXPECT_EQ(r.sqlstate, "42501") << r.error;
        // Moving an own row into the other practice is the same violation.
        auto mine = query(conn.get(), "SELECT id FROM patients LIMIT 1").at(0).at(0);
        r = run_params(conn.get(), "UPDATE patients SET practice_id = $1 WHERE id = $2",
                       {theirs, mine});
        EXPECT_EQ(r.sqlstate, "42501") << r.error;
    }
    expect_demo_rows_untouched();
}

TEST_F(IsolationTest, InsertTaggedWithOwnPracticeWorks) {
    auto conn = env().connect_as(demo::kAlice);
    ASSERT_TRUE(run(conn.get(), "BEGIN").ok());
    auto r = run_params(conn.get(),
                        "INSERT INTO meal_logs (practice_id, patient_id, logged_at, meal_data) "
                        "VALUES ($1, $2, now(), '{\"meal\": \"test\"}')",
                        {demo::kPracticeA, demo::kPatientA});
    EXPECT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
    EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM meal_logs").at(0).at(0),
              std::to_string(demo::kMealLogsA + 1));
    ASSERT_TRUE(run(conn.get(), "ROLLBACK").ok());
    expect_demo_rows_untouched();
}

TEST_F(IsolationTest, UpdateAndDeleteOfOtherPracticeAffectNoRows) {
    for (const auto& tenant : kTenants) {
        SCOPED_TRACE(tenant.login);
        auto conn = env().connect_as(tenant.login);
        const auto& theirs = other_practice(tenant.practice);
        for (const auto& table : tenant_tables()) {
            SCOPED_TRACE(table.name);
            std::string where = " WHERE " + table.practice_key + " = '" + theirs + "'";
            auto r = run(conn.get(), "UPDATE " + table.name + " SET created_at = now()" + where);
            EXPECT_TRUE(r.ok()) << r.error;
            EXPECT_EQ(r.command_tuples, "0");
            r = run_params(conn.get(),
                           "UPDATE " + table.name + " SET created_at = now() WHERE " +
                               table.practice_key + " = $1",
                           {theirs});
            EXPECT_EQ(r.command_tuples, "0") << r.error;
            r = run_params(conn.get(),
                           "DELETE FROM " + table.name + " WHERE " + table.practice_key + " = $1",
                           {theirs});
            EXPECT_EQ(r.command_tuples, "0") << r.error;
        }
        // Without a WHERE clause only the own rows are touched; rolled back to keep the data.
        ASSERT_TRUE(run(conn.get(), "BEGIN").ok());
        auto r = run(conn.get(), "DELETE FROM meal_logs");
        EXPECT_EQ(r.command_tuples,
                  std::to_string(tenant.practice == demo::kPracticeA ? demo::kMealLogsA
                                                                     : demo::kMealLogsB))
            << r.error;
        ASSERT_TRUE(run(conn.get(), "ROLLBACK").ok());
    }
    expect_demo_rows_untouched();
}

TEST_F(IsolationTest, PipelineModeSeesOnlyOwnRowsInEveryTransaction) {
    for (const auto& tenant : kTenants) {
        SCOPED_TRACE(tenant.login);
        auto conn = env().connect_as(tenant.login);
        PGconn* c = conn.get();
        ASSERT_EQ(PQenterPipelineMode(c), 1);
        // Two synced batches: each is its own implicit transaction and each must be bound.
        for (int batch = 0; batch < 2; ++batch) {
            for (const auto& table : tenant_tables()) {
                ASSERT_EQ(PQsendQueryParams(c, ("SELECT * FROM " + table.name).c_str(), 0, nullptr,
                                            nullptr, nullptr, nullptr, 0),
                          1);
            }
            ASSERT_EQ(PQpipelineSync(c), 1);
        }
        auto deadline = std::chrono::steady_clock::now() + 20s;
        for (int batch = 0; batch < 2; ++batch) {
            for (const auto& table : tenant_tables()) {
                SCOPED_TRACE("batch " + std::to_string(batch) + " " + table.name);
                auto r = to_query_result(next_result(c, deadline));
                ASSERT_TRUE(r.ok()) << r.sqlstate << " " << r.error;
                EXPECT_EQ(static_cast<int>(r.rows.size()), expected_rows(table, tenant.practice));
                EXPECT_TRUE(all_rows_in_practice(r.rows, table.practice_column, tenant.practice));
                EXPECT_EQ(next_result(c, deadline), nullptr);  // end of this query's results
            }
            PGresult* sync = next_result(c, deadline);
            ASSERT_NE(sync, nullptr);
            EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
            PQclear(sync);
        }
        ASSERT_EQ(PQexitPipelineMode(c), 1) << PQerrorMessage(c);
        // The connection is still a normal, bound connection afterwards.
        EXPECT_EQ(query(c, "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(tenant.practice == demo::kPracticeA ? demo::kPatientsA
                                                                     : demo::kPatientsB));
    }
}

TEST_F(IsolationTest, PipelinedCrossTenantWritesAreRejected) {
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(PQenterPipelineMode(c), 1);
    const char* insert =
        "INSERT INTO patients (practice_id, name) VALUES ($1, 'Pipelined intruder')";
    const char* params[] = {demo::kPracticeB.c_str()};
    ASSERT_EQ(PQsendQueryParams(c, insert, 1, nullptr, params, nullptr, nullptr, 0), 1);
    ASSERT_EQ(PQpipelineSync(c), 1);
    ASSERT_EQ(PQsendQueryParams(c, "DELETE FROM patients WHERE practice_id = $1", 1, nullptr,
                                params, nullptr, nullptr, 0),
              1);
    ASSERT_EQ(PQpipelineSync(c), 1);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    auto first = to_query_result(next_result(c, deadline));
    EXPECT_EQ(first.sqlstate, "42501") << first.error;
    EXPECT_EQ(next_result(c, deadline), nullptr);
    PGresult* sync = next_result(c, deadline);
    ASSERT_NE(sync, nullptr);
    EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
    PQclear(sync);
    auto second = to_query_result(next_result(c, deadline));
    EXPECT_TRUE(second.ok()) << second.error;
    EXPECT_EQ(second.command_tuples, "0");
    EXPECT_EQ(next_result(c, deadline), nullptr);
    sync = next_result(c, deadline);
    ASSERT_NE(sync, nullptr);
    PQclear(sync);
    ASSERT_EQ(PQexitPipelineMode(c), 1);
    expect_demo_rows_untouched();
}

}  // namespace
}  // namespace pgtenant::testing
