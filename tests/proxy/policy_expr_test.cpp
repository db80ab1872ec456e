// The policy reader of `pgtenant check`: which policy expressions (as pg_get_expr prints them)
// confine rows to the caller's practice.
#include "proxy/check/policy_expr.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy::check_detail {
namespace {

TenantScope scope(const char* expr) { return tenant_scope(expr, "app.current_practice_id"); }

TEST(PolicyExprTest, ComparingAColumnWithTheContextRestricts) {
    for (const char* e : {
             "(practice_id = ( SELECT pgtenant.practice_id() AS practice_id))",
             "(practice_id = pgtenant.practice_id())",
             "(pgtenant.practice_id() = practice_id)",
             "(practice_id = (current_setting('app.current_practice_id'::text))::uuid)",
             "((practice_id)::text = current_setting('App.Current_Practice_Id'::text, true))",
             "((id = ( SELECT pgtenant.practice_id() AS practice_id)) AND (x > 1))",
             "((practice_id = pgtenant.practice_id()) OR (practice_id = ( SELECT "
             "pgtenant.practice_id())))",
             "(patient_id IN ( SELECT p.id FROM patients p WHERE (p.practice_id = "
             "pgtenant.practice_id())))",
             "(EXISTS ( SELECT 1 FROM members m WHERE ((m.practice = pgtenant.practice_id()) AND "
             "(m.id = owner))))",
             "(practice_id IN (pgtenant.practice_id()))",
         }) {
        EXPECT_EQ(scope(e), TenantScope::restricted) << e;
    }
}

TEST(PolicyExprTest, MentioningTheContextWithoutConfiningRowsIsOpen) {
    for (const char* e : {
             "((practice_id = pgtenant.practice_id()) OR true)",
             "(pgtenant.practice_id() IS NOT NULL)",
             "(practice_id = COALESCE(pgtenant.practice_id(), practice_id))",
             "(practice_id <> pgtenant.practice_id())",
             "(NOT (practice_id = pgtenant.practice_id()))",
             "((practice_id = pgtenant.practice_id()) OR (practice_id IS NULL))",
             "(practice_id > (current_setting('app.current_practice_id'::text))::uuid)",
             "(current_setting('app.current_practice_id'::text) <> ''::text)",
         }) {
        EXPECT_EQ(scope(e), TenantScope::open) << e;
    }
}

TEST(PolicyExprTest, ContextHandedToAFunctionIsUnknown) {
    EXPECT_EQ(scope("my_check(practice_id, pgtenant.practice_id())"), TenantScope::unknown);
    EXPECT_EQ(scope("(my_check(practice_id, pgtenant.practice_id()) AND (x > 0))"),
              TenantScope::unknown);
    EXPECT_EQ(scope("((practice_id = pgtenant.practice_id()) AND my_check(practice_id, "
                    "pgtenant.practice_id()))"),
              TenantScope::restricted);
}

TEST(PolicyExprTest, NoContextIsNone) {
    for (const char* e : {"true", "(owner = CURRENT_USER)",
                          "(practice_id = (current_setting('app.other'::text))::uuid)",
                          "(practice_id = practice_id())"}) {
        EXPECT_EQ(scope(e), TenantScope::none) << e;
    }
}

TEST(PolicyExprTest, UnparsableExpressionFallsBackToTheText) {
    EXPECT_EQ(scope("pgtenant.practice_id() ??? (("), TenantScope::restricted);
    EXPECT_EQ(scope("??? (("), TenantScope::none);
    EXPECT_EQ(scope("true; DROP TABLE x"), TenantScope::none);
}

// The key column of a table found by its policy: what the policy compares with the context.
TEST(PolicyExprTest, ContextColumns) {
    using V = std::vector<std::string>;
    const char* setting = "app.current_practice_id";
    // pg_get_expr of sealed_demo.sql's practices policy, USING and WITH CHECK joined by AND
    // (as the probe's discovery query does), lower-cased.
    EXPECT_EQ(context_columns("(id = ( select pgtenant.practice_id() as practice_id)) and "
                              "(id = ( select pgtenant.practice_id() as practice_id))",
                              setting),
              (V{"id", "id"}));
    EXPECT_EQ(
        context_columns("(id = (current_setting('app.current_practice_id'::text))::uuid)", setting),
        V{"id"});
    EXPECT_EQ(context_columns("((current_setting('app.current_practice_id'::text))::uuid = "
                              "\"Owner Id\")",
                              setting),
              V{"Owner Id"});
    EXPECT_EQ(context_columns("((owner)::text = (( select pgtenant.practice_id() as "
                              "practice_id))::text)",
                              setting),
              V{"owner"});
    EXPECT_EQ(context_columns("((owner)::character varying = "
                              "current_setting('app.current_practice_id'::text))",
                              setting),
              V{"owner"});
    EXPECT_EQ(context_columns("(t.org = pgtenant.practice_id())", setting), V{"org"});
    // Neither a comparison with something else nor a negated one is the key.
    EXPECT_EQ(context_columns("((kind = 'x'::text) or "
                              "(current_setting('app.current_practice_id'::text) is not null))",
                              setting),
              V{});
    EXPECT_EQ(context_columns("(NOT (id = pgtenant.practice_id()))", setting), V{});
    EXPECT_EQ(context_columns("(( (", setting), V{});
}

}  // namespace
}  // namespace pgtenant::proxy::check_detail
