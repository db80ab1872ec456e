#pragma once
// pgtenant configuration: plain structs with defaults, validated once by load_config()
// into an immutable shared_ptr<const Config>. Reload swaps the pointer whole.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pgtenant::config {

enum class PoolMode { transaction, session };

// compat: policies read tenant.setting (protects against application bugs).
// sealed: pgtenant also sets a signed token in pgtenant.context; policies call
// pgtenant.practice_id(), which a client cannot forge (protects against hostile SQL too).
enum class TenantMode { compat, sealed };

struct ServerConfig {
    std::string listen_addr = "127.0.0.1";
    uint16_t listen_port = 6432;
    int workers = 1;              // io_context threads (restart to change)
    int max_client_conn = 10000;  // 53300 beyond this
    // Client connections of one practice at once (53300 beyond); 0 = no cap but the above.
    // A practice's max_client_connections in the users file overrides it.
    int max_practice_client_connections = 0;
    std::size_t max_message_bytes = 64u << 20;  // client frames larger than this are refused
    // Client messages larger than a receive buffer (16 KiB) still arriving: memory they may hold
    // together, and the time each may take to arrive in full.
    std::size_t message_memory_bytes = 256u << 20;
    std::chrono::milliseconds message_timeout{30000};
    // From connect to the end of authentication (PostgreSQL's authentication_timeout).
    std::chrono::milliseconds login_timeout{60000};
    // Timeouts on clients, each off at 0. A client idle inside a transaction this long is
    // disconnected (its transaction rolled back, its server connection freed), as PostgreSQL's
    // idle_in_transaction_session_timeout; a request the server has not answered this long is
    // cancelled (57014); a client idle outside any transaction this long is disconnected, as
    // PostgreSQL's idle_session_timeout.
    std::chrono::milliseconds idle_transaction_timeout{0};
    std::chrono::milliseconds query_timeout{0};
    std::chrono::milliseconds client_idle_timeout{0};
    // SIGTERM drains: no new clients or transactions, open transactions may finish for this
    // long, idle clients are told 57P01; 0 closes at once (as SIGINT).
    std::chrono::seconds shutdown_timeout{30};
    // SO_REUSEPORT on the listening socket: a new pgtenant can listen on the same port while
    // the old one drains (a binary upgrade without refusing a connection).
    bool so_reuseport = false;
    // A Unix socket path where this pgtenant hands its clients over to a successor (a newer
    // binary started with the same setting): clients between transactions move to it with
    // their session, without noticing. Empty: off. Needs so_reuseport.
    std::string handover_socket;
    std::string tls_cert;            // PEM; empty = no TLS (SSLRequest answered 'N')
    std::string tls_key;             // PEM
    bool tls_required = false;       // refuse clients that do not ask for TLS
    std::string log_level = "info";  // trace|debug|info|warn|error|critical|off
    // Prometheus metrics over HTTP (GET /metrics, GET /healthz); off when the port is 0.
    std::string metrics_addr = "127.0.0.1";
    uint16_t metrics_port = 0;
    // Practices exported one by one (the busiest); the rest are summed as practice="other".
    int metrics_max_practices = 100;
};

// TLS to PostgreSQL, as libpq's sslmode. prefer: TLS when the server offers it, else plain;
// require: TLS or fail (the certificate is checked only when sslrootcert is set, as libpq);
// verify-ca: the certificate chains to sslrootcert; verify-full: and names backend.host.
enum class SslMode { disable, prefer, require, verify_ca, verify_full };
std::string_view to_string(SslMode mode);

struct BackendConfig {
    std::string host = "127.0.0.1";
    uint16_t port = 5432;
    std::string database = "postgres";
    std::string user = "pgtenant_pool";  // the pool role: LOGIN, no SUPERUSER, no BYPASSRLS
    std::string password;                // used for SCRAM-SHA-256 or MD5; empty for trust
    std::string password_env;            // if set, password is read from this env variable
    std::chrono::milliseconds connect_timeout{5000};
    SslMode sslmode = SslMode::disable;
    std::string sslrootcert;  // CA file (PEM); empty: certificate not checked
    std::string sslcert;      // client certificate (PEM), with sslkey
    std::string sslkey;       // its private key: mode 0600 (0640 if root-owned)
};

struct PoolConfig {
    int size = 20;                                  // backend connections shared by all practices
    int min_idle = 0;                               // opened at start and kept open
    std::chrono::milliseconds wait_timeout{5000};   // 53400 when no backend frees up in time
    PoolMode default_mode = PoolMode::transaction;  // per-login override in the users file
    // A server connection is closed when it comes back older than server_lifetime, or after
    // idling server_idle_timeout (down to min_idle); 0 turns either off. min_idle is kept filled.
    std::chrono::seconds server_lifetime{3600};
    std::chrono::seconds server_idle_timeout{600};
    // Server connections one practice may have in use at once (its share of the pool); its
    // clients wait beyond it, never another practice's. 0 = no cap. A practice's
    // max_server_connections in the users file overrides it.
    int max_practice_server_connections = 0;
    // A connection idle longer than this answers an empty query before it is reused (one that
    // does not is closed, and another taken); 0 checks before every reuse.
    std::chrono::milliseconds server_check_delay{30000};
};

struct TenantConfig {
    std::string users_file = "users.toml";  // relative to the config file's directory
    std::string setting = "app.current_practice_id";
    bool allow_maintenance = false;  // VACUUM, CREATE DATABASE, ... from practice logins
    // EXPLAIN ANALYZE from practice logins. Off in both modes: its "Rows Removed by Filter"
    // counts rows of other practices that row-level security hid (an existence oracle).
    bool allow_explain_analyze = false;
    TenantMode mode = TenantMode::compat;
    std::string key_file;                       // sealed mode: "<kid> <64 hex>" lines, first signs
    std::chrono::seconds token_lifetime{3600};  // sealed mode: how long one token is valid
    // Columns that hold a row's practice: a table with one of them, or with a policy that reads
    // the tenant context, is a tenant table for `pgtenant check` and the startup gate.
    std::vector<std::string> key_columns{"practice_id"};
    // The critical checks run again this often while serving (0: only at start).
    std::chrono::seconds recheck_interval{60};
    // Logins not in the users file are looked up with this query ($1: the login name; at most
    // one row of scram, practice and pool_mode), on a connection of its own as directory_user
    // (to [backend]'s host and database), cached for directory_cache_s. Empty: users file only.
    std::string directory_query;
    std::string directory_user;
    std::string directory_password;  // or from directory_password_env
    std::string directory_password_env;
    std::chrono::seconds directory_cache{60};
};

struct AuditConfig {
    std::string file;  // empty: no audit log; "stderr"; or a file path (reopened on SIGHUP)
};

struct Config {
    ServerConfig server;
    BackendConfig backend;
    PoolConfig pool;
    TenantConfig tenant;
    AuditConfig audit;
    std::string source_path;  // the file this was loaded from
};

// Thrown for any invalid configuration; what() names the offending key, e.g.
// "pool.size: must be between 1 and 10000 (got 0)".
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Parses and validates a TOML file. Unknown keys are errors (typos must not be silent).
// Relative paths (users_file, key_file, tls_cert, tls_key, sslrootcert, sslcert, sslkey) are
// resolved against the file's directory.
std::shared_ptr<const Config> load_config(const std::string& path);
std::shared_ptr<const Config> parse_config(std::string_view toml_text, const std::string& base_dir);

// The configuration in force, replaced whole by a reload and read by any thread: `live->x` is
// one atomic load. Every version stays alive until the holder is destroyed (reloads are rare,
// and a session may keep a reference into the one it started with).
class LiveConfig {
  public:
    LiveConfig() = default;
    LiveConfig(std::shared_ptr<const Config> c) { set(std::move(c)); }  // NOLINT: implicit
    LiveConfig& operator=(std::shared_ptr<const Config> c) {
        set(std::move(c));
        return *this;
    }
    const Config* operator->() const { return current_.load(std::memory_order_acquire); }
    const Config& operator*() const { return *operator->(); }
    const Config* get() const { return operator->(); }
    void set(std::shared_ptr<const Config> c);

  private:
    std::atomic<const Config*> current_{nullptr};
    std::mutex mu_;
    std::vector<std::shared_ptr<const Config>> kept_;
};

// A reload: `next` (a freshly loaded file) applied to `current` as far as it can be while
// running. The settings a running pgtenant re-reads take next's values; the others keep
// current's and are named in `needs_restart` ("pool.size (20 -> 40)").
struct Reloaded {
    std::shared_ptr<const Config> config;
    std::vector<std::string> needs_restart;
};
Reloaded reload_config(const Config& current, const Config& next);

// Every setting as "section.key" with its value and its default, for the console's SHOW CONFIG.
// Secrets (backend.password) are shown as "********" when set.
struct Setting {
    std::string key;
    std::string value;
    std::string default_value;
};
std::vector<Setting> describe(const Config& config);

}  // namespace pgtenant::config
