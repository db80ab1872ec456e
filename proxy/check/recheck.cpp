// The re-check thread: wakes every interval, runs the critical checks, logs what changed and
// opens or closes the gate for new transactions.
#include "proxy/check/recheck.h"

#include <spdlog/spdlog.h>

namespace pgtenant::proxy {

Recheck::Recheck(Runner run, std::chrono::seconds interval, bool enforce,
                 std::function<void()> reopened)
    : run_(std::move(run)), interval_(interval), enforce_(enforce), reopened_(std::move(reopened)) {
    thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
}

Recheck::~Recheck() {
    thread_.request_stop();
    wake_.notify_all();
}

Recheck::Runner Recheck::backend_runner(const config::Config& cfg) {
    // A hung server must not hold the thread for ever: the shutdown joins it.
    // Named, so that monitoring can tell it from the pool's connections: PostgreSQL sees
    // pool.size + 1 connections of the pool role while it runs.
    std::string conninfo = backend_conninfo(cfg) +
                           " connect_timeout=10 options='-c statement_timeout=30000' "
                           "application_name='pgtenant isolation re-check'";
    return [conninfo, options = check_options(cfg)] { return startup_checks(conninfo, options); };
}

void Recheck::loop(std::stop_token stop) {
    for (;;) {
        {
            std::unique_lock lock(mu_);
            wake_.wait_for(lock, stop, interval_, [] { return false; });
            if (stop.stop_requested()) return;
        }
        run_once();
    }
}

void Recheck::run_once() {
    std::vector<Finding> critical;
    try {
        critical = run_();
    } catch (const std::exception& e) {
        // Not a finding: a restarting server or a network blip must not stop the service.
        // The gate stays as the last run left it.
        ++errors_;
        spdlog::warn("isolation re-check could not run (the gate stays {}): {}",
                     closed() ? "closed" : "open", e.what());
        return;
    }
    ++runs_;
    std::string ids;
    for (const auto& f : critical) ids += f.id + " on " + f.object + "; ";
    if (!critical.empty()) ++failed_runs_;
    if (ids != last_ids_) {
        for (const auto& f : critical) {
            spdlog::critical("isolation re-check: {} on {}: {} Fix: {}", f.id, f.object, f.message,
                             f.fix_sql);
        }
        if (critical.empty()) {
            spdlog::info("isolation re-check passes again{}",
                         enforce_ ? ": new transactions are served" : "");
        } else if (enforce_) {
            spdlog::critical(
                "isolation re-check failed: refusing new transactions until it passes (run "
                "pgtenant check)");
        } else {
            spdlog::warn("--allow-unsafe-database: serving although practices are NOT isolated");
        }
        if (critical.empty() && reopened_) reopened_();
        last_ids_ = ids;
    }
    closed_.store(enforce_ && !critical.empty(), std::memory_order_relaxed);
}

}  // namespace pgtenant::proxy
