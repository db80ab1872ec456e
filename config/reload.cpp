// What a reload can change in a running pgtenant, and the holder readers see it through.
#include <fmt/format.h>

#include <map>

#include "config/config.h"

namespace pgtenant::config {

void LiveConfig::set(std::shared_ptr<const Config> c) {
    std::lock_guard lock(mu_);
    current_.store(c.get(), std::memory_order_release);
    kept_.push_back(std::move(c));
}

Reloaded reload_config(const Config& current, const Config& next) {
    // Start from what runs, then take every setting that is read where it is used (at a login,
    // a transaction, a message, a sweep of the timeouts or the pool's upkeep).
    auto c = std::make_shared<Config>(current);
    auto& s = c->server;
    const auto& n = next.server;
    s.max_client_conn = n.max_client_conn;
    s.max_practice_client_connections = n.max_practice_client_connections;
    s.message_timeout = n.message_timeout;
    s.login_timeout = n.login_timeout;
    s.idle_transaction_timeout = n.idle_transaction_timeout;
    s.query_timeout = n.query_timeout;
    s.client_idle_timeout = n.client_idle_timeout;
    s.shutdown_timeout = n.shutdown_timeout;
    s.log_level = n.log_level;
    s.metrics_max_practices = n.metrics_max_practices;
    auto& p = c->pool;
    const auto& np = next.pool;
    if (np.min_idle <= p.size) p.min_idle = np.min_idle;  // else the new pool.size must come first
    p.wait_timeout = np.wait_timeout;
    p.default_mode = np.default_mode;
    p.server_lifetime = np.server_lifetime;
    p.server_idle_timeout = np.server_idle_timeout;
    p.max_practice_server_connections = np.max_practice_server_connections;
    p.server_check_delay = np.server_check_delay;
    auto& t = c->tenant;
    t.users_file = next.tenant.users_file;
    t.allow_maintenance = next.tenant.allow_maintenance;
    t.allow_explain_analyze = next.tenant.allow_explain_analyze;
    t.token_lifetime = next.tenant.token_lifetime;

    // Whatever still differs from the file needs a restart.
    Reloaded out;
    std::map<std::string, std::string> wanted;
    for (auto& setting : describe(next)) wanted[setting.key] = setting.value;
    for (auto& setting : describe(*c)) {
        const auto& want = wanted[setting.key];
        if (want != setting.value)
            out.needs_restart.push_back(fmt::format("{} ({} -> {})", setting.key,
                                                    setting.value.empty() ? "\"\"" : setting.value,
                                                    want.empty() ? "\"\"" : want));
    }
    if (current.backend.password != next.backend.password)
        out.needs_restart.push_back("backend.password (changed)");
    out.config = std::move(c);
    return out;
}

}  // namespace pgtenant::config
