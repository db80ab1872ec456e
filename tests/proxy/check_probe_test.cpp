// The parts of `pgtenant probe` that need no database: how a forgery attempt is judged, and
// the report. (Which column a policy compares with the tenant context: policy_expr_test.)
#include <gtest/gtest.h>

#include <algorithm>

#include "proxy/check/json.h"
#include "proxy/check/probe.h"
#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy {
namespace {

using probe_detail::judge_attempt;
using probe_detail::LeakScan;
using probe_detail::Tenant;

class ProbeJudge : public ::testing::Test {
  protected:
    ProbeLogin alice_{"alice", ""};
    Tenant self_{&alice_, "A", {}};
    ProbeCheck check_{"forgery", "set", "alice", ""};
};

TEST_F(ProbeJudge, RefusedWithoutLeak) {
    judge_attempt(check_, self_, true, "SQLSTATE 42501: reserved", LeakScan{});
    EXPECT_EQ(check_.outcome, ProbeOutcome::refused);
    EXPECT_NE(check_.detail.find("42501"), std::string::npos);
}

TEST_F(ProbeJudge, AcceptedAndLeaking) {
    judge_attempt(check_, self_, false, "", LeakScan{{"public.patients"}, {}, ""});
    EXPECT_EQ(check_.outcome, ProbeOutcome::leak);
    EXPECT_EQ(check_.object, "public.patients");
}

TEST_F(ProbeJudge, RefusedButStillLeakingIsALeak) {
    judge_attempt(check_, self_, true, "SQLSTATE 42501: reserved",
                  LeakScan{{"public.patients"}, {}, ""});
    EXPECT_EQ(check_.outcome, ProbeOutcome::leak);
}

TEST_F(ProbeJudge, LeakThatWasThereBeforeIsNotBlamedOnTheAttempt) {
    self_.leaking_without_attempt = {"public.patients"};
    judge_attempt(check_, self_, false, "", LeakScan{{"public.patients"}, {}, ""});
    EXPECT_EQ(check_.outcome, ProbeOutcome::no_effect);
    EXPECT_NE(check_.detail.find("public.patients already leaks"), std::string::npos);
    judge_attempt(check_, self_, false, "",
                  LeakScan{{"public.patients", "public.meal_logs"}, {}, ""});
    EXPECT_EQ(check_.outcome, ProbeOutcome::leak);
    EXPECT_EQ(check_.object, "public.meal_logs");
}

TEST_F(ProbeJudge, FailingReadsAfterAnAcceptedAttemptAreNoLeak) {
    judge_attempt(check_, self_, false, "",
                  LeakScan{{}, {"public.patients"}, "22P02: invalid input syntax for type uuid"});
    EXPECT_EQ(check_.outcome, ProbeOutcome::no_effect);
    EXPECT_NE(check_.detail.find("22P02"), std::string::npos);
}

TEST(ProbeReportFormat, JsonAndExitCode) {
    ProbeReport r;
    r.mode = "sealed";
    r.logins = {{"alice", "A"}, {"bob", "B"}};
    r.tables = {"public.patients"};
    r.checks.push_back({"visibility", "own_rows_only", "alice", "public.patients",
                        ProbeOutcome::pass, "", "The login sees \"3\" rows.\n"});
    EXPECT_EQ(probe_exit_code(r), 0);
    std::string json = format_probe_json(r);
    EXPECT_NE(json.find("\"detail\":\"The login sees \\\"3\\\" rows.\\n\""), std::string::npos)
        << json;
    EXPECT_NE(json.find("\"summary\":{\"checks\":1,\"leaks\":0,\"inconclusive\":0}"),
              std::string::npos)
        << json;
    r.checks.push_back({"disjoint", "logins_disjoint", "", "public.patients", ProbeOutcome::leak,
                        "", "Both logins see rows with practice_id A."});
    r.checks.push_back({"write", "insert_other_practice", "alice", "public.patients",
                        ProbeOutcome::inconclusive, "23502", "Failed, but not by the policy."});
    EXPECT_EQ(probe_exit_code(r), 2);
    EXPECT_NE(format_probe_json(r).find("\"leaks\":1,\"inconclusive\":1"), std::string::npos);
    std::string text = format_probe_text(r);
    // Problems come first.
    EXPECT_LT(text.find("[LEAK] disjoint"), text.find("[pass] visibility")) << text;
    EXPECT_LT(text.find("[inconclusive] write"), text.find("[pass] visibility")) << text;
    EXPECT_NE(text.find("PRACTICES ARE NOT ISOLATED"), std::string::npos) << text;
}

TEST(ProbeReportFormat, JsonStringEscaping) {
    EXPECT_EQ(json_quoted("a\"b\\c\x01\t\xc3\xa9"), "\"a\\\"b\\\\c\\u0001\\t\xc3\xa9\"");
}

}  // namespace
}  // namespace pgtenant::proxy
