#include "protocol/ring_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

namespace pgtenant::protocol {
namespace {

std::vector<int> contents(const RingQueue<int>& q) {
    std::vector<int> out;
    q.for_each([&](int v) { out.push_back(v); });
    return out;
}

TEST(RingQueueTest, KeepsOrderAcrossWrapAndGrowth) {
    RingQueue<int> q;
    EXPECT_TRUE(q.empty());
    // Move the head into the middle of the array, then wrap and grow while wrapped.
    for (int i = 0; i < 6; ++i) q.push_back(i);
    for (int i = 0; i < 5; ++i) q.pop_front();
    for (int i = 6; i < 30; ++i) q.push_back(i);
    std::vector<int> expected;
    for (int i = 5; i < 30; ++i) expected.push_back(i);
    EXPECT_EQ(contents(q), expected);
    EXPECT_EQ(q.size(), expected.size());
    EXPECT_EQ(q.front(), 5);
    q.clear();
    EXPECT_TRUE(q.empty());
    q.push_back(42);
    EXPECT_EQ(q.front(), 42);
    EXPECT_EQ(q.size(), 1u);
}

// Random pushes and pops behave exactly as std::deque's.
TEST(RingQueueTest, BehavesAsADeque) {
    RingQueue<int> q;
    std::deque<int> reference;
    std::mt19937 rng(7);
    for (int step = 0; step < 100000; ++step) {
        const unsigned op = rng() % 10;
        if (op < 5 || reference.empty()) {
            q.push_back(step);
            reference.push_back(step);
        } else if (op < 9) {
            ASSERT_EQ(q.front(), reference.front());
            q.pop_front();
            reference.pop_front();
        } else if (rng() % 50 == 0) {
            q.clear();
            reference.clear();
        }
        ASSERT_EQ(q.size(), reference.size());
        ASSERT_EQ(q.empty(), reference.empty());
        if (!reference.empty()) {
            ASSERT_EQ(q.front(), reference.front());
        }
    }
    EXPECT_EQ(contents(q), std::vector<int>(reference.begin(), reference.end()));
}

}  // namespace
}  // namespace pgtenant::protocol
