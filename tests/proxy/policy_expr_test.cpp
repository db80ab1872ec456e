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

}  // namespace
}  // namespace pgtenant::proxy::check_detail
