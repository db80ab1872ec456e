#pragma once
// The critical checks again while serving (tenant.recheck_interval_s, DESIGN 3.6): a grant made
// after the start (BYPASSRLS for the pool role, RLS switched off, a permissive policy) would
// otherwise leak at once. A background thread runs startup_checks on its own connection as the
// pool role; while the last run found a critical finding, closed() is true and sessions refuse
// new transactions (fail closed) until a run passes again.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/check/check.h"

namespace pgtenant::proxy {

class Recheck {
  public:
    // One run of the checks: the critical findings; throws when the checks cannot run.
    using Runner = std::function<std::vector<Finding>()>;

    // `enforce` false (--allow-unsafe-database): findings are logged, transactions go on.
    // `reopened` runs (on the re-check's thread) when a run passes after one that failed.
    Recheck(Runner run, std::chrono::seconds interval, bool enforce,
            std::function<void()> reopened = {});
    ~Recheck();  // stops the thread; a run under way finishes first
    Recheck(const Recheck&) = delete;
    Recheck& operator=(const Recheck&) = delete;

    // Runs the checks against the backend of `cfg` (with a connect and statement timeout).
    static Runner backend_runner(const config::Config& cfg);

    bool closed() const { return closed_.load(std::memory_order_relaxed); }
    uint64_t runs() const { return runs_.load(); }
    uint64_t failed_runs() const { return failed_runs_.load(); }  // with a critical finding
    uint64_t errors() const { return errors_.load(); }            // that could not run

    // One run, now, on the caller's thread (the thread calls this every interval).
    void run_once();

  private:
    void loop(std::stop_token stop);

    Runner run_;
    std::chrono::seconds interval_;
    bool enforce_;
    std::function<void()> reopened_;
    std::atomic<bool> closed_{false};
    std::atomic<uint64_t> runs_{0}, failed_runs_{0}, errors_{0};
    std::string last_ids_;  // the findings last logged, to log changes only (thread-owned)
    std::mutex mu_;
    std::condition_variable_any wake_;
    std::jthread thread_;  // last: started once the rest exists
};

}  // namespace pgtenant::proxy
