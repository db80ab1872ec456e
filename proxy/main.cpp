// pgtenant command line: run the proxy, or one of its helper commands.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "auth/directory.h"
#include "auth/scram.h"
#include "config/config.h"
#include "proxy/server.h"
#include "pgtenant_version.h"

namespace {

constexpr const char* kUsage = R"(pgtenant - a PostgreSQL proxy that binds every transaction to a practice

Usage:
  pgtenant [--config FILE]          run the proxy (default FILE: pgtenant.toml)
  pgtenant scram-verifier           read a password from stdin, print its SCRAM-SHA-256
                                    verifier for the users file
  pgtenant --check-config [--config FILE]
                                    load and validate the configuration and the users
                                    file, then exit
  pgtenant --help | --version

Clients connect to pgtenant exactly as to PostgreSQL. Each login (a [[login]] in the users
file) belongs to one practice; pgtenant binds every transaction it runs for that login with
  set_config('<tenant.setting>', '<practice uuid>', true)
before the client's first statement, so Row-Level Security policies that read that setting
isolate practices even for applications that never set it themselves.

Transaction pooling limits (as with any transaction pooler): session state does not survive
between transactions unless the login uses pool_mode = "session" - temp tables, LISTEN,
session advisory locks, SQL-level PREPARE, WITH HOLD cursors, SET of unreported settings.

Configuration reference: config/pgtenant.toml (every key documented). Logs go to stderr.
Signals: SIGINT / SIGTERM stop the proxy.
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

}  // namespace

int main(int argc, char** argv) {
    std::string config_path = "pgtenant.toml";
    bool check_only = false;
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
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a.starts_with("--config=")) {
            config_path = a.substr(9);
        } else if (a == "--check-config") {
            check_only = true;
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
        app.directory = auth::PracticeDirectory::load(app.config->tenant.users_file);
        app.tls = proxy::make_tls_context(app.config->server);
    } catch (const std::exception& e) {
        std::cerr << "pgtenant: " << e.what() << "\n";
        return 1;
    }
    spdlog::set_level(spdlog::level::from_str(app.config->server.log_level));
    if (check_only) {
        std::cout << "configuration OK: " << app.directory->size() << " logins\n";
        return 0;
    }
    app.pool = std::make_unique<proxy::Pool>(app.config);
    return proxy::run_server(app);
}
