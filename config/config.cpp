// TOML loader and validation for pgtenant's configuration. Every rejection names the key
// ("pool.size: ..."), because a DBA fixing a config file should not have to guess.
#include "config/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>

namespace pgtenant::config {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHourMs = 60 * 60 * 1000;

[[noreturn]] void fail(std::string_view key, std::string_view message) {
    throw ConfigError(std::string(key) + ": " + std::string(message));
}

// One [section] of the file: typed getters that leave the default in place when the key is
// absent, and a check that refuses keys we do not know (typos must not be silently ignored).
class Section {
  public:
    Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}

    void expect_only(std::initializer_list<std::string_view> known) const {
        if (table_ == nullptr) return;
        for (const auto& [key, value] : *table_) {
            bool found = false;
            for (auto k : known) found = found || k == key.str();
            if (!found) fail(full(key.str()), "unknown key");
        }
    }

    void get(std::string_view key, std::string& out) const {
        if (const auto* node = find(key)) {
            const auto* s = node->as_string();
            if (s == nullptr) fail(full(key), "expected a string");
            out = s->get();
        }
    }

    void get(std::string_view key, bool& out) const {
        if (const auto* node = find(key)) {
            const auto* b = node->as_boolean();
            if (b == nullptr) fail(full(key), "expected true or false");
            out = b->get();
        }
    }

    // Integers are range-checked in int64 before narrowing, so 70000 cannot wrap to a port.
    template <typename T>
    void get(std::string_view key, T& out, int64_t lo, int64_t hi) const {
        if (const auto* node = find(key)) {
            const auto* i = node->as_integer();
            if (i == nullptr) fail(full(key), "expected an integer");
            out = static_cast<T>(in_range(key, i->get(), lo, hi));
        }
    }

    void get(std::string_view key, std::vector<std::string>& out) const {
        const auto* node = find(key);
        if (node == nullptr) return;
        const auto* array = node->as_array();
        if (array == nullptr) fail(full(key), "expected an array of strings");
        out.clear();
        for (const auto& item : *array) {
            const auto* s = item.as_string();
            if (s == nullptr) fail(full(key), "expected an array of strings");
            out.push_back(s->get());
        }
    }

    void get_ms(std::string_view key, std::chrono::milliseconds& out) const {
        int64_t ms = out.count();
        get(key, ms, 1, kHourMs);
        out = std::chrono::milliseconds(ms);
    }

    // A timeout that 0 turns off, up to a day.
    template <typename Duration>
    void get_timeout(std::string_view key, Duration& out) const {
        int64_t n = out.count();
        get(key, n, 0, std::chrono::duration_cast<Duration>(std::chrono::hours(24)).count());
        out = Duration(n);
    }

    int64_t in_range(std::string_view key, int64_t v, int64_t lo, int64_t hi) const {
        if (v < lo || v > hi) {
            fail(full(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                " (got " + std::to_string(v) + ")");
        }
        return v;
    }

    std::string full(std::string_view key) const { return name_ + "." + std::string(key); }

  private:
    const toml::node* find(std::string_view key) const {
        return table_ == nullptr ? nullptr : table_->get(key);
    }

    const toml::table* table_;
    std::string name_;
};

void require_nonempty(const Section& s, std::string_view key, const std::string& value) {
    if (value.empty()) fail(s.full(key), "must not be empty");
}

void require_one_of(const Section& s, std::string_view key, const std::string& value,
                    std::initializer_list<std::string_view> allowed) {
    std::string list;
    for (auto a : allowed) {
        if (a == value) return;
        list += list.empty() ? "" : "|";
        list += a;
    }
    fail(s.full(key), "must be one of " + list + " (got \"" + value + "\")");
}

bool is_ip_literal(const std::string& addr) {
    unsigned char buf[16];
    return inet_pton(AF_INET, addr.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// A custom GUC name as PostgreSQL accepts it unquoted: identifier parts joined by dots, at least
// two parts. Lower case only, because SET folds unquoted names and the proxy compares bytes.
bool is_custom_guc_name(std::string_view name) {
    int parts = 0;
    std::size_t start = 0;
    while (true) {
        std::size_t dot = name.find('.', start);
        std::string_view part =
            name.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (part.empty() || !(part[0] == '_' || (part[0] >= 'a' && part[0] <= 'z'))) return false;
        for (char c : part) {
            if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
        }
        ++parts;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return parts >= 2;
}

std::string resolve(const std::string& path, const std::string& base_dir) {
    if (path.empty() || base_dir.empty() || fs::path(path).is_absolute()) return path;
    return (fs::path(base_dir) / path).lexically_normal().string();
}

void read_server(const Section& s, ServerConfig& c) {
    s.expect_only({"listen_addr",
                   "listen_port",
                   "workers",
                   "max_client_conn",
                   "max_practice_client_connections",
                   "max_message_bytes",
                   "message_memory_bytes",
                   "message_timeout_ms",
                   "login_timeout_ms",
                   "tls_cert",
                   "tls_key",
                   "tls_required",
                   "log_level",
                   "metrics_addr",
                   "metrics_port",
                   "metrics_max_practices",
                   "idle_transaction_timeout_ms",
                   "query_timeout_ms",
                   "client_idle_timeout_ms",
                   "shutdown_timeout_s",
                   "so_reuseport",
                   "handover_socket"});
    s.get("listen_addr", c.listen_addr);
    s.get("listen_port", c.listen_port, 1, 65535);
    s.get("workers", c.workers, 1, 64);
    s.get("max_client_conn", c.max_client_conn, 1, 1'000'000);
    s.get("max_practice_client_connections", c.max_practice_client_connections, 0, 1'000'000);
    s.get("max_message_bytes", c.max_message_bytes, int64_t{1} << 10, int64_t{1} << 30);
    s.get("message_memory_bytes", c.message_memory_bytes, int64_t{1} << 10, int64_t{1} << 40);
    s.get_ms("message_timeout_ms", c.message_timeout);
    s.get_ms("login_timeout_ms", c.login_timeout);
    s.get_timeout("idle_transaction_timeout_ms", c.idle_transaction_timeout);
    s.get_timeout("query_timeout_ms", c.query_timeout);
    s.get_timeout("client_idle_timeout_ms", c.client_idle_timeout);
    s.get_timeout("shutdown_timeout_s", c.shutdown_timeout);
    s.get("so_reuseport", c.so_reuseport);
    s.get("handover_socket", c.handover_socket);
    if (!c.handover_socket.empty() && !c.so_reuseport) {
        fail(s.full("handover_socket"),
             "requires server.so_reuseport = true (the successor listens on the port before "
             "the clients move to it)");
    }
    if (c.handover_socket.size() >= 100) {
        fail(s.full("handover_socket"), "a Unix socket path must be shorter than 100 bytes");
    }
    if (c.message_memory_bytes < c.max_message_bytes) {
        fail(s.full("message_memory_bytes"),
             "must be at least server.max_message_bytes, or a message of that size could never "
             "be received");
    }
    s.get("tls_cert", c.tls_cert);
    s.get("tls_key", c.tls_key);
    s.get("tls_required", c.tls_required);
    s.get("log_level", c.log_level);
    s.get("metrics_addr", c.metrics_addr);
    s.get("metrics_port", c.metrics_port, 0, 65535);
    s.get("metrics_max_practices", c.metrics_max_practices, 0, 100'000);

    if (c.metrics_addr != "localhost" && !is_ip_literal(c.metrics_addr)) {
        fail(s.full("metrics_addr"),
             "must be an IPv4 or IPv6 address or \"localhost\" (got \"" + c.metrics_addr + "\")");
    }
    if (c.listen_addr != "localhost" && !is_ip_literal(c.listen_addr)) {
        fail(s.full("listen_addr"),
             "must be an IPv4 or IPv6 address or \"localhost\" (got \"" + c.listen_addr + "\")");
    }
    if (c.tls_cert.empty() != c.tls_key.empty()) {
        fail(s.full(c.tls_cert.empty() ? "tls_cert" : "tls_key"),
             "server.tls_cert and server.tls_key must be set together");
    }
    if (c.tls_required && c.tls_cert.empty()) {
        fail(s.full("tls_required"), "requires server.tls_cert and server.tls_key");
    }
    require_one_of(s, "log_level", c.log_level,
                   {"trace", "debug", "info", "warn", "error", "critical", "off"});
}

void read_backend_tls(const Section& s, BackendConfig& c) {
    std::string mode(to_string(c.sslmode));
    s.get("sslmode", mode);
    if (mode == "allow") {
        fail(s.full("sslmode"),
             "\"allow\" is not supported (it would log in without TLS first); use prefer, "
             "require, verify-ca or verify-full");
    }
    require_one_of(s, "sslmode", mode,
                   {"disable", "prefer", "require", "verify-ca", "verify-full"});
    for (auto m : {SslMode::disable, SslMode::prefer, SslMode::require, SslMode::verify_ca,
                   SslMode::verify_full}) {
        if (to_string(m) == mode) c.sslmode = m;
    }
    s.get("sslrootcert", c.sslrootcert);
    s.get("sslcert", c.sslcert);
    s.get("sslkey", c.sslkey);
    if (c.sslcert.empty() != c.sslkey.empty()) {
        fail(s.full(c.sslcert.empty() ? "sslcert" : "sslkey"),
             "backend.sslcert and backend.sslkey must be set together");
    }
    if (c.sslmode == SslMode::disable) {
        // A certificate set up for nothing is a mistake worth reporting, not ignoring.
        const char* key = !c.sslrootcert.empty() ? "sslrootcert"
                          : !c.sslcert.empty()   ? "sslcert"
                                                 : nullptr;
        if (key != nullptr) fail(s.full(key), "is set but backend.sslmode is \"disable\"");
    }
    if ((c.sslmode == SslMode::verify_ca || c.sslmode == SslMode::verify_full) &&
        c.sslrootcert.empty()) {
        fail(s.full("sslrootcert"), "is required with backend.sslmode = \"" + mode +
                                        "\": the CA file that signed the server's certificate");
    }
}

void read_backend(const Section& s, BackendConfig& c) {
    s.expect_only({"host", "port", "database", "user", "password", "password_env",
                   "connect_timeout_ms", "sslmode", "sslrootcert", "sslcert", "sslkey"});
    s.get("host", c.host);
    s.get("port", c.port, 1, 65535);
    s.get("database", c.database);
    s.get("user", c.user);
    s.get("password", c.password);
    s.get("password_env", c.password_env);
    s.get_ms("connect_timeout_ms", c.connect_timeout);
    read_backend_tls(s, c);
    require_nonempty(s, "host", c.host);
    require_nonempty(s, "database", c.database);
    require_nonempty(s, "user", c.user);
    if (!c.password_env.empty()) {
        // Read once at load: a reload re-reads it, a running pool never sees it change.
        const char* value = std::getenv(c.password_env.c_str());
        if (value == nullptr) {
            fail(s.full("password_env"), "environment variable " + c.password_env + " is not set");
        }
        c.password = value;
    }
}

void read_pool(const Section& s, PoolConfig& c) {
    s.expect_only({"size", "min_idle", "wait_timeout_ms", "mode", "server_lifetime_s",
                   "server_idle_timeout_s", "max_practice_server_connections",
                   "server_check_delay_ms"});
    s.get_timeout("server_lifetime_s", c.server_lifetime);
    s.get_timeout("server_idle_timeout_s", c.server_idle_timeout);
    s.get("size", c.size, 1, 10'000);
    s.get("min_idle", c.min_idle, 0, 10'000);
    s.in_range("min_idle", c.min_idle, 0, c.size);
    s.get_ms("wait_timeout_ms", c.wait_timeout);
    s.get("max_practice_server_connections", c.max_practice_server_connections, 0, 10'000);
    s.get_timeout("server_check_delay_ms", c.server_check_delay);
    std::string mode = c.default_mode == PoolMode::session ? "session" : "transaction";
    s.get("mode", mode);
    require_one_of(s, "mode", mode, {"transaction", "session"});
    c.default_mode = mode == "session" ? PoolMode::session : PoolMode::transaction;
}

void read_tenant(const Section& s, TenantConfig& c) {
    s.expect_only({"users_file", "setting", "allow_maintenance", "allow_explain_analyze", "mode",
                   "key_file", "token_lifetime_s", "key_columns", "recheck_interval_s",
                   "directory_query", "directory_user", "directory_password",
                   "directory_password_env", "directory_cache_s"});
    s.get("users_file", c.users_file);
    s.get("setting", c.setting);
    s.get("allow_maintenance", c.allow_maintenance);
    s.get("allow_explain_analyze", c.allow_explain_analyze);
    std::string mode = c.mode == TenantMode::sealed ? "sealed" : "compat";
    s.get("mode", mode);
    require_one_of(s, "mode", mode, {"compat", "sealed"});
    c.mode = mode == "sealed" ? TenantMode::sealed : TenantMode::compat;
    s.get("key_file", c.key_file);
    int64_t lifetime = c.token_lifetime.count();
    s.get("token_lifetime_s", lifetime, 60, 86400);
    c.token_lifetime = std::chrono::seconds(lifetime);
    s.get("key_columns", c.key_columns);
    if (c.key_columns.empty()) fail(s.full("key_columns"), "must name at least one column");
    for (const auto& column : c.key_columns) {
        if (column.empty() || column.size() > 63 || column.find('\0') != std::string::npos)
            fail(s.full("key_columns"), "a column name must have 1 to 63 bytes");
    }
    int64_t recheck = c.recheck_interval.count();
    s.get("recheck_interval_s", recheck, 0, 86400);
    c.recheck_interval = std::chrono::seconds(recheck);
    s.get("directory_query", c.directory_query);
    s.get("directory_user", c.directory_user);
    s.get("directory_password", c.directory_password);
    s.get("directory_password_env", c.directory_password_env);
    s.get_timeout("directory_cache_s", c.directory_cache);
    if (!c.directory_query.empty() && c.directory_user.empty()) {
        fail(s.full("directory_user"),
             "is required with tenant.directory_query: a role that may read the logins table "
             "(the pool role must not: its clients could read every verifier)");
    }
    if (!c.directory_password_env.empty()) {
        const char* value = std::getenv(c.directory_password_env.c_str());
        if (value == nullptr) {
            fail(s.full("directory_password_env"),
                 "environment variable " + c.directory_password_env + " is not set");
        }
        c.directory_password = value;
    }
    if (c.mode == TenantMode::sealed && c.key_file.empty()) {
        fail(s.full("key_file"),
             "is required when tenant.mode = \"sealed\" (create one with pgtenant keygen)");
    }
    require_nonempty(s, "users_file", c.users_file);
    if (!is_custom_guc_name(c.setting)) {
        fail(s.full("setting"),
             "must be a lower-case custom setting name like app.current_practice_id (got \"" +
                 c.setting + "\")");
    }
    // pgtenant.* is where the proxy keeps its own state (pgtenant.context in sealed mode).
    if (c.setting.starts_with("pgtenant.")) {
        fail(s.full("setting"), "the pgtenant.* namespace is reserved for the proxy itself");
    }
}

const toml::table* section_table(const toml::table& root, std::string_view name) {
    const toml::node* node = root.get(name);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(name, "expected a table ([" + std::string(name) + "])");
    return node->as_table();
}

std::shared_ptr<const Config> parse_impl(std::string_view text, const std::string& base_dir,
                                         const std::string& source_name) {
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw ConfigError(source_name + ":" + std::to_string(where.line) + ":" +
                          std::to_string(where.column) + ": " + std::string(e.description()));
    }
    for (const auto& [key, value] : root) {
        auto k = key.str();
        if (k != "server" && k != "backend" && k != "pool" && k != "tenant" && k != "audit") {
            fail(k, "unknown section");
        }
    }
    auto config = std::make_shared<Config>();
    read_server(Section(section_table(root, "server"), "server"), config->server);
    read_backend(Section(section_table(root, "backend"), "backend"), config->backend);
    read_pool(Section(section_table(root, "pool"), "pool"), config->pool);
    read_tenant(Section(section_table(root, "tenant"), "tenant"), config->tenant);
    const Section audit(section_table(root, "audit"), "audit");
    audit.expect_only({"file"});
    audit.get("file", config->audit.file);
    if (!config->audit.file.empty() && config->audit.file != "stderr")
        config->audit.file = resolve(config->audit.file, base_dir);

    config->tenant.users_file = resolve(config->tenant.users_file, base_dir);
    if (!config->tenant.key_file.empty())
        config->tenant.key_file = resolve(config->tenant.key_file, base_dir);
    config->server.tls_cert = resolve(config->server.tls_cert, base_dir);
    config->server.handover_socket = resolve(config->server.handover_socket, base_dir);
    config->server.tls_key = resolve(config->server.tls_key, base_dir);
    auto& backend = config->backend;
    backend.sslrootcert = resolve(backend.sslrootcert, base_dir);
    backend.sslcert = resolve(backend.sslcert, base_dir);
    backend.sslkey = resolve(backend.sslkey, base_dir);
    return config;
}

}  // namespace

std::string_view to_string(SslMode mode) {
    switch (mode) {
        case SslMode::disable:
            return "disable";
        case SslMode::prefer:
            return "prefer";
        case SslMode::require:
            return "require";
        case SslMode::verify_ca:
            return "verify-ca";
        case SslMode::verify_full:
            return "verify-full";
    }
    return "disable";
}

std::shared_ptr<const Config> parse_config(std::string_view toml_text,
                                           const std::string& base_dir) {
    return parse_impl(toml_text, base_dir, "<config>");
}

std::shared_ptr<const Config> load_config(const std::string& path) {
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    if (ec) absolute = path;
    if (!fs::exists(absolute, ec)) throw ConfigError(path + ": config file not found");
    std::ifstream in(absolute, std::ios::binary);
    if (!in) throw ConfigError(path + ": cannot open config file: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(path + ": error reading config file");

    auto parsed = parse_impl(text.str(), absolute.parent_path().string(), path);
    auto config = std::make_shared<Config>(*parsed);
    config->source_path = absolute.string();
    return config;
}

}  // namespace pgtenant::config
