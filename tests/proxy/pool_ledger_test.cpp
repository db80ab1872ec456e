// The pool's bookkeeping without sockets: slots, affinity, waiters across workers, closing.
#include <gtest/gtest.h>

#include "proxy/pool/ledger.h"

namespace pgtenant::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct FakeConn {
    int worker_ = 0;
    std::string practice_;
    int worker() const { return worker_; }
    const std::string& last_practice() const { return practice_; }
};

struct FakeWaiter {
    int worker = 0;
    Clock::time_point since;
    std::shared_ptr<FakeConn> conn;
    bool woken = false;
    std::string practice;
    uint64_t turn = 0;
};

using Ledger = PoolLedger<FakeConn, FakeWaiter>;

std::shared_ptr<FakeConn> conn(int worker, std::string practice) {
    return std::make_shared<FakeConn>(FakeConn{worker, std::move(practice)});
}

std::shared_ptr<FakeWaiter> waiter(int worker, Clock::time_point since, std::string practice = {}) {
    return std::make_shared<FakeWaiter>(
        FakeWaiter{worker, since, nullptr, false, std::move(practice), 0});
}

TEST(PoolLedger, SlotsStopAtTheSizeAndComeBackWhenFreed) {
    Ledger l(2, 1);
    EXPECT_TRUE(l.reserve_slot());
    EXPECT_TRUE(l.reserve_slot());
    EXPECT_FALSE(l.reserve_slot());
    EXPECT_EQ(l.open(), 2);
    l.slot_freed();
    EXPECT_TRUE(l.reserve_slot());
    EXPECT_EQ(l.stats().opened_total, 3u);
}

TEST(PoolLedger, IdleConnectionOfTheSamePracticeComesFirstThenOwnWorker) {
    Ledger l(4, 2);
    auto a_other = conn(1, "A");
    auto b_own = conn(0, "B");
    auto c_own = conn(0, "C");
    const auto now = Clock::now();
    for (auto& c : {a_other, b_own, c_own}) EXPECT_EQ(l.hand_over(c, c->worker(), now), nullptr);
    EXPECT_EQ(l.stats().idle, 3);

    EXPECT_EQ(l.take_idle("A", 0), a_other);  // affinity beats the worker
    EXPECT_EQ(l.stats().affinity_hits, 1u);
    EXPECT_EQ(l.take_idle("Z", 0), c_own);  // no affinity: own worker, newest first
    EXPECT_EQ(l.take_idle("Z", 1), b_own);  // only another worker has one
    EXPECT_EQ(l.take_idle("Z", 1), nullptr);
    EXPECT_EQ(l.stats().affinity_hits, 1u);
}

// Pool::acquire_now takes only the connection take_idle would take, and only when it needs no
// check: one refused stays idle, in its place, and the affinity count does not move.
TEST(PoolLedger, TakeIdleIfLeavesARefusedConnectionIdle) {
    Ledger l(4, 1);
    auto a = conn(0, "A");
    auto b = conn(0, "B");
    const auto now = Clock::now();
    for (auto& c : {a, b}) EXPECT_EQ(l.hand_over(c, 0, now), nullptr);
    std::vector<const FakeConn*> asked;
    auto refuse = [&](const FakeConn& c) {
        asked.push_back(&c);
        return false;
    };
    EXPECT_EQ(l.take_idle_if("A", 0, refuse), nullptr);
    EXPECT_EQ(asked, std::vector<const FakeConn*>{a.get()});  // the one take_idle prefers
    EXPECT_EQ(l.stats().idle, 2);
    EXPECT_EQ(l.stats().affinity_hits, 0u);
    EXPECT_EQ(l.take_idle_if("A", 0, [](const FakeConn&) { return true; }), a);
    EXPECT_EQ(l.stats().affinity_hits, 1u);
    EXPECT_EQ(l.take_idle("A", 0), b);
}

TEST(PoolLedger, MovesAreCountedOnlyAcrossWorkers) {
    Ledger l(1, 2);
    FakeConn c{1, "A"};
    EXPECT_FALSE(l.must_move(c, 1));
    EXPECT_TRUE(l.must_move(c, 0));
    EXPECT_EQ(l.stats().moved, 1u);
}

TEST(PoolLedger, ReturnedConnectionGoesToTheOldestWaiter) {
    Ledger l(1, 2);
    const auto t0 = Clock::now();
    auto first = waiter(1, t0 - 100ms);
    auto second = waiter(1, t0 - 50ms);
    l.add_waiter(first);
    l.add_waiter(second);
    EXPECT_EQ(l.stats().waiting, 2);
    auto c = conn(1, "A");
    auto woken = l.hand_over(c, 1, t0);
    ASSERT_EQ(woken, first);
    EXPECT_TRUE(first->woken);
    EXPECT_EQ(first->conn, c);
    EXPECT_EQ(l.stats().waiting, 1);
    EXPECT_EQ(l.stats().idle, 0);
}

TEST(PoolLedger, OwnWorkersWaiterGoesFirstWithinTheSlack) {
    Ledger l(1, 2);
    const auto t0 = Clock::now();
    auto elsewhere = waiter(1, t0 - 3ms);  // older, but within 5 ms of the local one
    auto here = waiter(0, t0 - 1ms);
    l.add_waiter(elsewhere);
    l.add_waiter(here);
    EXPECT_EQ(l.hand_over(conn(0, "A"), 0, t0), here);
    // Beyond the slack the older waiter elsewhere wins.
    auto late_here = waiter(0, t0 + 20ms);
    l.add_waiter(late_here);
    EXPECT_EQ(l.hand_over(conn(0, "A"), 0, t0 + 21ms), elsewhere);
}

TEST(PoolLedger, AFreedSlotWakesAWaiterWithoutAConnection) {
    Ledger l(1, 1);
    auto w = waiter(0, Clock::now());
    l.add_waiter(w);
    EXPECT_EQ(l.hand_over(nullptr, 0, Clock::now()), w);
    EXPECT_TRUE(w->woken);
    EXPECT_EQ(w->conn, nullptr);
    // Nobody waits: a freed slot leaves nothing idle.
    EXPECT_EQ(l.hand_over(nullptr, 0, Clock::now()), nullptr);
    EXPECT_EQ(l.stats().idle, 0);
}

TEST(PoolLedger, AWaiterThatGivesUpLeavesTheQueueOnlyIfNotWoken) {
    Ledger l(1, 1);
    auto gone = waiter(0, Clock::now());
    auto stays = waiter(0, Clock::now());
    l.add_waiter(gone);
    l.add_waiter(stays);
    l.remove_waiter(gone);
    EXPECT_EQ(l.stats().waiting, 1);
    EXPECT_EQ(l.hand_over(conn(0, "A"), 0, Clock::now()), stays);
    l.remove_waiter(stays);  // already woken and served: nothing to remove
    EXPECT_EQ(l.stats().waiting, 0);
}

TEST(PoolLedger, ClosingHandsBackIdleConnectionsAndWaitersAndRefusesSlots) {
    Ledger l(3, 2);
    ASSERT_TRUE(l.reserve_slot());
    ASSERT_TRUE(l.reserve_slot());
    l.hand_over(conn(0, "A"), 0, Clock::now());
    l.hand_over(conn(1, "B"), 1, Clock::now());
    auto w = waiter(1, Clock::now());
    l.add_waiter(w);  // (a waiter beside idle connections only exists in a test)
    auto closed = l.close();
    EXPECT_TRUE(l.closed());
    EXPECT_EQ(closed.idle.size(), 2u);
    ASSERT_EQ(closed.waiters.size(), 1u);
    EXPECT_TRUE(closed.waiters[0]->woken);
    EXPECT_EQ(l.open(), 0);
    EXPECT_FALSE(l.reserve_slot());
    EXPECT_EQ(l.take_idle("A", 0), nullptr);
}

// Many leases and returns in random order never lose or duplicate a slot.
TEST(PoolLedger, RandomLeasesKeepTheBooksBalanced) {
    Ledger l(5, 2);
    std::vector<std::shared_ptr<FakeConn>> leased;
    uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff; };
    for (int i = 0; i < 10000; ++i) {
        const int worker = static_cast<int>(next() % 2);
        switch (next() % 3) {
            case 0: {  // acquire: idle first, else a new slot
                auto c = l.take_idle(std::string(1, static_cast<char>('A' + next() % 3)), worker);
                if (!c && l.reserve_slot()) c = conn(worker, "A");
                if (c) leased.push_back(c);
                break;
            }
            case 1:  // release
                if (!leased.empty()) {
                    auto c = leased.back();
                    leased.pop_back();
                    c->practice_ = std::string(1, static_cast<char>('A' + next() % 3));
                    l.hand_over(c, c->worker(), Clock::now());
                }
                break;
            case 2:  // discard
                if (!leased.empty()) {
                    leased.pop_back();
                    l.slot_freed();
                    l.hand_over(nullptr, worker, Clock::now());
                }
                break;
        }
        const auto s = l.stats();
        ASSERT_LE(s.open, 5);
        ASSERT_EQ(s.open, s.idle + static_cast<int>(leased.size()));
    }
}

}  // namespace
}  // namespace pgtenant::proxy

namespace pgtenant::proxy {
namespace {

TEST(PoolLedger, ExpiredIdleConnectionsGoDownToWhatMustStayOpen) {
    Ledger l(4, 2);
    const auto now = Clock::now();
    std::vector<std::shared_ptr<FakeConn>> all;
    for (auto [w, p] : {std::pair{0, "old"}, {0, "new"}, {0, "old"}, {1, "old"}}) {
        ASSERT_TRUE(l.reserve_slot());
        all.push_back(conn(w, p));
        l.hand_over(all.back(), w, now);
    }
    auto old = [](const FakeConn& c) { return c.last_practice() == "old"; };
    // Keep 3 open: only one of worker 0's two expired ones may go.
    auto gone = l.take_expired(0, 3, old);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0], all[0]);  // oldest used first
    EXPECT_EQ(l.stats().idle, 3);
    EXPECT_EQ(l.open(), 4);  // the caller frees the slot
    l.slot_freed();
    // Keep none: the other expired one of worker 0, never another worker's.
    gone = l.take_expired(0, 0, old);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0], all[2]);
    l.slot_freed();
    EXPECT_EQ(l.open(), 2);
    EXPECT_EQ(l.take_idle("x", 0), all[1]);
    EXPECT_EQ(l.take_idle("x", 0), all[3]);
}

}  // namespace
}  // namespace pgtenant::proxy

namespace pgtenant::proxy {
namespace {

// 50 clients of practice H queue first, then one of practice Q: Q is served within a turn or
// two, not after the 50. And H's queue still goes in its own order.
TEST(PoolLedger, AQuietPracticeIsServedBeforeAHammeringOnesQueue) {
    Ledger l(1, 1);
    const auto t0 = Clock::now();
    std::vector<std::shared_ptr<FakeWaiter>> hammer;
    for (int i = 0; i < 50; ++i) {
        hammer.push_back(waiter(0, t0 + std::chrono::microseconds(i), "H"));
        l.add_waiter(hammer.back());
    }
    EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 1ms), hammer[0]);
    auto quiet = waiter(0, t0 + 2ms, "Q");
    l.add_waiter(quiet);
    EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 3ms), hammer[1]);  // its turn ties: the older
    EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 4ms), quiet);
    for (int i = 2; i < 50; ++i) EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 5ms), hammer[i]);
    // Q waits again later: again at the head of the line.
    auto more = waiter(0, t0 + 6ms, "H");
    auto again = waiter(0, t0 + 7ms, "Q");
    l.add_waiter(more);
    l.add_waiter(again);
    EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 8ms), more);
    EXPECT_EQ(l.hand_over(conn(0, "H"), 0, t0 + 8ms), again);
}

TEST(PoolLedger, TwoBusyPracticesTakeTurns) {
    Ledger l(1, 1);
    const auto t0 = Clock::now();
    std::vector<std::shared_ptr<FakeWaiter>> a, b;
    for (int i = 0; i < 5; ++i) {
        a.push_back(waiter(0, t0 + std::chrono::microseconds(i), "A"));
        l.add_waiter(a.back());
    }
    for (int i = 0; i < 5; ++i) {
        b.push_back(waiter(0, t0 + std::chrono::microseconds(10 + i), "B"));
        l.add_waiter(b.back());
    }
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(l.hand_over(conn(0, "A"), 0, t0 + 1ms), a[static_cast<std::size_t>(i)]);
        EXPECT_EQ(l.hand_over(conn(0, "A"), 0, t0 + 1ms), b[static_cast<std::size_t>(i)]);
    }
}

// Caps: a practice at its cap is passed over (the next practice in line is served) until one
// of its own leases ends; then it is served before anyone who came later.
TEST(PoolLedger, APracticeAtItsCapIsPassedOverUntilItsLeaseEnds) {
    Ledger l(3, 1);
    l.set_caps(0, {{"A", 1}});
    const auto t0 = Clock::now();
    auto a_conn = conn(0, "A");
    l.lease(*a_conn, "A");
    EXPECT_TRUE(l.at_cap("A"));
    EXPECT_FALSE(l.at_cap("B"));  // no cap of its own, no default
    auto a2 = waiter(0, t0, "A");
    auto b = waiter(0, t0 + 1ms, "B");
    l.add_waiter(a2);
    l.add_waiter(b);
    // A connection comes back (another practice's): A is at its cap, so B has it.
    auto other = conn(0, "C");
    EXPECT_EQ(l.hand_over(other, 0, t0 + 2ms), b);
    EXPECT_EQ(b->conn, other);
    EXPECT_EQ(l.in_use("B"), 1);  // leased to B at once
    // Nobody else eligible: the next connection goes idle although A waits.
    EXPECT_EQ(l.hand_over(conn(0, "C"), 0, t0 + 3ms), nullptr);
    EXPECT_EQ(l.stats().idle, 1);
    // A's lease ends: its waiter gets the idle connection.
    l.end_lease(*a_conn);
    EXPECT_EQ(l.in_use("A"), 0);
    auto woken = l.serve_held_back(t0 + 4ms);
    ASSERT_EQ(woken.size(), 1u);
    EXPECT_EQ(woken[0], a2);
    EXPECT_NE(a2->conn, nullptr);
    EXPECT_EQ(l.in_use("A"), 1);
    EXPECT_EQ(l.stats().idle, 0);
}

TEST(PoolLedger, TheDefaultCapAppliesToEveryPracticeWithoutItsOwn) {
    Ledger l(10, 2);
    l.set_caps(2, {{"big", 5}});
    auto c1 = conn(0, "x"), c2 = conn(1, "x"), c3 = conn(0, "x");
    l.lease(*c1, "p");
    EXPECT_FALSE(l.at_cap("p"));
    l.count_lease("p");  // a slot being connected counts already
    EXPECT_TRUE(l.at_cap("p"));
    l.uncount_lease("p");  // its connect failed
    l.lease(*c2, "p");
    EXPECT_TRUE(l.at_cap("p"));
    for (int i = 0; i < 4; ++i) l.count_lease("big");
    EXPECT_FALSE(l.at_cap("big"));
    l.end_lease(*c3);  // never leased: nothing changes
    EXPECT_EQ(l.in_use("p"), 2);
    l.end_lease(*c1);
    l.end_lease(*c1);  // ended twice: counted once
    EXPECT_EQ(l.in_use("p"), 1);
}

// A held-back waiter with no idle connection but a free slot is woken (without a connection)
// to open one; no more are woken than there are free slots.
TEST(PoolLedger, HeldBackWaitersTakeFreeSlotsUpToTheSize) {
    Ledger l(2, 1);
    l.set_caps(1, {});
    const auto t0 = Clock::now();
    auto a = conn(0, "A");
    l.lease(*a, "A");
    ASSERT_TRUE(l.reserve_slot());  // a's slot
    std::vector<std::shared_ptr<FakeWaiter>> waiters;
    for (int i = 0; i < 3; ++i) {
        waiters.push_back(waiter(0, t0 + std::chrono::microseconds(i), "A"));
        l.add_waiter(waiters.back());
    }
    waiters.push_back(waiter(0, t0 + 1ms, "B"));
    l.add_waiter(waiters.back());
    auto woken = l.serve_held_back(t0 + 2ms);
    ASSERT_EQ(woken.size(), 1u);  // one free slot; A's waiters are at the cap
    EXPECT_EQ(woken[0], waiters[3]);
    EXPECT_EQ(woken[0]->conn, nullptr);
    l.set_caps(0, {});
    EXPECT_TRUE(l.serve_held_back(t0 + 3ms).empty());  // no caps: nothing to do here
}

}  // namespace
}  // namespace pgtenant::proxy
