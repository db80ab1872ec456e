#include "proxy/admin/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace pgtenant::proxy::admin {

namespace {

// Label values escaped as the exposition format asks (backslash, quote, newline).
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

class Writer {
  public:
    explicit Writer(std::string& out) : out_(out) {}
    void head(std::string_view name, std::string_view type, std::string_view help) {
        out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    void sample(std::string_view name, std::string_view labels, double value) {
        if (labels.empty()) {
            out_ += fmt::format("{} {}\n", name, value);
        } else {
            out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
        }
    }
    void sample(std::string_view name, std::string_view labels, uint64_t value) {
        if (labels.empty()) {
            out_ += fmt::format("{} {}\n", name, value);
        } else {
            out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
        }
    }
    void sample(std::string_view name, std::string_view labels, int64_t value) {
        sample(name, labels, static_cast<uint64_t>(std::max<int64_t>(0, value)));
    }
    // `labels` without the le label; the buckets cumulative, as Prometheus expects.
    void histogram(std::string_view name, std::string_view labels, const HistogramData& h) {
        const std::string prefix = labels.empty() ? "" : std::string(labels) + ",";
        uint64_t cumulative = 0;
        for (std::size_t i = 0; i < kBucketCount; ++i) {
            cumulative += h.buckets[i];
            const std::string le =
                i < kTimeBuckets.size() ? fmt::format("{}", kTimeBuckets[i]) : "+Inf";
            sample(fmt::format("{}_bucket", name), fmt::format("{}le=\"{}\"", prefix, le),
                   cumulative);
        }
        sample(fmt::format("{}_sum", name), labels, static_cast<double>(h.sum_us) / 1e6);
        sample(fmt::format("{}_count", name), labels, h.count);
    }

  private:
    std::string& out_;
};

// A counter over the practices: the total, then (per practice) under `per_practice`.
struct CounterDef {
    const char* name;
    const char* help;
    uint64_t Counters::*field;
};
const CounterDef kCounters[] = {
    {"transactions", "Transactions ended (ReadyForQuery back to idle).", &Counters::transactions},
    {"queries", "Request cycles: a Query, or an extended-protocol batch up to its Sync.",
     &Counters::queries},
    {"errors", "ErrorResponses sent to clients (the server's and pgtenant's).", &Counters::errors},
    {"refusals", "Errors pgtenant answered by its own rules.", &Counters::refusals},
    {"client_bytes_received", "Bytes received from clients.", &Counters::bytes_received},
    {"client_bytes_sent", "Bytes sent to clients.", &Counters::bytes_sent},
    {"logins", "Successful logins.", &Counters::logins},
    {"login_failures", "Failed logins.", &Counters::login_failures},
    {"practice_switch_resets",
     "Hygiene resets of a server connection that served another practice before.",
     &Counters::practice_switch_resets},
    {"server_connections_lost", "Server connections lost under a client.", &Counters::server_lost},
};

}  // namespace

std::string render_metrics(const MetricsInput& in) {
    std::string out;
    out.reserve(16384);
    Writer w(out);

    // The practices exported one by one, and the rest summed.
    std::vector<const Stats::PracticeRow*> rows;
    for (const auto& p : in.practices) rows.push_back(&p);
    std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
        if (a->counters.transactions != b->counters.transactions)
            return a->counters.transactions > b->counters.transactions;
        return a->practice < b->practice;
    });
    const std::size_t shown =
        std::min<std::size_t>(rows.size(), static_cast<std::size_t>(std::max(0, in.max_practices)));
    std::vector<std::pair<std::string, Counters>> series;
    for (std::size_t i = 0; i < shown; ++i)
        series.emplace_back(rows[i]->practice, rows[i]->counters);
    if (rows.size() > shown) {
        Counters other;
        for (std::size_t i = shown; i < rows.size(); ++i) other.add(rows[i]->counters);
        series.emplace_back("other", other);
    }
    Counters total = in.unbound;
    for (const auto& p : in.practices) total.add(p.counters);

    w.head("pgtenant_info", "gauge", "pgtenant's version.");
    w.sample("pgtenant_info", fmt::format("version=\"{}\"", label(in.version)), uint64_t{1});
    w.head("pgtenant_paused", "gauge", "1 while PAUSE (of every practice) is in force.");
    w.sample("pgtenant_paused", "", uint64_t{in.paused ? 1u : 0u});

    // Client connections by state.
    Counters practices_only;
    for (const auto& p : in.practices) practices_only.add(p.counters);
    w.head("pgtenant_clients", "gauge", "Client connections by state.");
    const int64_t idle = practices_only.clients - practices_only.active - practices_only.waiting;
    w.sample("pgtenant_clients", "state=\"active\"", practices_only.active);
    w.sample("pgtenant_clients", "state=\"waiting\"", practices_only.waiting);
    w.sample("pgtenant_clients", "state=\"idle\"", idle);
    w.sample("pgtenant_clients", "state=\"login\"", in.connecting_clients);
    w.sample("pgtenant_clients", "state=\"admin\"", in.admin_clients);

    // The pool.
    w.head("pgtenant_server_connections", "gauge", "Server connections by state.");
    const int64_t connecting = in.pool.open - in.pool.idle - in.servers_active;
    w.sample("pgtenant_server_connections", "state=\"active\"", in.servers_active);
    w.sample("pgtenant_server_connections", "state=\"idle\"", static_cast<int64_t>(in.pool.idle));
    w.sample("pgtenant_server_connections", "state=\"connecting\"", connecting);
    w.head("pgtenant_pool_size", "gauge", "pool.size: the most server connections open at once.");
    w.sample("pgtenant_pool_size", "", static_cast<int64_t>(in.pool.size));
    w.head("pgtenant_pool_waiting_clients", "gauge",
           "Clients waiting for a server connection (or for RESUME).");
    w.sample("pgtenant_pool_waiting_clients", "", practices_only.waiting);
    w.head("pgtenant_server_connections_opened_total", "counter",
           "Server connections opened (attempts included).");
    w.sample("pgtenant_server_connections_opened_total", "", in.pool.opened_total);
    w.head("pgtenant_server_connections_closed_total", "counter",
           "Server connections closed (failed attempts included).");
    w.sample("pgtenant_server_connections_closed_total", "", in.pool.closed_total);

    // Counters: the total, and per practice.
    for (const auto& c : kCounters) {
        const std::string name = fmt::format("pgtenant_{}_total", c.name);
        w.head(name, "counter", c.help);
        w.sample(name, "", total.*(c.field));
    }
    w.head("pgtenant_login_failures_by_reason_total", "counter",
           "Failed logins by the rule that refused them.");
    for (const auto& [reason, n] : in.login_failures_by_reason)
        w.sample("pgtenant_login_failures_by_reason_total",
                 fmt::format("reason=\"{}\"", label(reason)), n);
    w.head("pgtenant_refusals_by_rule_total", "counter",
           "Errors pgtenant answered by its own rules (guard refusals among them), by rule.");
    for (const auto& [rule, n] : in.refusals_by_rule)
        w.sample("pgtenant_refusals_by_rule_total", fmt::format("rule=\"{}\"", label(rule)), n);

    w.head("pgtenant_isolation_rechecks_total", "counter", "Isolation re-checks run.");
    w.sample("pgtenant_isolation_rechecks_total", "", in.rechecks);
    w.head("pgtenant_isolation_rechecks_failed_total", "counter",
           "Isolation re-checks that found a critical problem.");
    w.sample("pgtenant_isolation_rechecks_failed_total", "", in.rechecks_failed);
    w.head("pgtenant_isolation_gate_closed", "gauge",
           "1 while new transactions are refused after a failed isolation re-check.");
    w.sample("pgtenant_isolation_gate_closed", "", uint64_t{in.isolation_gate_closed ? 1u : 0u});

    w.head("pgtenant_wait_seconds", "histogram", "Time clients waited for a server connection.");
    w.histogram("pgtenant_wait_seconds", "", total.wait);
    w.head("pgtenant_transaction_seconds", "histogram", "Transaction durations.");
    w.histogram("pgtenant_transaction_seconds", "", total.xact);

    // Per practice.
    w.head("pgtenant_practice_clients", "gauge", "A practice's client connections by state.");
    for (const auto& [practice, c] : series) {
        const std::string p = label(practice);
        w.sample("pgtenant_practice_clients", fmt::format("practice=\"{}\",state=\"active\"", p),
                 c.active);
        w.sample("pgtenant_practice_clients", fmt::format("practice=\"{}\",state=\"waiting\"", p),
                 c.waiting);
        w.sample("pgtenant_practice_clients", fmt::format("practice=\"{}\",state=\"idle\"", p),
                 c.clients - c.active - c.waiting);
    }
    for (const auto& c : kCounters) {
        const std::string name = fmt::format("pgtenant_practice_{}_total", c.name);
        w.head(name, "counter", c.help);
        for (const auto& [practice, counters] : series)
            w.sample(name, fmt::format("practice=\"{}\"", label(practice)), counters.*(c.field));
    }
    w.head("pgtenant_practice_wait_seconds", "histogram",
           "Time a practice's clients waited for a server connection.");
    for (const auto& [practice, c] : series)
        w.histogram("pgtenant_practice_wait_seconds",
                    fmt::format("practice=\"{}\"", label(practice)), c.wait);
    w.head("pgtenant_practice_transaction_seconds", "histogram",
           "A practice's transaction durations.");
    for (const auto& [practice, c] : series)
        w.histogram("pgtenant_practice_transaction_seconds",
                    fmt::format("practice=\"{}\"", label(practice)), c.xact);
    return out;
}

}  // namespace pgtenant::proxy::admin
