#pragma once
// A pgtenant process under test: writes its config and users file into a temp dir, starts
// PGTENANT_BINARY with fork/exec, captures its stderr to a file, waits until it listens, and
// stops it with SIGTERM in the destructor.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

// Included here on purpose: tests call default_logins() during static initialisation, and
// inline variables are only guaranteed initialised first when defined earlier in the same
// translation unit.
#include "tests/support/demo_fixture.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/temp_dir.h"

namespace pgtenant::testing {

struct LoginSpec {
    std::string name;
    std::string practice;
    std::string password;
    std::string pool_mode;  // "", "transaction" or "session"; "" inherits [pool].mode
    // The SCRAM verifier to store; "" makes one with `pgtenant scram-verifier` (4096
    // iterations). A test that logs in thousands of times may give a cheaper one.
    std::string verifier;
    bool admin = false;  // a console login (admin = true, no practice)
};

// alice (practice A), bob (practice B), carol (practice A, session pool mode).
std::vector<LoginSpec> default_logins();

struct PgtenantOptions {
    int pool_size = 10;
    int min_idle = 0;
    int wait_timeout_ms = 10000;
    std::string pool_mode = "transaction";
    int workers = 1;
    std::string log_level = "info";
    // "sealed" (the default, as for new installs) installs config/sealed_install.sql and
    // sealed_demo.sql in the cluster and gives pgtenant a fresh key; "compat" leaves the
    // demo's plain-setting policies.
    std::string tenant_mode = "sealed";
    // Sealed mode with this key file (another pgtenant's, already installed) instead of a new
    // key: two processes serving the same database at once, as in a binary upgrade.
    std::filesystem::path key_file;
    std::vector<LoginSpec> logins = default_logins();
    // Appended to the users file after the logins (e.g. [[practice]] entries).
    std::string users_extra;
    // Extra "key = value" lines per section ("server", "backend", "pool", "tenant", "audit").
    std::map<std::string, std::vector<std::string>> extra_toml;
    // Added to (or replacing in) the environment pgtenant inherits.
    std::map<std::string, std::string> env;
    // server.listen_port: 0 picks a free port (a test of SO_REUSEPORT gives another's).
    uint16_t listen_port = 0;
    // backend.port: 0 is the cluster's own port (a test may put a relay in between).
    uint16_t backend_port = 0;
    // RLIMIT_NOFILE (soft and hard) pgtenant starts with; 0 inherits the test's.
    int nofile_limit = 0;
    // backend.host and backend.user; the password is the cluster's pool password unless
    // backend_password is set ("" for a role that logs in by certificate).
    std::string backend_host = "127.0.0.1";
    std::string backend_user = "pgtenant_pool";
    std::optional<std::string> backend_password;
    // server.shutdown_timeout_s: how long SIGTERM (stop()) lets open transactions finish. Short,
    // so that a test that leaves a transaction open does not hold its teardown.
    int shutdown_timeout_s = 3;
    // Extra command-line arguments (e.g. --allow-unsafe-database).
    std::vector<std::string> args;
};

// VmRSS of a process in KiB (-1 if unreadable).
long rss_kib(pid_t pid);

class Pgtenant {
  public:
    Pgtenant(const PgCluster& cluster, PgtenantOptions options = {});
    ~Pgtenant();
    Pgtenant(const Pgtenant&) = delete;
    Pgtenant& operator=(const Pgtenant&) = delete;

    uint16_t port() const { return port_; }
    const LoginSpec& login(const std::string& name) const;
    // libpq conninfo for a login (its own password unless one is given).
    std::string conninfo(const std::string& user) const;
    std::string conninfo(const std::string& user, const std::string& password,
                         const std::string& extra = "") const;
    PgConn connect_as(const std::string& user) const { return testing::connect(conninfo(user)); }

    // False once the process has exited (a crash shows up here).
    bool running();
    pid_t pid() const { return pid_; }
    // Sends a signal to the running process.
    void signal(int sig);
    // SIGTERM, then waits up to 10 s for the exit (SIGKILL after that); the destructor does it.
    void stop();
    int exit_status() const { return exit_status_; }
    std::string log() const;
    std::string tail_log(std::size_t max_lines) const;
    const std::filesystem::path& dir() const { return dir_.path(); }

    // Runs `pgtenant scram-verifier` for a password.
    static std::string scram_verifier(const std::string& password);
    // Installs sealed mode in the cluster (idempotent) and writes a key file into `dir`.
    static void install_sealed(const PgCluster& cluster, const std::filesystem::path& key_file);

  private:
    void write_config(const PgCluster& cluster);
    bool try_start();

    PgtenantOptions options_;
    TempDir dir_;
    uint16_t port_ = 0;
    pid_t pid_ = -1;
    int exit_status_ = -1;
};

}  // namespace pgtenant::testing
