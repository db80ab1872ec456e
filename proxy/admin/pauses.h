#pragma once
// PAUSE and RESUME: which practices (or all) may not start a transaction now. Checked by a
// session before it takes a server connection: one relaxed load while nothing is paused.
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace pgtenant::proxy::admin {

class Pauses {
  public:
    bool paused(const std::string& practice) const {
        if (!any_.load(std::memory_order_acquire)) return false;
        std::lock_guard lock(mu_);
        return all_ || practices_.count(practice) != 0;
    }
    bool all_paused() const {
        std::lock_guard lock(mu_);
        return all_;
    }
    std::vector<std::string> paused_practices() const {
        std::lock_guard lock(mu_);
        return {practices_.begin(), practices_.end()};
    }
    // False when it was already so.
    bool pause_all() {
        return set([&] { return !std::exchange(all_, true); });
    }
    bool resume_all() {
        return set([&] {
            const bool was = all_ || !practices_.empty();
            all_ = false;
            practices_.clear();
            return was;
        });
    }
    bool pause(const std::string& practice) {
        return set([&] { return practices_.insert(practice).second; });
    }
    bool resume(const std::string& practice) {
        return set([&] { return practices_.erase(practice) != 0; });
    }

  private:
    template <typename F>
    bool set(F change) {
        std::lock_guard lock(mu_);
        const bool changed = change();
        any_.store(all_ || !practices_.empty(), std::memory_order_release);
        return changed;
    }
    mutable std::mutex mu_;
    std::atomic<bool> any_{false};
    bool all_ = false;
    std::set<std::string> practices_;
};

}  // namespace pgtenant::proxy::admin
