#include "tests/support/pg_cluster.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <system_error>

#include "tests/support/net.h"

namespace pgtenant::testing {
namespace {

std::string random_hex(std::size_t bytes) {
    std::random_device rd;
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes; ++i) {
        unsigned v = rd() & 0xffu;
        out.push_back(digits[v >> 4]);
        out.push_back(digits[v & 0xf]);
    }
    return out;
}

void chown_to_postgres(const std::filesystem::path& path) {
    if (::geteuid() != 0) {
        return;
    }
    passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr || ::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        throw std::runtime_error("cannot chown " + path.string() + " to user postgres");
    }
}

void stop_server(const std::filesystem::path& data_dir) {
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(30);
    run_command(as_postgres({pg_bindir() + "/pg_ctl", "-D", data_dir.string(), "-m", "immediate",
                             "-w", "stop"}),
                opts);
}

}  // namespace

std::string pg_bindir() {
    const char* env = std::getenv("PG_BINDIR");
    return env && *env ? env : "/usr/lib/postgresql/15/bin";
}

PgCluster::PgCluster(PgClusterOptions options)
    : dir_("pgtenant-pg"), pool_password_("pool-" + random_hex(12)) {
    chown_to_postgres(dir_.path());
    init_data_dir(options);
    bool started = false;
    for (int attempt = 0; attempt < 5 && !started; ++attempt) {
        started = try_start();  // a free port can be taken by someone else before we bind
    }
    if (!started) {
        throw std::runtime_error("PostgreSQL did not start:\n" + server_log());
    }
    start_watchdog();
    if (options.load_demo) {
        std::filesystem::path config = std::filesystem::path(PGTENANT_SOURCE_DIR) / "config";
        psql_file(config / "demo_schema.sql", {{"pool_password", pool_password_}});
        psql_file(config / "demo_data.sql");
    }
}

PgCluster::~PgCluster() {
    if (watchdog_pid_ > 0) {
        // Closing the pipe is the watchdog's signal to stop the server and remove the dir.
        ::close(watchdog_fd_);
        int status = 0;
        while (::waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
        }
    } else {
        stop_server(dir_.path() / "data");
    }
}

void PgCluster::init_data_dir(const PgClusterOptions& options) {
    auto data = dir_.path() / "data";
    std::filesystem::create_directory(dir_.path() / "sock");
    chown_to_postgres(dir_.path() / "sock");
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(120);
    run_checked(as_postgres({pg_bindir() + "/initdb", "-D", data.string(), "-U", "postgres",
                             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                             "--locale=C", "--no-sync"}),
                opts);
    // Superuser only over the socket; everyone over TCP must pass SCRAM.
    std::string hba =
        "local all all trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n";
    if (!options.hba_lines.empty()) {
        hba.clear();
        for (const auto& line : options.hba_lines) hba += line + "\n";
    }
    write_file(data / "pg_hba.conf", hba);
    for (const auto& [name, contents] : options.data_files) {
        write_file(data / name, contents);
        chown_to_postgres(data / name);
        std::filesystem::permissions(
            data / name, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    std::string conf =
        "\n# pgtenant test harness\n"
        "listen_addresses = '127.0.0.1'\n"
        "unix_socket_directories = '" +
        socket_dir() +
        "'\n"
        "max_connections = " +
        std::to_string(options.max_connections) +
        "\n"
        "password_encryption = 'scram-sha-256'\n"
        // Durability is irrelevant for a throwaway cluster; speed is not.
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        "log_line_prefix = '%m [%p] %u@%d '\n";
    // The C verifier of sealed mode, loadable from the cluster's own copy: sealed_install.sql
    // then installs it (tests that want the PL/pgSQL one ask for it).
    auto lib = dir_.path() / "lib";
    std::filesystem::create_directory(lib);
    std::filesystem::copy_file(PGTENANT_VERIFIER_LIBRARY, lib / "pgtenant_verifier.so");
    conf += "dynamic_library_path = '$libdir:" + lib.string() + "'\n";
    for (const auto& line : options.extra_settings) {
        conf += line + "\n";
    }
    write_file(data / "postgresql.conf", read_file(data / "postgresql.conf") + conf);
}

bool PgCluster::try_start() {
    port_ = free_port();
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(60);
    auto result =
        run_command(as_postgres({pg_bindir() + "/pg_ctl", "-D", (dir_.path() / "data").string(),
                                 "-l", (dir_.path() / "postgres.log").string(), "-w", "-t", "50",
                                 "-o", "-p " + std::to_string(port_), "start"}),
                    opts);
    if (result.ok()) {
        return true;
    }
    stop_server(dir_.path() / "data");
    return false;
}

void PgCluster::start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid == 0) {
        // Outlives a crashed test binary: own session, deaf to Ctrl-C of the test's group.
        ::setsid();
        ::signal(SIGINT, SIG_IGN);
        ::signal(SIGTERM, SIG_IGN);
        ::close(fds[1]);
        char byte;
        for (;;) {
            ssize_t n = ::read(fds[0], &byte, 1);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;  // EOF: the test binary is gone or done with us
        }
        stop_server(dir_.path() / "data");
        if (std::getenv("PGTENANT_KEEP_TEMP") == nullptr) {
            std::error_code ec;
            std::filesystem::remove_all(dir_.path(), ec);
        }
        ::_exit(0);
    }
    ::close(fds[0]);
    watchdog_fd_ = fds[1];
    watchdog_pid_ = pid;
}

std::string PgCluster::superuser_conninfo() const {
    return "host=" + socket_dir() + " port=" + std::to_string(port_) +
           " user=postgres dbname=postgres application_name=pgtenant-test-superuser";
}

std::vector<std::string> PgCluster::superuser_args() const {
    return {"-h", socket_dir(), "-p", std::to_string(port_), "-U", "postgres"};
}

CommandResult PgCluster::psql_file(const std::filesystem::path& file,
                                   const std::map<std::string, std::string>& vars) const {
    std::vector<std::string> argv{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"};
    auto su = superuser_args();
    argv.insert(argv.end(), su.begin(), su.end());
    argv.insert(argv.end(), {"-d", "postgres"});
    for (const auto& [name, value] : vars) {
        argv.insert(argv.end(), {"-v", name + "=" + value});
    }
    argv.insert(argv.end(), {"-f", file.string()});
    return run_checked(argv);
}

CommandResult PgCluster::psql_command(const std::string& sql) const {
    std::vector<std::string> argv{"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"};
    auto su = superuser_args();
    argv.insert(argv.end(), su.begin(), su.end());
    argv.insert(argv.end(), {"-d", "postgres", "-c", sql});
    return run_checked(argv);
}

void PgCluster::stop(const std::string& mode) {
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(60);
    run_checked(
        as_postgres({pg_bindir() + "/pg_ctl", "-D", data_dir().string(), "-m", mode, "-w", "stop"}),
        opts);
}

void PgCluster::start() {
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(60);
    run_checked(as_postgres({pg_bindir() + "/pg_ctl", "-D", data_dir().string(), "-l",
                             (dir_.path() / "postgres.log").string(), "-w", "-t", "50", "-o",
                             "-p " + std::to_string(port_), "start"}),
                opts);
}

void PgCluster::restart(const std::string& mode) {
    CommandOptions opts;
    opts.timeout = std::chrono::seconds(60);
    run_checked(as_postgres({pg_bindir() + "/pg_ctl", "-D", data_dir().string(), "-l",
                             (dir_.path() / "postgres.log").string(), "-m", mode, "-w", "-t", "50",
                             "-o", "-p " + std::to_string(port_), "restart"}),
                opts);
}

std::string PgCluster::server_log() const { return read_file(dir_.path() / "postgres.log"); }

}  // namespace pgtenant::testing
