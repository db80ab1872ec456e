// The isolation re-check's gate, with a scripted runner in place of the catalog checks.
#include "proxy/check/recheck.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

namespace pgtenant::proxy {
namespace {

using namespace std::chrono_literals;

struct Script {
    std::vector<Finding> findings;
    bool fail = false;
    Recheck::Runner runner() {
        return [this] {
            if (fail) throw std::runtime_error("connection refused");
            return findings;
        };
    }
};

const Finding kBypass{"pool_role_bypassrls", Severity::critical, "role pool", "m", "f"};

TEST(RecheckTest, ACriticalFindingClosesTheGateUntilARunPasses) {
    Script s;
    Recheck r(s.runner(), 3600s, true);
    r.run_once();
    EXPECT_FALSE(r.closed());
    s.findings = {kBypass};
    r.run_once();
    EXPECT_TRUE(r.closed());
    r.run_once();
    EXPECT_TRUE(r.closed());
    s.findings.clear();
    r.run_once();
    EXPECT_FALSE(r.closed());
    EXPECT_EQ(r.runs(), 4u);
    EXPECT_EQ(r.failed_runs(), 2u);
}

TEST(RecheckTest, ARunThatCannotConnectLeavesTheGateAsItWas) {
    Script s;
    Recheck r(s.runner(), 3600s, true);
    s.findings = {kBypass};
    r.run_once();
    s.fail = true;
    r.run_once();
    EXPECT_TRUE(r.closed());
    EXPECT_EQ(r.errors(), 1u);
    s.fail = false;
    s.findings.clear();
    r.run_once();
    EXPECT_FALSE(r.closed());
    s.fail = true;
    r.run_once();
    EXPECT_FALSE(r.closed());
}

TEST(RecheckTest, WithoutEnforcementTheGateStaysOpen) {
    Script s{{kBypass}};
    Recheck r(s.runner(), 3600s, false);
    r.run_once();
    EXPECT_FALSE(r.closed());
    EXPECT_EQ(r.failed_runs(), 1u);
}

TEST(RecheckTest, TheThreadRunsEveryIntervalAndStopsPromptly) {
    Script s{{kBypass}};
    const auto start = std::chrono::steady_clock::now();
    {
        Recheck r(s.runner(), 1s, true);
        while (r.runs() < 2 && std::chrono::steady_clock::now() - start < 10s)
            std::this_thread::sleep_for(20ms);
        EXPECT_GE(r.runs(), 2u);
        EXPECT_TRUE(r.closed());
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace pgtenant::proxy
