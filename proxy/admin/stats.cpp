#include "proxy/admin/stats.h"

#include <algorithm>

namespace pgtenant::proxy::admin {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;

void add_histogram(HistogramData& into, const HistogramData& h) {
    for (std::size_t i = 0; i < kBucketCount; ++i) into.buckets[i] += h.buckets[i];
    into.count += h.count;
    into.sum_us += h.sum_us;
}
}  // namespace

std::size_t bucket_of(std::chrono::microseconds d) {
    const double seconds = static_cast<double>(d.count()) / 1e6;
    const auto it = std::lower_bound(kTimeBuckets.begin(), kTimeBuckets.end(), seconds);
    return static_cast<std::size_t>(it - kTimeBuckets.begin());
}

void Counters::add(const Counters& o) {
    clients += o.clients;
    active += o.active;
    waiting += o.waiting;
    logins += o.logins;
    login_failures += o.login_failures;
    transactions += o.transactions;
    queries += o.queries;
    errors += o.errors;
    refusals += o.refusals;
    bytes_received += o.bytes_received;
    bytes_sent += o.bytes_sent;
    practice_switch_resets += o.practice_switch_resets;
    server_lost += o.server_lost;
    xact_us += o.xact_us;
    query_us += o.query_us;
    wait_us_max = std::max(wait_us_max, o.wait_us_max);
    add_histogram(wait, o.wait);
    add_histogram(xact, o.xact);
}

void Slot::record_wait(std::chrono::microseconds waited) {
    const auto us = static_cast<uint64_t>(waited.count());
    add(wait_buckets[bucket_of(waited)], 1);
    add(wait_count, 1);
    add(wait_sum_us, us);
    if (us > wait_us_max.load(relaxed)) wait_us_max.store(us, relaxed);
}

void Slot::record_transaction(std::chrono::microseconds took) {
    const auto us = static_cast<uint64_t>(took.count());
    add(xact_buckets[bucket_of(took)], 1);
    add(xact_count, 1);
    add(xact_sum_us, us);
    add(transactions, 1);
    add(xact_us, us);
}

void Slot::read_into(Counters& c) const {
    Counters s;
    s.clients = clients.load(relaxed);
    s.active = active.load(relaxed);
    s.waiting = waiting.load(relaxed);
    s.logins = logins.load(relaxed);
    s.login_failures = login_failures.load(relaxed);
    s.transactions = transactions.load(relaxed);
    s.queries = queries.load(relaxed);
    s.errors = errors.load(relaxed);
    s.refusals = refusals.load(relaxed);
    s.bytes_received = bytes_received.load(relaxed);
    s.bytes_sent = bytes_sent.load(relaxed);
    s.practice_switch_resets = practice_switch_resets.load(relaxed);
    s.server_lost = server_lost.load(relaxed);
    s.xact_us = xact_us.load(relaxed);
    s.query_us = query_us.load(relaxed);
    s.wait_us_max = wait_us_max.load(relaxed);
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        s.wait.buckets[i] = wait_buckets[i].load(relaxed);
        s.xact.buckets[i] = xact_buckets[i].load(relaxed);
    }
    s.wait.count = wait_count.load(relaxed);
    s.wait.sum_us = wait_sum_us.load(relaxed);
    s.xact.count = xact_count.load(relaxed);
    s.xact.sum_us = xact_sum_us.load(relaxed);
    c.add(s);
}

PracticeStats::PracticeStats(std::string id, int workers)
    : id_(std::move(id)),
      slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(workers))),
      workers_(static_cast<std::size_t>(workers)) {}

Counters PracticeStats::read() const {
    Counters c;
    for (std::size_t i = 0; i < workers_; ++i) slots_[i].read_into(c);
    return c;
}

Stats::Stats(int workers) : workers_(workers), unbound_("", workers) {}

PracticeStats& Stats::practice(const std::string& id) {
    std::lock_guard lock(mu_);
    auto& p = practices_[id];
    if (!p) p = std::make_unique<PracticeStats>(id, workers_);
    return *p;
}

std::vector<Stats::PracticeRow> Stats::practices() const {
    std::vector<const PracticeStats*> all;
    {
        std::lock_guard lock(mu_);
        for (auto& [id, p] : practices_) all.push_back(p.get());
    }
    std::vector<PracticeRow> rows;
    rows.reserve(all.size());
    for (const auto* p : all) rows.push_back({p->id(), p->read()});
    std::sort(rows.begin(), rows.end(),
              [](const PracticeRow& a, const PracticeRow& b) { return a.practice < b.practice; });
    return rows;
}

Counters Stats::totals() const {
    Counters c = unbound_.read();
    for (auto& row : practices()) c.add(row.counters);
    return c;
}

void Stats::count_login_failure(std::string_view reason) {
    std::lock_guard lock(mu_);
    ++login_failures_[std::string(reason)];
}

void Stats::count_refusal(std::string_view rule) {
    std::lock_guard lock(mu_);
    ++refusals_[std::string(rule.empty() ? "unnamed" : rule)];
}

std::map<std::string, uint64_t> Stats::login_failures_by_reason() const {
    std::lock_guard lock(mu_);
    return login_failures_;
}

std::map<std::string, uint64_t> Stats::refusals_by_rule() const {
    std::lock_guard lock(mu_);
    return refusals_;
}

void StatsPeriods::tick(const Counters& totals, Clock::time_point now) {
    std::lock_guard lock(mu_);
    if (ticked_) {
        from_ = to_;
        from_t_ = to_t_;
    }
    to_ = totals;
    to_t_ = now;
    ticked_ = true;
}

StatsPeriods::Window StatsPeriods::last(const Counters& totals, Clock::time_point now) const {
    std::lock_guard lock(mu_);
    if (!ticked_ || to_t_ == from_t_)
        return {from_, totals, std::chrono::duration<double>(now - from_t_).count()};
    return {from_, to_, std::chrono::duration<double>(to_t_ - from_t_).count()};
}

}  // namespace pgtenant::proxy::admin
