// Backoff while PostgreSQL cannot be reached: one probe at a time, doubling delays, one log
// line per interval.
#include "proxy/pool/connect_gate.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = ConnectGate::Clock;

TEST(ConnectGate, HealthyLetsEveryAttemptThrough) {
    ConnectGate g;
    const auto t = Clock::now();
    EXPECT_TRUE(g.may_try(t));
    EXPECT_TRUE(g.may_try(t));
    EXPECT_FALSE(g.down());
}

TEST(ConnectGate, AfterAFailureAttemptsWaitThenOneProbes) {
    ConnectGate g;
    const auto t = Clock::now();
    ASSERT_TRUE(g.may_try(t));
    auto line = g.failed(t, "connection refused");
    ASSERT_TRUE(line);
    EXPECT_NE(line->find("connection refused"), std::string::npos);
    EXPECT_TRUE(g.down());
    EXPECT_EQ(g.last_error(), "connection refused");
    EXPECT_FALSE(g.may_try(t + 50ms));   // within the first delay (100 ms)
    EXPECT_TRUE(g.may_try(t + 100ms));   // the probe
    EXPECT_FALSE(g.may_try(t + 100ms));  // only one at a time
    g.succeeded();
    EXPECT_FALSE(g.down());
    EXPECT_TRUE(g.may_try(t + 101ms));
    EXPECT_TRUE(g.may_try(t + 101ms));
}

TEST(ConnectGate, ProbeFailuresDoubleTheDelayUpToTheCeiling) {
    ConnectGate g;
    auto t = Clock::now();
    ASSERT_TRUE(g.may_try(t));
    g.failed(t, "down");
    Clock::duration expected = 100ms;
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(g.may_try(t + expected - 1ms)) << i;
        t += expected;
        ASSERT_TRUE(g.may_try(t)) << i;
        g.failed(t, "down");
        expected = std::min<Clock::duration>(expected * 2, ConnectGate::kMaxDelay);
    }
    EXPECT_EQ(expected, Clock::duration(ConnectGate::kMaxDelay));
}

TEST(ConnectGate, AttemptsAlreadyUnderWayDoNotEscalate) {
    ConnectGate g;
    const auto t = Clock::now();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(g.may_try(t));  // all started while healthy
    for (int i = 0; i < 50; ++i) g.failed(t, "down");
    EXPECT_TRUE(g.may_try(t + 100ms));  // still the first delay, not 5 s
}

TEST(ConnectGate, LogsOncePerIntervalWithACount) {
    ConnectGate g;
    auto t = Clock::now();
    ASSERT_TRUE(g.failed(t, "down"));
    int logged = 0;
    std::string last;
    for (int i = 1; i < 1000; ++i) {  // failures every 20 ms for 20 s
        if (auto line = g.failed(t + i * 20ms, "down")) {
            ++logged;
            last = *line;
        }
    }
    EXPECT_EQ(logged, 1);  // at 10 s; the next would be at 20 s
    EXPECT_NE(last.find("failed attempts"), std::string::npos) << last;
    g.succeeded();
    EXPECT_TRUE(g.failed(t + 21s, "down again"));  // a new outage is reported at once
}

}  // namespace
}  // namespace pgtenant::proxy
