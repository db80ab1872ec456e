#pragma once
// Prometheus metrics in the text exposition format (version 0.0.4), from a snapshot of the
// counters (pure; the HTTP side is metrics_http.h).
//
// Every series is named pgtenant_*. Per-practice series carry a practice label; only the
// `max_practices` busiest practices (by transactions) get their own, the rest are summed under
// practice="other", so that 50,000 practices do not make 50,000 series of each.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proxy/admin/stats.h"
#include "proxy/pool/ledger.h"

namespace pgtenant::proxy::admin {

struct MetricsInput {
    std::string version;
    PoolStats pool;
    int64_t servers_active = 0;  // leased
    int64_t admin_clients = 0;
    int64_t connecting_clients = 0;  // not logged in yet
    Counters unbound;                // admins and failed logins of no known practice
    std::vector<Stats::PracticeRow> practices;
    std::map<std::string, uint64_t> login_failures_by_reason;
    std::map<std::string, uint64_t> refusals_by_rule;
    uint64_t rechecks = 0, rechecks_failed = 0;
    bool isolation_gate_closed = false;
    bool paused = false;
    int max_practices = 100;
};

std::string render_metrics(const MetricsInput& in);

}  // namespace pgtenant::proxy::admin
