// The statement guard's rules (protocol/guard/judge.cpp), one by one: which statements each
// refuses, with which SQLSTATE and rule id, and where the policy lets them through.
#include "protocol/guard/judge.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/guard/guard.h"

namespace pgtenant::protocol::guard {
namespace {

class Judge : public ::testing::Test {
  protected:
    Verdict judge(const std::string& sql, Policy p) { return guard_.judge(sql, p); }
    Verdict judge(const std::string& sql) { return judge(sql, policy_); }
    // "rule sqlstate" of the refusal, or "" when the statement is allowed.
    std::string refusal(const std::string& sql, Policy p) {
        auto v = judge(sql, p);
        return v.refusal ? v.refusal->rule + " " + v.refusal->sqlstate : "";
    }
    std::string refusal(const std::string& sql) { return refusal(sql, policy_); }

    StatementGuard guard_{0};
    Policy policy_{"app.current_practice_id"};
};

TEST_F(Judge, OrdinaryStatementsPass) {
    for (const char* sql : {"SELECT 1", "SELECT * FROM t WHERE id = $1", "SET TimeZone = 'UTC'",
                            "EXPLAIN SELECT 1", "ANALYZE t", "BEGIN", "DISCARD ALL"}) {
        auto v = judge(sql);
        EXPECT_FALSE(v.refusal) << sql;
    }
}

TEST_F(Judge, ReservedSettings) {
    for (const char* sql :
         {"SET app.current_practice_id = '2'", "RESET app.current_practice_id",
          "SELECT set_config('app.current_practice_id', '2', false)",
          "SELECT pg_catalog.set_config('pgtenant.context', $1, true)", "SET ROLE postgres",
          "SET session_authorization = 'x'", "SET app.other = 1", "SET row_security = off",
          "SELECT 1; SET LOCAL app.current_practice_id = 'x'"}) {
        EXPECT_EQ(refusal(sql), "reserved_setting 42501") << sql;
    }
    auto v = judge("SET app.current_practice_id = 'x'");
    EXPECT_NE(v.refusal->message.find("\"app.current_practice_id\" is reserved"),
              std::string::npos);
    // Another configured tenant setting is reserved instead; app.* stays reserved.
    Policy other{"my.tenant"};
    EXPECT_EQ(refusal("SET my.tenant = '1'", other), "reserved_setting 42501");
    EXPECT_EQ(refusal("SET work_mem = '1MB'", other), "");
}

TEST_F(Judge, ReservedSettingNames) {
    EXPECT_TRUE(is_reserved_setting("App.Current_Practice_Id", "app.current_practice_id"));
    EXPECT_TRUE(is_reserved_setting("PGTENANT.context", "app.current_practice_id"));
    EXPECT_TRUE(is_reserved_setting("my.tenant", "My.Tenant"));
    EXPECT_TRUE(is_reserved_setting("local_preload_libraries", "x.y"));
    EXPECT_FALSE(is_reserved_setting("search_path", "app.current_practice_id"));
    EXPECT_FALSE(is_reserved_setting("application_name", "app.current_practice_id"));
}

TEST_F(Judge, RoleAndDatabaseDefaults) {
    EXPECT_EQ(refusal("ALTER ROLE CURRENT_USER SET work_mem = '1MB'"), "alter_defaults 42501");
    EXPECT_EQ(refusal("ALTER DATABASE d RESET ALL"), "alter_defaults 42501");
    EXPECT_EQ(refusal("ALTER ROLE r IN DATABASE d SET statement_timeout = 0"),
              "alter_defaults 42501");
}

TEST_F(Judge, ComputedSettingNames) {
    EXPECT_EQ(refusal("SELECT set_config($1, 'x', false)"), "computed_setting_name 42501");
    EXPECT_EQ(refusal("SELECT set_config(current_user, '1MB', false)"),
              "computed_setting_name 42501");
    EXPECT_EQ(refusal("SELECT set_config('search_path', $1, false)"), "");
}

TEST_F(Judge, ExplainAnalyze) {
    for (const char* sql :
         {"EXPLAIN ANALYZE SELECT 1", "EXPLAIN (ANALYSE) SELECT 1",
          "EXPLAIN (ANALYZE on, COSTS off) SELECT 1", "SELECT 1; EXPLAIN (ANALYZE 1) SELECT 2"}) {
        EXPECT_EQ(refusal(sql), "explain_analyze 42501") << sql;
        Policy extended = policy_;
        extended.simple_query = false;
        EXPECT_EQ(refusal(sql, extended), "explain_analyze 42501") << sql;
    }
    auto v = judge("EXPLAIN ANALYZE SELECT 1");
    EXPECT_NE(v.refusal->hint.find("tenant.allow_explain_analyze"), std::string::npos);
    EXPECT_EQ(refusal("EXPLAIN (ANALYZE off) SELECT 1"), "");
    Policy allowed = policy_;
    allowed.allow_explain_analyze = true;
    EXPECT_EQ(refusal("EXPLAIN ANALYZE SELECT 1", allowed), "");
}

TEST_F(Judge, MaintenanceStatements) {
    EXPECT_EQ(refusal("VACUUM"), "maintenance_statement 42501");
    EXPECT_EQ(refusal("SELECT 1; CREATE INDEX CONCURRENTLY i ON t (a)"),
              "maintenance_statement 42501");
    EXPECT_NE(judge("VACUUM t").refusal->message.find("VACUUM is a maintenance command"),
              std::string::npos);
    Policy allowed = policy_;
    allowed.allow_maintenance = true;
    auto v = judge("VACUUM", allowed);
    EXPECT_FALSE(v.refusal);
    EXPECT_TRUE(v.facts.not_in_pipeline);
    allowed.session_pooling = true;
    EXPECT_EQ(refusal("VACUUM", allowed), "");
    Policy session = policy_;
    session.session_pooling = true;
    EXPECT_EQ(refusal("VACUUM", session), "maintenance_statement 42501");
}

TEST_F(Judge, SqlLevelPreparedStatements) {
    // Alone in a simple query: served by pgtenant, with the name's place in the text.
    auto prepare = judge("PREPARE s1 AS SELECT 1");
    EXPECT_FALSE(prepare.refusal);
    ASSERT_TRUE(prepare.sql_prepared_name);
    EXPECT_EQ(prepare.sql_prepared_name->offset, 8u);
    EXPECT_EQ(prepare.sql_prepared_name->length, 2u);
    auto execute = judge("  EXECUTE \"S 2\" (1)");
    ASSERT_TRUE(execute.sql_prepared_name);
    EXPECT_EQ(execute.sql_prepared_name->offset, 10u);
    EXPECT_EQ(refusal("EXECUTE U&\"\\0073\""), "unicode_statement_name 0A000");
    // Anywhere else: not supported in transaction pooling.
    for (const char* sql : {"SELECT 1; PREPARE s1 AS SELECT 1", "EXPLAIN EXECUTE s1",
                            "CREATE TABLE t AS EXECUTE s1", "PREPARE a AS SELECT 1; EXECUTE a"}) {
        EXPECT_EQ(refusal(sql), "sql_prepared 0A000") << sql;
    }
    Policy extended = policy_;
    extended.simple_query = false;
    EXPECT_EQ(refusal("PREPARE s1 AS SELECT 1", extended), "sql_prepared 0A000");
    // A session-pooled login's server connection keeps them.
    Policy session = policy_;
    session.session_pooling = true;
    EXPECT_EQ(refusal("SELECT 1; PREPARE s1 AS SELECT 1", session), "");
    EXPECT_FALSE(judge("PREPARE s1 AS SELECT 1", session).sql_prepared_name);
    // DEALLOCATE <name> alone is the session's to answer (it knows the client's statements).
    auto deallocate = judge("DEALLOCATE s1");
    EXPECT_FALSE(deallocate.refusal);
    EXPECT_EQ(deallocate.facts.deallocate_name, "s1");
}

TEST_F(Judge, RulesApplyInOrder) {
    // A reserved setting outranks everything after it.
    EXPECT_EQ(refusal("SET app.x = 1; EXPLAIN ANALYZE SELECT 1; VACUUM"), "reserved_setting 42501");
    EXPECT_EQ(refusal("EXPLAIN ANALYZE SELECT 1; VACUUM"), "explain_analyze 42501");
    EXPECT_EQ(refusal("PREPARE p AS SELECT 1; VACUUM"), "sql_prepared 0A000");
}

TEST_F(Judge, FastPathIsRefused) {
    auto e = refuse_fast_path();
    EXPECT_EQ(e.sqlstate, "42501");
    EXPECT_EQ(e.rule, "fast_path");
}

}  // namespace
}  // namespace pgtenant::protocol::guard
