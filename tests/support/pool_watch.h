#pragma once
// pgtenant's server connections as PostgreSQL sees them (pool-role backends in
// pg_stat_activity, read by the superuser, which bypasses the proxy): how many there are and
// whether any is left idle in a transaction.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"

namespace pgtenant::testing {

inline const std::string kPoolRole = "pgtenant_pool";

struct PoolSample {
    std::set<std::string> pids;  // every pool-role backend
    // Backends idle in a transaction (aborted or not): "pid state age_ms".
    std::vector<std::string> in_transaction;
    // Those of them idle in that transaction for longer than `stuck_after`.
    std::vector<std::string> stuck;
};

PoolSample sample_pool(PGconn* superuser,
                       std::chrono::milliseconds stuck_after = std::chrono::seconds(1));

// Pool-role backends in exactly `state` ("idle in transaction", "active", ...): rows of pid,
// state, query.
Rows pool_backends(PGconn* superuser, const std::string& state);

// Polls (every 50 ms) until no pool backend is idle in a transaction; false when one still
// is at the deadline. Raises *max_backends to the largest number of pool backends seen.
bool wait_no_open_transaction(PGconn* superuser, std::chrono::milliseconds timeout,
                              int* max_backends = nullptr, std::string* last_seen = nullptr);

// Samples the pool every 100 ms on its own thread (with its own superuser connection) until
// stopped: the largest count seen, backends idle in a transaction for over `stuck_after` (a
// second unless told: a suite whose clients may themselves pause that long under load, with
// other suites beside it, waits longer; a leaked transaction stays open for good), and
// more than `pool_size` backends alive through a whole second (the same pids in two samples
// a second apart: a backend exiting after its connection closed is gone well within that,
// an orphaned one is not).
class PoolSampler {
  public:
    PoolSampler(const PgCluster& cluster, int pool_size,
                std::chrono::milliseconds stuck_after = std::chrono::seconds(1));
    ~PoolSampler();
    void stop();

    int max_count() const { return max_count_.load(); }
    int samples() const { return samples_.load(); }
    // Descriptions of what went wrong, at most a few of each.
    std::vector<std::string> stuck() const;
    std::vector<std::string> excess() const;

  private:
    void run(std::string conninfo);

    int pool_size_;
    std::chrono::milliseconds stuck_after_;
    std::atomic<bool> stop_{false};
    std::atomic<int> max_count_{0};
    std::atomic<int> samples_{0};
    mutable std::mutex mu_;
    std::vector<std::string> stuck_;
    std::vector<std::string> excess_;
    std::thread thread_;
};

}  // namespace pgtenant::testing
