#pragma once
// Per-practice caps: how many client connections a practice may have at once, and how many
// server connections it may have in use (its share of the pool). A practice's own entry in the
// users file ([[practice]] max_client_connections / max_server_connections) overrides the
// global default (server.max_practice_client_connections / pool.max_practice_server_connections);
// 0 is no cap.
#include <mutex>
#include <string>
#include <unordered_map>

#include "auth/directory.h"
#include "config/config.h"

namespace pgtenant::proxy {

inline int practice_client_cap(const config::Config& cfg, const auth::PracticeDirectory& dir,
                               const std::string& practice) {
    auto it = dir.limits().find(practice);
    if (it != dir.limits().end() && it->second.max_client_connections > 0)
        return it->second.max_client_connections;
    return cfg.server.max_practice_client_connections;
}

// The server-connection caps the pool applies (PoolLedger::set_caps): practices with their own.
inline std::unordered_map<std::string, int> practice_server_caps(
    const auth::PracticeDirectory& dir) {
    std::unordered_map<std::string, int> caps;
    for (const auto& [practice, limits] : dir.limits())
        if (limits.max_server_connections > 0)
            caps.emplace(practice, limits.max_server_connections);
    return caps;
}

// Client connections by practice, counted at login against the practice's cap.
class PracticeClients {
  public:
    // Counts one more client of `practice`; false (and not counted) when it has `cap` already.
    bool enter(const std::string& practice, int cap) {
        std::lock_guard lock(mu_);
        int& n = count_[practice];
        if (cap > 0 && n >= cap) return false;
        ++n;
        return true;
    }
    void leave(const std::string& practice) {
        std::lock_guard lock(mu_);
        auto it = count_.find(practice);
        if (it != count_.end() && --it->second <= 0) count_.erase(it);
    }

  private:
    std::mutex mu_;
    std::unordered_map<std::string, int> count_;
};

}  // namespace pgtenant::proxy
