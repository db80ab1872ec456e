// Fairness between practices when the pool is exhausted: one practice hammering with many
// clients must not make another practice's client wait behind its whole queue.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

PgtenantOptions options() {
    PgtenantOptions o;
    o.pool_size = 2;
    o.wait_timeout_ms = 30000;
    return o;
}

const auto* const kEnv = register_integration_env(options());

class FairnessTest : public ProxyTest {
  protected:
    // Latencies in ms of `n` one-statement transactions of the quiet practice.
    std::vector<double> quiet_latencies(int n) {
        auto quiet = env().connect_as(demo::kAlice);
        std::vector<double> ms;
        for (int i = 0; i < n; ++i) {
            const auto t = Clock::now();
            query(quiet.get(), "SELECT 1");
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
            std::this_thread::sleep_for(5ms);
        }
        std::sort(ms.begin(), ms.end());
        return ms;
    }
    static double pct(const std::vector<double>& sorted, double p) {
        return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))];
    }
};

TEST_F(FairnessTest, AQuietPracticeWaitsForATransactionNotForTheHammeringQueue) {
    const auto alone = quiet_latencies(60);

    // 40 clients of practice B, each running 20 ms transactions back to back, on a pool of 2:
    // a queue of about 38 clients, 400 ms deep if served first come, first served.
    std::atomic<bool> stop{false};
    std::atomic<int> hammer_tx{0}, hammer_failed{0};
    std::vector<std::thread> hammer;
    for (int i = 0; i < 40; ++i) {
        hammer.emplace_back([&] {
            auto c = env().connect_as(demo::kBob);
            while (!stop) {
                run(c.get(), "SELECT pg_sleep(0.02)").ok() ? ++hammer_tx : ++hammer_failed;
            }
        });
    }
    std::this_thread::sleep_for(1s);  // the queue is full
    const auto busy = quiet_latencies(60);
    stop = true;
    for (auto& t : hammer) t.join();

    std::printf(
        "[ fairness ] quiet practice alone: p50 %.1f ms, p99 %.1f ms; beside 40 hammering "
        "clients on a pool of 2: p50 %.1f ms, p99 %.1f ms (hammer: %d transactions)\n",
        pct(alone, 0.5), pct(alone, 0.99), pct(busy, 0.5), pct(busy, 0.99), hammer_tx.load());
    EXPECT_EQ(hammer_failed.load(), 0);
    EXPECT_GT(hammer_tx.load(), 40);
    // Served within a transaction or two of the hammering practice (20 ms each), never behind
    // its queue (~400 ms first come, first served; measured: p50 418 ms, p99 466 ms). The bounds
    // leave room for a machine loaded by other suites.
    EXPECT_LT(pct(busy, 0.5), 100.0);
    EXPECT_LT(pct(busy, 0.99), 250.0);
}

}  // namespace
}  // namespace pgtenant::testing
