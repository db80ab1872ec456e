#include "proxy/admin/stats.h"

#include <gtest/gtest.h>

#include <thread>

namespace pgtenant::proxy::admin {
namespace {

using std::chrono::microseconds;

TEST(Stats, BucketsAreUpperBoundsInclusive) {
    EXPECT_EQ(bucket_of(microseconds(0)), 0u);
    EXPECT_EQ(bucket_of(microseconds(100)), 0u);  // le="0.0001"
    EXPECT_EQ(bucket_of(microseconds(101)), 1u);
    EXPECT_EQ(bucket_of(microseconds(1000)), 3u);  // le="0.001"
    EXPECT_EQ(bucket_of(microseconds(10'000'000)), kTimeBuckets.size() - 1);
    EXPECT_EQ(bucket_of(microseconds(10'000'001)), kTimeBuckets.size());  // +Inf
}

TEST(Stats, SlotsOfEveryWorkerAddUp) {
    Stats stats(2);
    auto& p = stats.practice("p1");
    // One writer per slot, on two threads, as two workers would.
    std::thread other([&] {
        for (int i = 0; i < 1000; ++i) Slot::add(p.slot(1).queries, 1);
        p.slot(1).record_transaction(microseconds(300));
        Slot::add(p.slot(1).clients, 1);
    });
    for (int i = 0; i < 500; ++i) Slot::add(p.slot(0).queries, 1);
    p.slot(0).record_wait(microseconds(2000));
    p.slot(0).record_wait(microseconds(50));
    Slot::add(p.slot(0).clients, 2);
    Slot::add(p.slot(0).clients, -1);
    other.join();
    const Counters c = p.read();
    EXPECT_EQ(c.queries, 1500u);
    EXPECT_EQ(c.transactions, 1u);
    EXPECT_EQ(c.xact.count, 1u);
    EXPECT_EQ(c.xact.sum_us, 300u);
    EXPECT_EQ(c.xact_us, 300u);
    EXPECT_EQ(c.clients, 2);
    EXPECT_EQ(c.wait.count, 2u);
    EXPECT_EQ(c.wait.sum_us, 2050u);
    EXPECT_EQ(c.wait_us_max, 2000u);
    EXPECT_EQ(c.wait.buckets[0], 1u);
    EXPECT_EQ(c.wait.buckets[bucket_of(microseconds(2000))], 1u);
}

TEST(Stats, PracticesAreListedInOrderAndTotalled) {
    Stats stats(1);
    Slot::add(stats.practice("b").slot(0).transactions, 2);
    Slot::add(stats.practice("a").slot(0).transactions, 3);
    Slot::add(stats.unbound().slot(0).login_failures, 4);
    EXPECT_EQ(&stats.practice("a"), &stats.practice("a"));  // the same for life
    const auto rows = stats.practices();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].practice, "a");
    EXPECT_EQ(rows[1].practice, "b");
    const Counters t = stats.totals();
    EXPECT_EQ(t.transactions, 5u);
    EXPECT_EQ(t.login_failures, 4u);
}

TEST(Stats, RareEventsAreCountedByName) {
    Stats stats(1);
    stats.count_refusal("reserved_setting");
    stats.count_refusal("reserved_setting");
    stats.count_refusal("");
    stats.count_login_failure("auth_failed");
    EXPECT_EQ(stats.refusals_by_rule().at("reserved_setting"), 2u);
    EXPECT_EQ(stats.refusals_by_rule().at("unnamed"), 1u);
    EXPECT_EQ(stats.login_failures_by_reason().at("auth_failed"), 1u);
}

TEST(Stats, PeriodsAverageOverTheLastCompleteOne) {
    using Clock = StatsPeriods::Clock;
    const auto t0 = Clock::now();
    StatsPeriods periods(t0);
    Counters at;
    at.transactions = 100;
    // No period complete: since the start.
    auto w = periods.last(at, t0 + std::chrono::seconds(10));
    EXPECT_EQ(w.to.transactions, 100u);
    EXPECT_DOUBLE_EQ(w.seconds, 10);
    periods.tick(at, t0 + std::chrono::seconds(60));
    at.transactions = 700;
    periods.tick(at, t0 + std::chrono::seconds(120));
    at.transactions = 9999;  // the running period is not averaged
    w = periods.last(at, t0 + std::chrono::seconds(130));
    EXPECT_EQ(w.from.transactions, 100u);
    EXPECT_EQ(w.to.transactions, 700u);
    EXPECT_DOUBLE_EQ(w.seconds, 60);
}

}  // namespace
}  // namespace pgtenant::proxy::admin
