#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>

namespace pgtenant::config {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// The error message of parsing `text`, or "" if it parsed.
std::string error_of(std::string_view text) {
    try {
        parse_config(text, "");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// Every rejection must start with the key it is about.
void expect_error(std::string_view text, std::string_view key_prefix) {
    std::string err = error_of(text);
    EXPECT_TRUE(err.starts_with(key_prefix)) << "input:\n" << text << "\nerror: " << err;
}

class TempDir {
  public:
    TempDir() {
        path_ = fs::temp_directory_path() /
                ("pgtenant_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(++n_));
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    fs::path write(const std::string& name, std::string_view text) const {
        fs::path p = path_ / name;
        std::ofstream(p) << text;
        return p;
    }
    const fs::path& path() const { return path_; }

  private:
    static inline int n_ = 0;
    fs::path path_;
};

TEST(ConfigTest, EmptyFileGivesDefaults) {
    auto c = parse_config("", "");
    EXPECT_EQ(c->server.listen_addr, "127.0.0.1");
    EXPECT_EQ(c->server.listen_port, 6432);
    EXPECT_EQ(c->server.workers, 1);
    EXPECT_EQ(c->server.max_client_conn, 10000);
    EXPECT_EQ(c->server.max_message_bytes, 64u << 20);
    EXPECT_EQ(c->server.log_level, "info");
    EXPECT_FALSE(c->server.tls_required);
    EXPECT_EQ(c->backend.host, "127.0.0.1");
    EXPECT_EQ(c->backend.port, 5432);
    EXPECT_EQ(c->backend.user, "pgtenant_pool");
    EXPECT_EQ(c->backend.connect_timeout, milliseconds(5000));
    EXPECT_EQ(c->pool.size, 20);
    EXPECT_EQ(c->pool.min_idle, 0);
    EXPECT_EQ(c->pool.wait_timeout, milliseconds(5000));
    EXPECT_EQ(c->pool.default_mode, PoolMode::transaction);
    EXPECT_EQ(c->tenant.users_file, "users.toml");
    EXPECT_EQ(c->tenant.setting, "app.current_practice_id");
    EXPECT_FALSE(c->tenant.allow_maintenance);
    EXPECT_FALSE(c->tenant.allow_explain_analyze);
}

TEST(ConfigTest, FullFile) {
    auto c = parse_config(R"(
[server]
listen_addr = "::1"
listen_port = 7000
workers = 4
max_client_conn = 500
max_message_bytes = 1024
tls_cert = "/etc/pg/cert.pem"
tls_key = "/etc/pg/key.pem"
tls_required = true
log_level = "debug"
[backend]
host = "db.internal"
port = 5433
database = "app"
user = "pool"
password = "secret"
connect_timeout_ms = 250
[pool]
size = 50
min_idle = 50
wait_timeout_ms = 3600000
mode = "session"
[tenant]
users_file = "/etc/pgtenant/users.toml"
setting = "my_app.tenant_id"
allow_maintenance = true
allow_explain_analyze = true
)",
                          "/base");
    EXPECT_EQ(c->server.listen_addr, "::1");
    EXPECT_EQ(c->server.listen_port, 7000);
    EXPECT_EQ(c->server.workers, 4);
    EXPECT_EQ(c->server.max_client_conn, 500);
    EXPECT_EQ(c->server.max_message_bytes, 1024u);
    EXPECT_EQ(c->server.tls_cert, "/etc/pg/cert.pem");
    EXPECT_EQ(c->server.tls_key, "/etc/pg/key.pem");
    EXPECT_TRUE(c->server.tls_required);
    EXPECT_EQ(c->server.log_level, "debug");
    EXPECT_EQ(c->backend.host, "db.internal");
    EXPECT_EQ(c->backend.port, 5433);
    EXPECT_EQ(c->backend.database, "app");
    EXPECT_EQ(c->backend.user, "pool");
    EXPECT_EQ(c->backend.password, "secret");
    EXPECT_EQ(c->backend.connect_timeout, milliseconds(250));
    EXPECT_EQ(c->pool.size, 50);
    EXPECT_EQ(c->pool.min_idle, 50);
    EXPECT_EQ(c->pool.wait_timeout, milliseconds(3600000));
    EXPECT_EQ(c->pool.default_mode, PoolMode::session);
    EXPECT_EQ(c->tenant.users_file, "/etc/pgtenant/users.toml");
    EXPECT_EQ(c->tenant.setting, "my_app.tenant_id");
    EXPECT_TRUE(c->tenant.allow_maintenance);
    EXPECT_TRUE(c->tenant.allow_explain_analyze);
}

TEST(ConfigTest, UnknownSectionsAndKeys) {
    EXPECT_EQ(error_of("[server]\nlisten_prot = 1\n"), "server.listen_prot: unknown key");
    expect_error("[servre]\n", "servre: unknown section");
    expect_error("top = 1\n", "top: unknown section");
    expect_error("server = 1\n", "server: expected a table");
    expect_error("[tenant]\nallow_maintainance = true\n", "tenant.allow_maintainance: unknown key");
}

TEST(ConfigTest, WrongTypes) {
    EXPECT_EQ(error_of("[pool]\nsize = \"20\"\n"), "pool.size: expected an integer");
    expect_error("[pool]\nsize = 2.5\n", "pool.size: expected an integer");
    expect_error("[server]\nlisten_addr = 1\n", "server.listen_addr: expected a string");
    expect_error("[server]\ntls_required = \"yes\"\n",
                 "server.tls_required: expected true or false");
    expect_error("[backend]\nconnect_timeout_ms = \"5s\"\n",
                 "backend.connect_timeout_ms: expected an integer");
    expect_error("[tenant]\nallow_maintenance = 1\n",
                 "tenant.allow_maintenance: expected true or false");
    expect_error("[tenant]\nallow_explain_analyze = \"on\"\n",
                 "tenant.allow_explain_analyze: expected true or false");
}

TEST(ConfigTest, Ranges) {
    EXPECT_EQ(error_of("[pool]\nsize = 0\n"), "pool.size: must be between 1 and 10000 (got 0)");
    expect_error("[pool]\nsize = 10001\n", "pool.size:");
    expect_error("[server]\nlisten_port = 0\n", "server.listen_port:");
    expect_error("[server]\nlisten_port = 65536\n", "server.listen_port:");
    expect_error("[backend]\nport = -1\n", "backend.port:");
    expect_error("[server]\nworkers = 0\n", "server.workers:");
    expect_error("[server]\nworkers = 65\n", "server.workers:");
    expect_error("[server]\nmax_client_conn = 0\n", "server.max_client_conn:");
    expect_error("[server]\nmax_client_conn = 1000001\n", "server.max_client_conn:");
    expect_error("[server]\nmax_message_bytes = 1023\n", "server.max_message_bytes:");
    expect_error("[server]\nmax_message_bytes = 1073741825\n", "server.max_message_bytes:");
    expect_error("[pool]\nmin_idle = -1\n", "pool.min_idle:");
    expect_error("[pool]\nsize = 5\nmin_idle = 6\n", "pool.min_idle: must be between 0 and 5");
    expect_error("[pool]\nwait_timeout_ms = 0\n", "pool.wait_timeout_ms:");
    expect_error("[pool]\nwait_timeout_ms = 3600001\n", "pool.wait_timeout_ms:");
    expect_error("[backend]\nconnect_timeout_ms = 0\n", "backend.connect_timeout_ms:");
    // Edges are accepted.
    EXPECT_EQ(error_of("[server]\nlisten_port = 65535\nworkers = 64\nmax_message_bytes = 1024\n"
                       "[pool]\nsize = 10000\nwait_timeout_ms = 1\n"),
              "");
}

TEST(ConfigTest, TlsPairing) {
    expect_error("[server]\ntls_cert = \"c.pem\"\n", "server.tls_key:");
    expect_error("[server]\ntls_key = \"k.pem\"\n", "server.tls_cert:");
    expect_error("[server]\ntls_required = true\n", "server.tls_required:");
    EXPECT_EQ(error_of("[server]\ntls_cert = \"c\"\ntls_key = \"k\"\ntls_required = true\n"), "");
}

TEST(ConfigTest, HandoverSocketNeedsSoReuseport) {
    expect_error("[server]\nhandover_socket = \"/run/p/h.sock\"\n", "server.handover_socket:");
    expect_error(
        "[server]\nso_reuseport = true\nhandover_socket = \"/" + std::string(120, 'x') + "\"\n",
        "server.handover_socket:");
    auto c = parse_config("[server]\nso_reuseport = true\nhandover_socket = \"h.sock\"\n",
                          "/etc/pgtenant");
    EXPECT_EQ(c->server.handover_socket, "/etc/pgtenant/h.sock");  // beside the config file
    EXPECT_EQ(parse_config("", "")->server.handover_socket, "");   // off by default
}

TEST(ConfigTest, BackendTls) {
    auto plain = parse_config("", "");
    EXPECT_EQ(plain->backend.sslmode, SslMode::disable);  // as before TLS existed
    EXPECT_EQ(plain->backend.sslrootcert, "");

    for (auto [text, mode] : {std::pair{"disable", SslMode::disable},
                              {"prefer", SslMode::prefer},
                              {"require", SslMode::require},
                              {"verify-ca", SslMode::verify_ca},
                              {"verify-full", SslMode::verify_full}}) {
        std::string toml = std::string("[backend]\nsslmode = \"") + text + "\"\n";
        if (mode == SslMode::verify_ca || mode == SslMode::verify_full)
            toml += "sslrootcert = \"/etc/pgtenant/ca.pem\"\n";
        auto c = parse_config(toml, "");
        EXPECT_EQ(c->backend.sslmode, mode) << text;
        EXPECT_EQ(to_string(mode), text);
    }
    expect_error("[backend]\nsslmode = \"on\"\n",
                 "backend.sslmode: must be one of disable|prefer|require|verify-ca|verify-full");
    expect_error("[backend]\nsslmode = \"allow\"\n", "backend.sslmode: \"allow\" is not supported");
    expect_error("[backend]\nsslmode = 1\n", "backend.sslmode: expected a string");
    // verify-* cannot verify against nothing.
    expect_error("[backend]\nsslmode = \"verify-ca\"\n", "backend.sslrootcert: is required");
    expect_error("[backend]\nsslmode = \"verify-full\"\n", "backend.sslrootcert: is required");
    // Certificates for a plain connection are a mistake, not something to ignore.
    expect_error("[backend]\nsslrootcert = \"ca.pem\"\n", "backend.sslrootcert: is set but");
    expect_error("[backend]\nsslcert = \"c.pem\"\nsslkey = \"k.pem\"\n",
                 "backend.sslcert: is set but");
    // A client certificate needs its key and vice versa.
    expect_error("[backend]\nsslmode = \"require\"\nsslcert = \"c.pem\"\n", "backend.sslkey:");
    expect_error("[backend]\nsslmode = \"require\"\nsslkey = \"k.pem\"\n", "backend.sslcert:");
    expect_error("[backend]\nsslmode = \"require\"\nsslcompression = true\n",
                 "backend.sslcompression: unknown key");

    // Relative paths are relative to the config file, like every other path.
    auto c = parse_config(
        "[backend]\nsslmode = \"verify-full\"\nsslrootcert = \"tls/ca.pem\"\n"
        "sslcert = \"tls/client.pem\"\nsslkey = \"/abs/client.key\"\n",
        "/srv/pgtenant");
    EXPECT_EQ(c->backend.sslrootcert, "/srv/pgtenant/tls/ca.pem");
    EXPECT_EQ(c->backend.sslcert, "/srv/pgtenant/tls/client.pem");
    EXPECT_EQ(c->backend.sslkey, "/abs/client.key");
    // require with a CA: allowed (the chain is then checked, as libpq does).
    EXPECT_EQ(error_of("[backend]\nsslmode = \"require\"\nsslrootcert = \"ca.pem\"\n"), "");
}

TEST(ConfigTest, Enums) {
    expect_error("[pool]\nmode = \"statement\"\n", "pool.mode: must be one of transaction|session");
    expect_error("[server]\nlog_level = \"verbose\"\n", "server.log_level: must be one of");
    for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
        EXPECT_EQ(error_of(std::string("[server]\nlog_level = \"") + level + "\"\n"), "") << level;
    }
}

TEST(ConfigTest, ListenAddr) {
    expect_error("[server]\nlisten_addr = \"example.com\"\n", "server.listen_addr:");
    expect_error("[server]\nlisten_addr = \"\"\n", "server.listen_addr:");
    expect_error("[server]\nlisten_addr = \"1.2.3.256\"\n", "server.listen_addr:");
    for (const char* a : {"0.0.0.0", "::", "localhost", "10.1.2.3", "fe80::1"}) {
        EXPECT_EQ(error_of(std::string("[server]\nlisten_addr = \"") + a + "\"\n"), "") << a;
    }
}

TEST(ConfigTest, EmptyRequiredStrings) {
    expect_error("[backend]\nhost = \"\"\n", "backend.host: must not be empty");
    expect_error("[backend]\nuser = \"\"\n", "backend.user: must not be empty");
    expect_error("[backend]\ndatabase = \"\"\n", "backend.database: must not be empty");
    expect_error("[tenant]\nusers_file = \"\"\n", "tenant.users_file: must not be empty");
}

TEST(ConfigTest, TenantSetting) {
    for (const char* bad :
         {"practice_id", "App.practice_id", "app.", ".x", "app..x", "1app.x", "app.1x", "app.x-y",
          "app.x y", "\\\"app\\\".x", "", "pgtenant.context", "pgtenant.practice"}) {
        expect_error(std::string("[tenant]\nsetting = \"") + bad + "\"\n", "tenant.setting:");
    }
    for (const char* good : {"app.current_practice_id", "_a._b", "my_app.x1", "a.b.c"}) {
        EXPECT_EQ(error_of(std::string("[tenant]\nsetting = \"") + good + "\"\n"), "") << good;
    }
}

TEST(ConfigTest, SyntaxErrorHasLineAndColumn) {
    std::string err = error_of("[server]\nlisten_port = 6432\nworkers = = 2\n");
    EXPECT_TRUE(err.starts_with("<config>:3:")) << err;
    TempDir dir;
    auto file = dir.write("bad.toml", "[pool]\n\nsize = [1,\n");
    try {
        load_config(file.string());
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_TRUE(std::string(e.what()).starts_with(file.string() + ":")) << e.what();
    }
    expect_error("[pool]\nsize = 1\nsize = 2\n", "<config>:3:");  // duplicate key
}

TEST(ConfigTest, RelativePathsResolveAgainstConfigDirectory) {
    TempDir dir;
    fs::create_directories(dir.path() / "etc");
    auto file = dir.write("etc/pgtenant.toml",
                          "[server]\ntls_cert = \"tls/cert.pem\"\ntls_key = \"/abs/key.pem\"\n"
                          "[tenant]\nusers_file = \"../users.toml\"\n");
    auto c = load_config(file.string());
    EXPECT_EQ(c->source_path, fs::absolute(file).string());
    EXPECT_EQ(c->server.tls_cert, (dir.path() / "etc/tls/cert.pem").string());
    EXPECT_EQ(c->server.tls_key, "/abs/key.pem");
    EXPECT_EQ(c->tenant.users_file, (dir.path() / "users.toml").string());

    auto defaults = load_config(dir.write("empty.toml", "").string());
    EXPECT_EQ(defaults->tenant.users_file, (dir.path() / "users.toml").string());
    EXPECT_EQ(defaults->server.tls_cert, "");  // "no TLS" stays empty, not the directory

    auto relative = parse_config("[tenant]\nusers_file = \"u.toml\"\n", "/srv/pgtenant");
    EXPECT_EQ(relative->tenant.users_file, "/srv/pgtenant/u.toml");
}

TEST(ConfigTest, MissingFile) {
    try {
        load_config("/nonexistent/pgtenant.toml");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/pgtenant.toml"), std::string::npos);
    }
}

TEST(ConfigTest, PasswordFromEnvironment) {
    ::setenv("PGTENANT_TEST_PW", "from-env", 1);
    auto c = parse_config(
        "[backend]\npassword = \"in-file\"\npassword_env = \"PGTENANT_TEST_PW\"\n", "");
    EXPECT_EQ(c->backend.password, "from-env");
    EXPECT_EQ(c->backend.password_env, "PGTENANT_TEST_PW");

    ::setenv("PGTENANT_TEST_EMPTY_PW", "", 1);
    EXPECT_EQ(parse_config("[backend]\npassword_env = \"PGTENANT_TEST_EMPTY_PW\"\n", "")
                  ->backend.password,
              "");

    ::unsetenv("PGTENANT_TEST_UNSET_PW");
    std::string err =
        error_of("[backend]\npassword = \"x\"\npassword_env = \"PGTENANT_TEST_UNSET_PW\"\n");
    EXPECT_TRUE(err.starts_with("backend.password_env:")) << err;
    EXPECT_NE(err.find("PGTENANT_TEST_UNSET_PW"), std::string::npos);

    EXPECT_EQ(parse_config("[backend]\npassword = \"in-file\"\n", "")->backend.password, "in-file");
}

TEST(ConfigTest, ExampleConfigLoads) {
    // CMake compiles with absolute source paths, so the repository root is three levels up.
    fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path();
    fs::path example = root / "config" / "pgtenant.toml";
    auto c = load_config(example.string());
    EXPECT_EQ(c->tenant.users_file,
              (example.parent_path() / "users.toml").lexically_normal().string());
    EXPECT_EQ(c->server.listen_port, 6432);
    EXPECT_EQ(c->pool.default_mode, PoolMode::transaction);
    EXPECT_EQ(c->tenant.setting, "app.current_practice_id");
    EXPECT_EQ(c->backend.sslmode, SslMode::disable);
}

}  // namespace
}  // namespace pgtenant::config

namespace pgtenant::config {
namespace {

TEST(ConfigTest, TenantModes) {
    auto compat = parse_config("", "/etc/pgtenant");
    EXPECT_EQ(compat->tenant.mode, TenantMode::compat);
    auto sealed = parse_config(
        "[tenant]\nmode = \"sealed\"\nkey_file = \"keys/pgtenant.key\"\ntoken_lifetime_s = 600\n",
        "/etc/pgtenant");
    EXPECT_EQ(sealed->tenant.mode, TenantMode::sealed);
    EXPECT_EQ(sealed->tenant.key_file, "/etc/pgtenant/keys/pgtenant.key");
    EXPECT_EQ(sealed->tenant.token_lifetime, std::chrono::seconds(600));
    // EXPLAIN ANALYZE counts rows of other practices in either mode: off unless asked for.
    EXPECT_FALSE(compat->tenant.allow_explain_analyze);
    EXPECT_FALSE(sealed->tenant.allow_explain_analyze);
    EXPECT_THROW(parse_config("[tenant]\nmode = \"sealed\"\n", "/x"), ConfigError);
    EXPECT_THROW(parse_config("[tenant]\nmode = \"strict\"\n", "/x"), ConfigError);
    EXPECT_THROW(parse_config("[tenant]\ntoken_lifetime_s = 5\n", "/x"), ConfigError);
    try {
        parse_config("[tenant]\nmode = \"sealed\"\n", "/x");
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("tenant.key_file"), std::string::npos) << e.what();
    }
}

TEST(ConfigTest, TenantKeyColumnsAndRecheck) {
    auto defaults = parse_config("", "/x");
    EXPECT_EQ(defaults->tenant.key_columns, std::vector<std::string>{"practice_id"});
    EXPECT_EQ(defaults->tenant.recheck_interval, std::chrono::seconds(60));
    auto c = parse_config(
        "[tenant]\nkey_columns = [\"practice_id\", \"Tenant Id\"]\nrecheck_interval_s = 0\n", "/x");
    EXPECT_EQ(c->tenant.key_columns, (std::vector<std::string>{"practice_id", "Tenant Id"}));
    EXPECT_EQ(c->tenant.recheck_interval, std::chrono::seconds(0));
    for (const char* bad : {"key_columns = []", "key_columns = \"practice_id\"",
                            "key_columns = [1]", "key_columns = [\"\"]", "recheck_interval_s = -1",
                            "recheck_interval_s = 86401", "recheck_interval_s = \"60\""}) {
        EXPECT_THROW(parse_config(std::string("[tenant]\n") + bad + "\n", "/x"), ConfigError)
            << bad;
    }
}

}  // namespace
}  // namespace pgtenant::config

namespace pgtenant::config {
namespace {

TEST(ConfigTest, MetricsAndAudit) {
    auto d = parse_config("", "/etc/pgtenant");
    EXPECT_EQ(d->server.metrics_port, 0);  // off
    EXPECT_EQ(d->server.metrics_max_practices, 100);
    EXPECT_TRUE(d->audit.file.empty());  // off
    auto c = parse_config(
        "[server]\nmetrics_addr = \"0.0.0.0\"\nmetrics_port = 9127\nmetrics_max_practices = 5\n"
        "[audit]\nfile = \"audit/pgtenant.jsonl\"\n",
        "/etc/pgtenant");
    EXPECT_EQ(c->server.metrics_addr, "0.0.0.0");
    EXPECT_EQ(c->server.metrics_port, 9127);
    EXPECT_EQ(c->server.metrics_max_practices, 5);
    EXPECT_EQ(c->audit.file, "/etc/pgtenant/audit/pgtenant.jsonl");
    EXPECT_EQ(parse_config("[audit]\nfile = \"stderr\"\n", "/etc")->audit.file, "stderr");
    expect_error("[server]\nmetrics_port = 70000\n", "server.metrics_port:");
    expect_error("[server]\nmetrics_addr = \"example.com\"\n", "server.metrics_addr:");
    expect_error("[server]\nmetrics_max_practices = -1\n", "server.metrics_max_practices:");
    expect_error("[audit]\nfiles = \"x\"\n", "audit.files: unknown key");
}

TEST(ConfigTest, DescribeListsEverySettingAndHidesThePassword) {
    auto c = parse_config("[pool]\nsize = 7\n[backend]\npassword = \"hunter2\"\n", "/etc");
    const auto settings = describe(*c);
    auto find = [&](const std::string& key) {
        for (const auto& s : settings)
            if (s.key == key) return s;
        return Setting{};
    };
    EXPECT_EQ(find("pool.size").value, "7");
    EXPECT_EQ(find("pool.size").default_value, "20");
    EXPECT_EQ(find("backend.password").value, "********");
    EXPECT_EQ(find("tenant.mode").value, "compat");
    EXPECT_EQ(find("tenant.key_columns").value, "practice_id");
    for (const auto& s : settings) EXPECT_EQ(s.value.find("hunter2"), std::string::npos);
    EXPECT_GT(settings.size(), 35u);
}

}  // namespace
}  // namespace pgtenant::config

namespace pgtenant::config {
namespace {

TEST(ConfigTest, TimeoutsAreOffAtZero) {
    auto d = parse_config("", "/etc");
    EXPECT_EQ(d->server.idle_transaction_timeout.count(), 0);
    EXPECT_EQ(d->server.query_timeout.count(), 0);
    EXPECT_EQ(d->server.client_idle_timeout.count(), 0);
    EXPECT_EQ(d->pool.server_lifetime.count(), 3600);
    EXPECT_EQ(d->pool.server_idle_timeout.count(), 600);
    auto c = parse_config(
        "[server]\nidle_transaction_timeout_ms = 1500\nquery_timeout_ms = 0\n"
        "client_idle_timeout_ms = 86400000\n[pool]\nserver_lifetime_s = 0\n"
        "server_idle_timeout_s = 30\n",
        "/etc");
    EXPECT_EQ(c->server.idle_transaction_timeout.count(), 1500);
    EXPECT_EQ(c->server.client_idle_timeout.count(), 86'400'000);
    EXPECT_EQ(c->pool.server_lifetime.count(), 0);
    EXPECT_EQ(c->pool.server_idle_timeout.count(), 30);
    expect_error("[server]\nquery_timeout_ms = -1\n", "server.query_timeout_ms:");
    expect_error("[server]\nclient_idle_timeout_ms = 86400001\n", "server.client_idle_timeout_ms:");
    expect_error("[pool]\nserver_lifetime_s = 86401\n", "pool.server_lifetime_s:");
}

// A reload takes what a running pgtenant re-reads and names, with both values, what needs a
// restart; a min_idle the running pool.size cannot hold waits for the restart too.
TEST(ConfigTest, ReloadTakesLiveSettingsAndNamesTheOthers) {
    auto current = parse_config("[server]\nworkers = 2\n[pool]\nsize = 10\nmin_idle = 2\n", "");
    auto next = parse_config(R"(
[server]
workers = 4
query_timeout_ms = 250
max_practice_client_connections = 7
log_level = "debug"
[pool]
size = 40
min_idle = 30
wait_timeout_ms = 900
max_practice_server_connections = 3
server_check_delay_ms = 0
[tenant]
allow_explain_analyze = true
)",
                             "");
    auto r = reload_config(*current, *next);
    EXPECT_EQ(r.config->server.query_timeout, milliseconds(250));
    EXPECT_EQ(r.config->server.max_practice_client_connections, 7);
    EXPECT_EQ(r.config->server.log_level, "debug");
    EXPECT_EQ(r.config->pool.wait_timeout, milliseconds(900));
    EXPECT_EQ(r.config->pool.max_practice_server_connections, 3);
    EXPECT_EQ(r.config->pool.server_check_delay, milliseconds(0));
    EXPECT_TRUE(r.config->tenant.allow_explain_analyze);
    EXPECT_EQ(r.config->server.workers, 2);
    EXPECT_EQ(r.config->pool.size, 10);
    EXPECT_EQ(r.config->pool.min_idle, 2);
    const std::vector<std::string> want = {"server.workers (2 -> 4)", "pool.size (10 -> 40)",
                                           "pool.min_idle (2 -> 30)"};
    EXPECT_EQ(r.needs_restart, want);
    // The same file again: nothing to name.
    EXPECT_TRUE(reload_config(*current, *current).needs_restart.empty());
}

TEST(ConfigTest, LiveConfigKeepsEveryVersionReadable) {
    LiveConfig live(parse_config("[pool]\nsize = 3\n", ""));
    const Config* first = live.get();
    live = parse_config("[pool]\nsize = 4\n", "");
    EXPECT_EQ(live->pool.size, 4);
    EXPECT_EQ(first->pool.size, 3);  // a reference taken before the reload stays valid
}

}  // namespace
}  // namespace pgtenant::config
