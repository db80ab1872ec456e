// pgtenant command line: run the proxy, or one of its helper commands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "auth/context_token.h"
#include "auth/directory.h"
#include "auth/scram.h"
#include "config/config.h"
#include "pgtenant_version.h"
#include "proxy/backend_tls.h"
#include "proxy/check/check.h"
#include "proxy/check/probe.h"
#include "proxy/io_backend.h"
#include "proxy/server.h"

namespace {

constexpr const char* kUsage =
    R"(pgtenant - a PostgreSQL proxy that binds every transaction to a practice

Usage:
  pgtenant [--config FILE]          run the proxy (default FILE: pgtenant.toml)
  pgtenant scram-verifier           read a password from stdin, print its SCRAM-SHA-256
                                    verifier for the users file
  pgtenant keygen [--kid KID]       print a new sealed-mode key line (for the key file) on
                                    stdout and the SQL that installs it on stderr
  pgtenant rotate-key --key-file F [--kid KID]
                                    put a new signing key first in F (older keys stay, still
                                    valid in the database) and print the SQL that installs it;
                                    run that SQL, then send pgtenant SIGHUP
  pgtenant --check-config [--config FILE]
                                    load and validate the configuration and the users
                                    file, then exit
  pgtenant check [--config FILE] [--json]
                                    connect as the pool role and report every database
                                    setting that weakens isolation, with the SQL that fixes
                                    it; exit 2 on a critical finding, 1 if it cannot run.
                                    pgtenant runs the same checks at start (refusing to
                                    serve on any critical finding) and every
                                    tenant.recheck_interval_s while serving (refusing new
                                    transactions, 55000, until the finding is fixed)
  pgtenant probe [--config FILE] [--login-a NAME] [--login-b NAME] [--host HOST]
                 [--port PORT] [--dbname DB] [--write-checks] [--json]
                                    live self-test through a running pgtenant: logs in as
                                    two practices and checks that each sees only its own
                                    rows in every tenant table and that forging the tenant
                                    setting or pgtenant.context changes nothing; with
                                    --write-checks also that writes into the other
                                    practice's rows fail (always rolled back). Host and port
                                    default to [server]. Exit 0: no leak, 2: a leak, 1: it
                                    could not run
  pgtenant --allow-unsafe-database  (development only) serve even when the checks find a
                                    critical finding (the pool role can bypass RLS, a
                                    tenant table lacks forced RLS, ...); they are logged
  pgtenant --help | --version

Signals: SIGHUP re-reads the config file, the users file and the sealed-mode key file and
reopens the audit log; SIGTERM drains (open transactions finish within server.shutdown_timeout_s, idle clients
get 57P01) and exits; SIGINT closes at once.
Binary upgrade: with server.so_reuseport and server.handover_socket set, start the new
binary with the same config; the old process hands every client over as it comes between
transactions (settings and prepared statements kept, nothing told) and exits.
Operating: admin logins (admin = true in the users file) reach the console with
  psql "host=... port=6432 user=ops dbname=pgtenant"   (SHOW HELP lists its commands);
  server.metrics_port serves Prometheus /metrics and /healthz; audit.file writes the audit
  log. See "Operating pgtenant" in the README.
Environment: PGTENANT_IO=io_uring serves through io_uring instead of epoll (experimental:
see the README); pgtenant stays on epoll (pgtenant-epoll) where io_uring is unavailable.
pgtenant probe reads its logins from PGTENANT_PROBE_LOGIN_A and PGTENANT_PROBE_LOGIN_B (or
--login-a / --login-b) and their passwords from PGTENANT_PROBE_PASSWORD_A and
PGTENANT_PROBE_PASSWORD_B (never from the command line); libpq's PGSSLMODE etc. apply.

Clients connect to pgtenant exactly as to PostgreSQL. Each login (a [[login]] in the users
file) belongs to one practice; pgtenant binds every transaction it runs for that login with
  set_config('<tenant.setting>', '<practice uuid>', true)
before the client's first statement, so Row-Level Security policies that read that setting
isolate practices even for applications that never set it themselves.

Transaction pooling: each client's settings (SET, RESET, set_config) and prepared statements
(protocol-level, and SQL-level PREPARE/EXECUTE each sent as a query of its own) follow it from
one server connection to the next. What lives only in one server session does not: temp
tables, LISTEN, session advisory locks, WITH HOLD cursors - use pool_mode = "session" for
such logins. The README lists every limit and why.

Isolation modes (tenant.mode): compat binds the plain setting, which stops application bugs
but not a client that calls set_config() itself; sealed also binds a signed token in
pgtenant.context that policies verify through pgtenant.practice_id() (config/sealed_install.sql).

Configuration reference: config/pgtenant.toml (every key documented). Logs go to stderr.
)";

int print_verifier() {
    std::string password;
    if (isatty(STDIN_FILENO)) std::cerr << "password: ";
    if (!std::getline(std::cin, password) || password.empty()) {
        std::cerr << "pgtenant scram-verifier: no password on stdin\n";
        return 2;
    }
    std::cout << pgtenant::auth::make_scram_verifier(password) << "\n";
    return 0;
}

std::string default_kid() { return "k" + std::to_string(std::time(nullptr)); }

int keygen(int argc, char** argv, int i, bool rotate) {
    std::string kid = default_kid(), key_file;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--kid" && i + 1 < argc) {
            kid = argv[++i];
        } else if (a == "--key-file" && i + 1 < argc) {
            key_file = argv[++i];
        } else {
            std::cerr << "pgtenant: unknown argument \"" << a << "\" (see --help)\n";
            return 2;
        }
    }
    if (rotate && key_file.empty()) {
        std::cerr << "pgtenant rotate-key: --key-file is required (see --help)\n";
        return 2;
    }
    try {
        std::string line = pgtenant::auth::new_key_line(kid);
        auto ring = pgtenant::auth::KeyRing::parse(line, "new key");
        std::string sql = pgtenant::auth::add_key_sql(ring.active());
        if (key_file.empty()) {
            std::cout << line << "\n";
            std::cerr << "-- add the line above to the key file (chmod 600), then install it:\n"
                      << sql << "\n";
            return 0;
        }
        // Rotation: the new key signs from now on; the old ones stay in the file and the
        // database (still valid) until retired.
        std::string old;
        {
            std::ifstream in(key_file);
            std::stringstream ss;
            ss << in.rdbuf();
            old = ss.str();
        }
        pgtenant::auth::KeyRing::parse(old, key_file);  // refuse to rotate a broken file
        std::string tmp = key_file + ".new";
        {
            std::ofstream out(tmp, std::ios::trunc);
            ::chmod(tmp.c_str(), 0600);
            out << line << "\n" << old;
            if (!out) throw std::runtime_error("cannot write " + tmp);
        }
        if (std::rename(tmp.c_str(), key_file.c_str()) != 0)
            throw std::runtime_error("cannot replace " + key_file);
        std::cout << "-- 1. install the new key in the database:\n"
                  << sql << "\n-- 2. then: kill -HUP <pgtenant pid>   (it signs with key " << kid
                  << " from then on)\n"
                  << "-- 3. after tenant.token_lifetime_s, retire the old key: SELECT "
                     "pgtenant.retire_key('<old kid>');\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "pgtenant: " << e.what() << "\n";
        return 1;
    }
}

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// `pgtenant probe ...`: its own arguments; usage errors exit 1 ("could not run"), as 2 means
// a leak. Needs only the config file (not the users or key file).
int probe_main(int argc, char** argv) {
    using namespace pgtenant;
    std::string config_path = "pgtenant.toml", host, port, dbname;
    bool json = false, write_checks = false;
    proxy::ProbeLogin a{env_or_empty("PGTENANT_PROBE_LOGIN_A"),
                        env_or_empty("PGTENANT_PROBE_PASSWORD_A")};
    proxy::ProbeLogin b{env_or_empty("PGTENANT_PROBE_LOGIN_B"),
                        env_or_empty("PGTENANT_PROBE_PASSWORD_B")};
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "probe") continue;
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if ((arg == "--config" || arg == "-c") && has_value) {
            config_path = argv[++i];
        } else if (arg.starts_with("--config=")) {
            config_path = arg.substr(9);
        } else if (arg == "--host" && has_value) {
            host = argv[++i];
        } else if (arg == "--port" && has_value) {
            port = argv[++i];
        } else if (arg == "--dbname" && has_value) {
            dbname = argv[++i];
        } else if (arg == "--login-a" && has_value) {
            a.name = argv[++i];
        } else if (arg == "--login-b" && has_value) {
            b.name = argv[++i];
        } else if (arg == "--json") {
            json = true;
        } else if (arg == "--write-checks") {
            write_checks = true;
        } else {
            std::cerr << "pgtenant probe: unknown argument \"" << arg << "\" (see --help)\n";
            return 1;
        }
    }
    proxy::ProbeOptions options;
    try {
        options = proxy::probe_options(*config::load_config(config_path));
    } catch (const std::exception& e) {
        std::cerr << "pgtenant probe: " << e.what() << "\n";
        return 1;
    }
    if (!port.empty()) {
        const int p = std::atoi(port.c_str());
        if (p < 1 || p > 65535 || std::to_string(p) != port) {
            std::cerr << "pgtenant probe: --port must be a number from 1 to 65535\n";
            return 1;
        }
        options.port = static_cast<uint16_t>(p);
    }
    if (!host.empty()) options.host = host;
    if (!dbname.empty()) options.dbname = dbname;
    options.a = a;
    options.b = b;
    options.write_checks = write_checks;
    return proxy::probe_command(options, json, std::cout);
}

// The critical findings of `pgtenant check` (a pool role that can bypass RLS, a tenant table
// without forced RLS, a policy that opens every practice's rows, ...) would make every
// isolation promise void. Refuse to serve then.
bool startup_posture_ok(const pgtenant::config::Config& cfg, bool allow_unsafe) {
    using namespace pgtenant::proxy;
    std::vector<Finding> findings;
    try {
        findings = startup_checks(backend_conninfo(cfg), check_options(cfg));
    } catch (const std::exception& e) {
        spdlog::critical("startup check could not run: {}", e.what());
        if (allow_unsafe) return true;
        spdlog::critical(
            "refusing to serve without it (--allow-unsafe-database overrides, for development)");
        return false;
    }
    for (const auto& f : findings) {
        spdlog::critical("startup check: {} on {}: {} Fix: {}", f.id, f.object, f.message,
                         f.fix_sql);
    }
    if (findings.empty()) return true;
    if (allow_unsafe) {
        spdlog::warn("--allow-unsafe-database: serving although practices are NOT isolated");
        return true;
    }
    spdlog::critical("refusing to serve: practices would not be isolated (run pgtenant check)");
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path = "pgtenant.toml";
    bool check_only = false, posture = false, json = false, allow_unsafe = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "probe") return probe_main(argc, argv);
    }
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if (a == "--version" || a == "-V") {
            std::cout << "pgtenant " << PGTENANT_VERSION << "\n";
            return 0;
        }
        if (a == "scram-verifier") return print_verifier();
        if (a == "keygen" || a == "rotate-key") return keygen(argc, argv, i + 1, a == "rotate-key");
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a.starts_with("--config=")) {
            config_path = a.substr(9);
        } else if (a == "--check-config") {
            check_only = true;
        } else if (a == "check") {
            posture = true;
        } else if (a == "--json") {
            json = true;
        } else if (a == "--allow-unsafe-database") {
            allow_unsafe = true;
        } else {
            std::cerr << "pgtenant: unknown argument \"" << a << "\" (see --help)\n";
            return 2;
        }
    }

    spdlog::set_default_logger(spdlog::stderr_color_mt("pgtenant"));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    using namespace pgtenant;
    proxy::App app;
    try {
        app.config = config::load_config(config_path);
        app.config_path = config_path;
        app.set_directory(auth::PracticeDirectory::load(app.config->tenant.users_file));
        app.tls = proxy::make_tls_context(app.config->server);
        proxy::check_backend_tls(app.config->backend);
        if (app.config->tenant.mode == config::TenantMode::sealed) {
            app.set_keys(std::make_shared<const auth::KeyRing>(
                auth::KeyRing::load(app.config->tenant.key_file)));
        }
    } catch (const std::exception& e) {
        std::cerr << "pgtenant: " << e.what() << "\n";
        return 1;
    }
    spdlog::set_level(spdlog::level::from_str(app.config->server.log_level));
    if (check_only) {
        std::cout << "configuration OK: " << app.directory()->size() << " logins\n";
        return 0;
    }
    if (posture) return proxy::check_command(*app.config, json, std::cout);
    if (!proxy::use_best_io_backend(argv)) return 1;
    if (!startup_posture_ok(*app.config, allow_unsafe)) return 1;
    app.allow_unsafe_database = allow_unsafe;
    if (!app.config->audit.file.empty()) {
        try {
            app.audit = std::make_unique<proxy::admin::AuditLog>(app.config->audit.file);
        } catch (const std::exception& e) {
            std::cerr << "pgtenant: " << e.what() << "\n";
            return 1;
        }
    }
    return proxy::run_server(app);
}
