#pragma once
// What pgtenant counts, per practice, for the console (SHOW PRACTICES, SHOW STATS, ...) and the
// Prometheus metrics.
//
// Counting must cost nothing on the hot path: each practice has one slot per worker thread, and
// a session, which lives on one worker for life, is the only writer of its worker's slot. So a
// count is a relaxed load and store of a field no other thread writes (no atomic
// read-modify-write, no lock); readers add the slots up. Gauges (clients, active, waiting) work
// the same way: a session raises and lowers them in its own worker's slot.
//
// Events rare enough for a lock (login failures by reason, refusals by rule) are counted in maps
// under a mutex.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgtenant::proxy::admin {

// Upper bounds, in seconds, of the buckets of the wait-time and transaction-time histograms.
inline constexpr std::array<double, 12> kTimeBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10};
inline constexpr std::size_t kBucketCount = kTimeBuckets.size() + 1;  // the last one is +Inf

// Which bucket a duration falls in.
std::size_t bucket_of(std::chrono::microseconds d);

// A histogram as read: per-bucket (not cumulative) counts, the last one +Inf.
struct HistogramData {
    std::array<uint64_t, kBucketCount> buckets{};
    uint64_t count = 0;
    uint64_t sum_us = 0;
};

// One practice's numbers (or a sum of several), as read.
struct Counters {
    // Gauges.
    int64_t clients = 0;  // logged in
    int64_t active = 0;   // holding a server connection
    int64_t waiting = 0;  // waiting for one
    // Counters since start.
    uint64_t logins = 0;
    uint64_t login_failures = 0;
    uint64_t transactions = 0;
    uint64_t queries = 0;   // request cycles: a Query, or an extended batch up to its Sync
    uint64_t errors = 0;    // ErrorResponses the clients received (the server's and pgtenant's)
    uint64_t refusals = 0;  // of them, errors pgtenant answered by its own rules
    uint64_t bytes_received = 0;  // from clients
    uint64_t bytes_sent = 0;      // to clients
    uint64_t practice_switch_resets = 0;
    uint64_t server_lost = 0;  // server connections lost under a client
    uint64_t xact_us = 0;      // time inside transactions
    uint64_t query_us = 0;     // time from a request to its ReadyForQuery
    uint64_t wait_us_max = 0;  // longest wait for a server connection
    HistogramData wait;        // waits for a server connection (sum: total wait time)
    HistogramData xact;        // transaction durations

    void add(const Counters& other);
};

// One worker's slot of one practice. Only the sessions of that worker write it.
struct alignas(64) Slot {
    using Field = std::atomic<uint64_t>;
    using Gauge = std::atomic<int64_t>;
    Gauge clients{0}, active{0}, waiting{0};
    Field logins{0}, login_failures{0}, transactions{0}, queries{0}, errors{0}, refusals{0},
        bytes_received{0}, bytes_sent{0}, practice_switch_resets{0}, server_lost{0}, xact_us{0},
        query_us{0}, wait_us_max{0};
    std::array<Field, kBucketCount> wait_buckets{}, xact_buckets{};
    Field wait_count{0}, wait_sum_us{0}, xact_count{0}, xact_sum_us{0};

    // Single-writer updates: no read-modify-write.
    static void add(Field& f, uint64_t n) {
        f.store(f.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void add(Gauge& g, int64_t n) {
        g.store(g.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void record_wait(std::chrono::microseconds waited);
    void record_transaction(std::chrono::microseconds took);
    void read_into(Counters& c) const;
};

// A practice's slots, one per worker.
class PracticeStats {
  public:
    PracticeStats(std::string id, int workers);
    const std::string& id() const { return id_; }
    Slot& slot(int worker) { return slots_[static_cast<std::size_t>(worker)]; }
    Counters read() const;

  private:
    std::string id_;
    std::unique_ptr<Slot[]> slots_;
    std::size_t workers_;
};

class Stats {
  public:
    explicit Stats(int workers);

    // The practice's stats, created on first use (at login: not on the hot path). The pointer
    // stays valid for the life of Stats.
    PracticeStats& practice(const std::string& id);
    // Sessions bound to no practice: admin logins, logins that failed before one was known.
    PracticeStats& unbound() { return unbound_; }

    struct PracticeRow {
        std::string practice;
        Counters counters;
    };
    // Every practice seen since start, in practice order.
    std::vector<PracticeRow> practices() const;
    // Every practice and the unbound sessions together.
    Counters totals() const;

    void count_login_failure(std::string_view reason);
    void count_refusal(std::string_view rule);
    std::map<std::string, uint64_t> login_failures_by_reason() const;
    std::map<std::string, uint64_t> refusals_by_rule() const;

    std::chrono::system_clock::time_point started() const { return started_; }

  private:
    const int workers_;
    const std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::unique_ptr<PracticeStats>> practices_;
    PracticeStats unbound_;
    std::map<std::string, uint64_t> login_failures_;
    std::map<std::string, uint64_t> refusals_;
};

// SHOW STATS's averages are over the last complete stats period (as PgBouncer's), or since the
// start until one has completed.
class StatsPeriods {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kPeriod{60};

    explicit StatsPeriods(Clock::time_point start = Clock::now()) : from_t_(start), to_t_(start) {}
    // At the end of each period, with the totals then.
    void tick(const Counters& totals, Clock::time_point now);

    struct Window {
        Counters from, to;
        double seconds = 0;
    };
    // `totals` and `now`: used while no period has completed.
    Window last(const Counters& totals, Clock::time_point now) const;

  private:
    mutable std::mutex mu_;
    Counters from_, to_;
    Clock::time_point from_t_, to_t_;
    bool ticked_ = false;
};

}  // namespace pgtenant::proxy::admin
