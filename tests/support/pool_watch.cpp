#include "tests/support/pool_watch.h"

#include <algorithm>
#include <deque>

namespace pgtenant::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

}  // namespace

PoolSample sample_pool(PGconn* superuser, std::chrono::milliseconds stuck_after) {
    PoolSample out;
    auto rows =
        query_params(superuser,
                     "SELECT pid, coalesce(state, ''), "
                     "coalesce((extract(epoch FROM now() - state_change) * 1000)::bigint, 0) "
                     "FROM pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend' "
                     // the isolation re-check's own short connection is not the pool's
                     "AND application_name <> 'pgtenant isolation re-check'",
                     {kPoolRole});
    for (const auto& r : rows) {
        out.pids.insert(r[0]);
        if (r[1].rfind("idle in transaction", 0) == 0) {
            auto what = r[0] + " " + r[1] + " " + r[2] + "ms";
            out.in_transaction.push_back(what);
            if (std::stol(r[2]) > stuck_after.count()) out.stuck.push_back(what);
        }
    }
    return out;
}

Rows pool_backends(PGconn* superuser, const std::string& state) {
    return query_params(superuser,
                        "SELECT pid, state, query FROM pg_stat_activity "
                        "WHERE usename = $1 AND state = $2",
                        {kPoolRole, state});
}

bool wait_no_open_transaction(PGconn* superuser, std::chrono::milliseconds timeout,
                              int* max_backends, std::string* last_seen) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto s = sample_pool(superuser);
        if (max_backends) *max_backends = std::max(*max_backends, static_cast<int>(s.pids.size()));
        if (s.in_transaction.empty()) return true;
        if (last_seen) {
            last_seen->clear();
            for (const auto& t : s.in_transaction) *last_seen += t + "; ";
        }
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

PoolSampler::PoolSampler(const PgCluster& cluster, int pool_size,
                         std::chrono::milliseconds stuck_after)
    : pool_size_(pool_size), stuck_after_(stuck_after) {
    thread_ = std::thread([this, conninfo = cluster.superuser_conninfo()] { run(conninfo); });
}

PoolSampler::~PoolSampler() { stop(); }

void PoolSampler::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

std::vector<std::string> PoolSampler::stuck() const {
    std::lock_guard lock(mu_);
    return stuck_;
}

std::vector<std::string> PoolSampler::excess() const {
    std::lock_guard lock(mu_);
    return excess_;
}

void PoolSampler::run(std::string conninfo) {
    PgConn su;
    try {
        su = connect(conninfo);
    } catch (const std::exception& e) {
        std::lock_guard lock(mu_);
        excess_.push_back(std::string("sampler could not connect: ") + e.what());
        return;
    }
    std::deque<std::pair<Clock::time_point, std::set<std::string>>> recent;
    while (!stop_) {
        PoolSample s;
        try {
            s = sample_pool(su.get(), stuck_after_);
        } catch (const std::exception&) {
            // The server is restarting (a fault test): sample again later, on a new connection.
            std::this_thread::sleep_for(200ms);
            auto again = try_connect(conninfo, 2s);
            if (again.ok()) su = std::move(again.conn);
            continue;
        }
        ++samples_;
        const auto now = Clock::now();
        const int count = static_cast<int>(s.pids.size());
        int seen = max_count_.load();
        while (count > seen && !max_count_.compare_exchange_weak(seen, count)) {
        }
        std::lock_guard lock(mu_);
        for (const auto& t : s.stuck) {
            if (stuck_.size() < 10) stuck_.push_back(t);
        }
        while (!recent.empty() && now - recent.front().first > 1200ms) recent.pop_front();
        if (!recent.empty() && now - recent.front().first >= 1000ms) {
            std::vector<std::string> both;
            std::set_intersection(recent.front().second.begin(), recent.front().second.end(),
                                  s.pids.begin(), s.pids.end(), std::back_inserter(both));
            if (static_cast<int>(both.size()) > pool_size_ && excess_.size() < 10) {
                std::string pids;
                for (const auto& p : both) pids += p + " ";
                excess_.push_back(std::to_string(both.size()) +
                                  " pool backends alive for 1 s: " + pids);
            }
        }
        recent.emplace_back(now, std::move(s.pids));
        std::this_thread::sleep_for(100ms);
    }
}

}  // namespace pgtenant::testing
