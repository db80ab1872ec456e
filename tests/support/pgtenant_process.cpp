#include "tests/support/pgtenant_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "tests/support/demo_fixture.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

std::string toml_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

}  // namespace

std::vector<LoginSpec> default_logins() {
    return {
        {demo::kAlice, demo::kPracticeA, "alice-Secret-1", ""},
        {demo::kBob, demo::kPracticeB, "bob-Secret-2", ""},
        {demo::kCarol, demo::kPracticeA, "carol-Secret-3", "session"},
    };
}

std::string Pgtenant::scram_verifier(const std::string& password) {
    CommandOptions opts;
    opts.stdin_data = password + "\n";
    opts.timeout = 20s;
    auto result = run_checked({PGTENANT_BINARY, "scram-verifier"}, opts);
    std::string line = result.out.substr(0, result.out.find('\n'));
    if (line.rfind("SCRAM-SHA-256$", 0) != 0) {
        throw std::runtime_error("pgtenant scram-verifier printed no verifier:\n" +
                                 result.describe());
    }
    return line;
}

void Pgtenant::install_sealed(const PgCluster& cluster, const std::filesystem::path& key_file) {
    const std::filesystem::path config = std::filesystem::path(PGTENANT_SOURCE_DIR) / "config";
    cluster.psql_file(config / "sealed_install.sql", {{"pool_role", "pgtenant_pool"}});
    cluster.psql_file(config / "sealed_demo.sql");
    // What sealed mode refuses to start without (signal, large-object and statistics access);
    // the recommended rest (plpgsql, TEMP) stays, so the adversarial suite can still use it.
    cluster.psql_file(config / "hardening.sql",
                      {{"pool_role", "pgtenant_pool"}, {"required_only", "1"}});
    CommandOptions opts;
    opts.timeout = 20s;
    auto key = run_checked({PGTENANT_BINARY, "keygen", "--kid", "test"}, opts);
    std::string line = key.out.substr(0, key.out.find('\n'));
    write_file(key_file, line + "\n");
    std::filesystem::permissions(
        key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto hex = line.substr(line.find(' ') + 1);
    cluster.psql_command(
        "DELETE FROM pgtenant.context_keys WHERE kid = 'test'; "
        "SELECT pgtenant.add_key('test', '" +
        hex + "')");
}

Pgtenant::Pgtenant(const PgCluster& cluster, PgtenantOptions options)
    : options_(std::move(options)), dir_("pgtenant-proxy", cluster.root()) {
    if (options_.tenant_mode == "sealed") {
        if (options_.key_file.empty()) {
            install_sealed(cluster, dir_.path() / "pgtenant.key");
        } else {
            std::filesystem::copy_file(options_.key_file, dir_.path() / "pgtenant.key");
        }
        options_.extra_toml["tenant"].push_back("mode = \"sealed\"");
        options_.extra_toml["tenant"].push_back("key_file = \"pgtenant.key\"");
    }
    std::ostringstream users;
    for (const auto& login : options_.logins) {
        users << "[[login]]\n"
              << "name = " << toml_string(login.name) << "\n"
              << (login.admin ? std::string("admin = true")
                              : "practice = " + toml_string(login.practice))
              << "\n"
              << "scram = "
              << toml_string(login.verifier.empty() ? scram_verifier(login.password)
                                                    : login.verifier)
              << "\n";
        if (!login.pool_mode.empty()) {
            users << "pool_mode = " << toml_string(login.pool_mode) << "\n";
        }
        users << "\n";
    }
    users << options_.users_extra;
    write_file(dir_.path() / "users.toml", users.str());
    for (int attempt = 0; attempt < 3; ++attempt) {
        port_ = options_.listen_port ? options_.listen_port : free_port();
        write_config(cluster);
        if (try_start()) {
            return;
        }
    }
    throw std::runtime_error("pgtenant did not start listening; its log:\n" + log());
}

Pgtenant::~Pgtenant() {
    stop();
    // Under ASan/UBSan/TSan (PGTENANT_SANITIZE, PGTENANT_TSAN) a finding is a report in
    // pgtenant's stderr, which is its log: every finding fails the test that ran it.
    const std::string text = log();
    for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                               "runtime error:", "WARNING: ThreadSanitizer"}) {
        const auto at = text.find(marker);
        if (at != std::string::npos) {
            ADD_FAILURE() << "pgtenant's sanitizer reported a finding:\n"
                          << text.substr(at > 2000 ? at - 2000 : 0, 12000);
            break;
        }
    }
}

void Pgtenant::write_config(const PgCluster& cluster) {
    auto extra = [this](const std::string& section) {
        std::string out;
        auto it = options_.extra_toml.find(section);
        if (it != options_.extra_toml.end()) {
            for (const auto& line : it->second) {
                out += line + "\n";
            }
        }
        return out;
    };
    std::ostringstream c;
    c << "[server]\n"
      << "listen_addr = \"127.0.0.1\"\n"
      << "listen_port = " << port_ << "\n"
      << "workers = " << options_.workers << "\n"
      << "log_level = " << toml_string(options_.log_level) << "\n"
      << "shutdown_timeout_s = " << options_.shutdown_timeout_s << "\n"
      << extra("server") << "\n[backend]\n"
      << "host = " << toml_string(options_.backend_host) << "\n"
      << "port = " << (options_.backend_port ? options_.backend_port : cluster.port()) << "\n"
      << "database = \"postgres\"\n"
      << "user = " << toml_string(options_.backend_user) << "\n"
      << "password = " << toml_string(options_.backend_password.value_or(cluster.pool_password()))
      << "\n"
      << extra("backend") << "\n[pool]\n"
      << "size = " << options_.pool_size << "\n"
      << "min_idle = " << options_.min_idle << "\n"
      << "wait_timeout_ms = " << options_.wait_timeout_ms << "\n"
      << "mode = " << toml_string(options_.pool_mode) << "\n"
      << extra("pool") << "\n[tenant]\n"
      << "users_file = \"users.toml\"\n"
      << "setting = \"app.current_practice_id\"\n"
      << extra("tenant");
    if (options_.extra_toml.count("audit")) c << "\n[audit]\n" << extra("audit");
    write_file(dir_.path() / "pgtenant.toml", c.str());
}

bool Pgtenant::try_start() {
    // PGTENANT_TEST_BINARY: another build under test (a long by-hand run from a copy, while
    // the tree is rebuilt).
    const char* other = std::getenv("PGTENANT_TEST_BINARY");
    std::string binary = other ? other : PGTENANT_BINARY;
    std::string config = (dir_.path() / "pgtenant.toml").string();
    std::string log_path = (dir_.path() / "pgtenant.log").string();
    std::vector<char*> argv{binary.data(), const_cast<char*>("--config"), config.data()};
    for (auto& arg : options_.args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = merged_environment(options_.env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        throw std::system_error(errno, std::generic_category(), "open " + log_path);
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(log_fd);
        throw std::system_error(errno, std::generic_category(), "fork");
    }
    if (pid == 0) {
        // Dies with the test binary even when that crashes, so no proxy outlives its test.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) {
            ::_exit(1);
        }
        int null_fd = ::open("/dev/null", O_RDONLY);
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        if (options_.nofile_limit > 0) {
            const rlimit lim{static_cast<rlim_t>(options_.nofile_limit),
                             static_cast<rlim_t>(options_.nofile_limit)};
            ::setrlimit(RLIMIT_NOFILE, &lim);
        }
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(log_fd);
    pid_ = pid;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running()) {
            return false;  // bad config, or the port was taken: the caller retries
        }
        if (wait_for_port(port_, 100ms)) {
            // The port opens a moment before pgtenant logs that it listens; a test that reads
            // the log at once (the I/O backend in use) must find the line
            // (backend_tls_test_io_uring once read an empty log under a loaded clean-clone run).
            const bool logs_info = options_.log_level == "info" || options_.log_level == "debug" ||
                                   options_.log_level == "trace";
            for (auto until = std::chrono::steady_clock::now() + 2s;
                 logs_info && log().find("pgtenant listening on") == std::string::npos &&
                 std::chrono::steady_clock::now() < until;) {
                std::this_thread::sleep_for(10ms);
            }
            return true;
        }
    }
    stop();
    return false;
}

bool Pgtenant::running() {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exit_status_ = status;
        pid_ = -1;
        return false;
    }
    return true;
}

void Pgtenant::signal(int sig) {
    if (running()) ::kill(pid_, sig);
}

void Pgtenant::stop() {
    if (!running()) {
        return;
    }
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    if (running()) {
        // A proxy that ignores SIGTERM is a bug worth seeing in the log, not a hung suite.
        write_file(dir_.path() / "pgtenant.log",
                   log() + "\n[harness] SIGTERM ignored for 10 s; SIGKILL\n");
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exit_status_ = status;
        pid_ = -1;
    }
}

const LoginSpec& Pgtenant::login(const std::string& name) const {
    for (const auto& l : options_.logins) {
        if (l.name == name) {
            return l;
        }
    }
    throw std::invalid_argument("no such test login: " + name);
}

std::string Pgtenant::conninfo(const std::string& user) const {
    return conninfo(user, login(user).password);
}

std::string Pgtenant::conninfo(const std::string& user, const std::string& password,
                               const std::string& extra) const {
    // No TLS and no GSS: the proxy is tested on plain TCP unless a test asks otherwise.
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user='" + user +
           "' password='" + password +
           "' sslmode=disable gssencmode=disable connect_timeout=10 "
           "application_name=pgtenant-test " +
           extra;
}

std::string Pgtenant::log() const { return read_file(dir_.path() / "pgtenant.log"); }

std::string Pgtenant::tail_log(std::size_t max_lines) const {
    std::string text = log();
    std::size_t pos = text.size();
    std::size_t lines = 0;
    while (pos > 0 && lines <= max_lines) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            return text;
        }
        ++lines;
    }
    return text.substr(pos);
}

long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

}  // namespace pgtenant::testing
