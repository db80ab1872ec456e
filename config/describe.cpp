// The settings in force, flattened for the console's SHOW CONFIG.
#include <fmt/format.h>

#include "config/config.h"

namespace pgtenant::config {

namespace {

std::string text(const std::string& s) { return s; }
std::string text(bool b) { return b ? "true" : "false"; }
template <typename T>
requires std::is_arithmetic_v<T> std::string text(T v) { return std::to_string(v); }
template <typename Rep, typename Period>
std::string text(std::chrono::duration<Rep, Period> d) {
    return std::to_string(d.count());
}
std::string text(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ",")); }
std::string text(PoolMode m) { return m == PoolMode::session ? "session" : "transaction"; }
std::string text(TenantMode m) { return m == TenantMode::sealed ? "sealed" : "compat"; }
std::string text(SslMode m) { return std::string(to_string(m)); }

}  // namespace

std::vector<Setting> describe(const Config& c) {
    const Config d;
    std::vector<Setting> out;
    auto add = [&](std::string key, const auto& value, const auto& default_value) {
        out.push_back({std::move(key), text(value), text(default_value)});
    };
    add("server.listen_addr", c.server.listen_addr, d.server.listen_addr);
    add("server.listen_port", c.server.listen_port, d.server.listen_port);
    add("server.workers", c.server.workers, d.server.workers);
    add("server.max_client_conn", c.server.max_client_conn, d.server.max_client_conn);
    add("server.max_practice_client_connections", c.server.max_practice_client_connections,
        d.server.max_practice_client_connections);
    add("server.max_message_bytes", c.server.max_message_bytes, d.server.max_message_bytes);
    add("server.message_memory_bytes", c.server.message_memory_bytes,
        d.server.message_memory_bytes);
    add("server.message_timeout_ms", c.server.message_timeout, d.server.message_timeout);
    add("server.login_timeout_ms", c.server.login_timeout, d.server.login_timeout);
    add("server.idle_transaction_timeout_ms", c.server.idle_transaction_timeout,
        d.server.idle_transaction_timeout);
    add("server.query_timeout_ms", c.server.query_timeout, d.server.query_timeout);
    add("server.client_idle_timeout_ms", c.server.client_idle_timeout,
        d.server.client_idle_timeout);
    add("server.shutdown_timeout_s", c.server.shutdown_timeout, d.server.shutdown_timeout);
    add("server.so_reuseport", c.server.so_reuseport, d.server.so_reuseport);
    add("server.handover_socket", c.server.handover_socket, d.server.handover_socket);
    add("server.tls_cert", c.server.tls_cert, d.server.tls_cert);
    add("server.tls_key", c.server.tls_key, d.server.tls_key);
    add("server.tls_required", c.server.tls_required, d.server.tls_required);
    add("server.log_level", c.server.log_level, d.server.log_level);
    add("server.metrics_addr", c.server.metrics_addr, d.server.metrics_addr);
    add("server.metrics_port", c.server.metrics_port, d.server.metrics_port);
    add("server.metrics_max_practices", c.server.metrics_max_practices,
        d.server.metrics_max_practices);
    add("backend.host", c.backend.host, d.backend.host);
    add("backend.port", c.backend.port, d.backend.port);
    add("backend.database", c.backend.database, d.backend.database);
    add("backend.user", c.backend.user, d.backend.user);
    add("backend.password", std::string(c.backend.password.empty() ? "" : "********"),
        std::string());
    add("backend.password_env", c.backend.password_env, d.backend.password_env);
    add("backend.connect_timeout_ms", c.backend.connect_timeout, d.backend.connect_timeout);
    add("backend.sslmode", c.backend.sslmode, d.backend.sslmode);
    add("backend.sslrootcert", c.backend.sslrootcert, d.backend.sslrootcert);
    add("backend.sslcert", c.backend.sslcert, d.backend.sslcert);
    add("backend.sslkey", c.backend.sslkey, d.backend.sslkey);
    add("pool.size", c.pool.size, d.pool.size);
    add("pool.min_idle", c.pool.min_idle, d.pool.min_idle);
    add("pool.wait_timeout_ms", c.pool.wait_timeout, d.pool.wait_timeout);
    add("pool.mode", c.pool.default_mode, d.pool.default_mode);
    add("pool.server_lifetime_s", c.pool.server_lifetime, d.pool.server_lifetime);
    add("pool.server_idle_timeout_s", c.pool.server_idle_timeout, d.pool.server_idle_timeout);
    add("pool.max_practice_server_connections", c.pool.max_practice_server_connections,
        d.pool.max_practice_server_connections);
    add("pool.server_check_delay_ms", c.pool.server_check_delay, d.pool.server_check_delay);
    add("tenant.users_file", c.tenant.users_file, d.tenant.users_file);
    add("tenant.setting", c.tenant.setting, d.tenant.setting);
    add("tenant.allow_maintenance", c.tenant.allow_maintenance, d.tenant.allow_maintenance);
    add("tenant.allow_explain_analyze", c.tenant.allow_explain_analyze,
        d.tenant.allow_explain_analyze);
    add("tenant.mode", c.tenant.mode, d.tenant.mode);
    add("tenant.key_file", c.tenant.key_file, d.tenant.key_file);
    add("tenant.token_lifetime_s", c.tenant.token_lifetime, d.tenant.token_lifetime);
    add("tenant.directory_query", c.tenant.directory_query, d.tenant.directory_query);
    add("tenant.directory_user", c.tenant.directory_user, d.tenant.directory_user);
    add("tenant.directory_password",
        std::string(c.tenant.directory_password.empty() ? "" : "********"), std::string());
    add("tenant.directory_password_env", c.tenant.directory_password_env,
        d.tenant.directory_password_env);
    add("tenant.directory_cache_s", c.tenant.directory_cache, d.tenant.directory_cache);
    add("tenant.key_columns", c.tenant.key_columns, d.tenant.key_columns);
    add("tenant.recheck_interval_s", c.tenant.recheck_interval, d.tenant.recheck_interval);
    add("audit.file", c.audit.file, d.audit.file);
    return out;
}

}  // namespace pgtenant::config
