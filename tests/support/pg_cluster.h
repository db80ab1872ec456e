#pragma once
// A throwaway PostgreSQL 15 cluster: initdb into a temp dir, started as user postgres on
// 127.0.0.1 and a free port, with the demo schema and data loaded, and able to load the C
// verifier of sealed mode (pgtenant_verifier.so). Stopped and removed in
// the destructor, and by a watchdog process if the test binary dies without unwinding.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/pq.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace pgtenant::testing {

struct PgClusterOptions {
    bool load_demo = true;  // config/demo_schema.sql + demo_data.sql
    int max_connections = 300;
    std::vector<std::string> extra_settings;  // postgresql.conf lines
    // pg_hba.conf lines replacing the harness's own (superuser over the socket with trust,
    // everyone over TCP with SCRAM) when not empty; keep a "local all all trust" line.
    std::vector<std::string> hba_lines;
    // Files written into the data directory before the start, owned by postgres and mode 0600
    // (name -> contents): server certificates and keys for ssl = on.
    std::map<std::string, std::string> data_files;
};

class PgCluster {
  public:
    explicit PgCluster(PgClusterOptions options = {});
    ~PgCluster();
    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;

    uint16_t port() const { return port_; }
    const std::string& pool_password() const { return pool_password_; }
    std::string socket_dir() const { return (dir_.path() / "sock").string(); }
    // The superuser over the unix socket (trust): bypasses RLS, for setup and checks.
    std::string superuser_conninfo() const;
    PgConn superuser() const { return connect(superuser_conninfo()); }

    // psql as the superuser; vars become -v name=value. Throws when psql fails.
    CommandResult psql_file(const std::filesystem::path& file,
                            const std::map<std::string, std::string>& vars = {}) const;
    CommandResult psql_command(const std::string& sql) const;
    // Any client program (pgbench -i, ...) with -h/-p/-U for the superuser appended.
    std::vector<std::string> superuser_args() const;

    std::string server_log() const;
    std::filesystem::path data_dir() const { return dir_.path() / "data"; }
    // pg_ctl stop (-m fast, smart or immediate), start again on the same port, or restart;
    // each waits until done and throws when pg_ctl fails.
    void stop(const std::string& mode = "fast");
    void start();
    void restart(const std::string& mode = "fast");
    // The cluster's temp dir; whatever is created inside goes away with the cluster, even
    // when the test binary crashes (the watchdog removes it).
    const std::filesystem::path& root() const { return dir_.path(); }

  private:
    void init_data_dir(const PgClusterOptions& options);
    bool try_start();
    void start_watchdog();

    TempDir dir_;
    uint16_t port_ = 0;
    std::string pool_password_;
    int watchdog_fd_ = -1;
    pid_t watchdog_pid_ = -1;
};

// Where the PostgreSQL server binaries live (PG_BINDIR overrides; default version 15).
std::string pg_bindir();

// PostgreSQL down for a test's scope: stopped (-m fast) now, started again by start() or,
// however the test ends, at the end of the scope.
class ClusterDown {
  public:
    explicit ClusterDown(PgCluster& cluster) : cluster_(cluster) { cluster_.stop("fast"); }
    ~ClusterDown() {
        if (down_) cluster_.start();
    }
    ClusterDown(const ClusterDown&) = delete;
    ClusterDown& operator=(const ClusterDown&) = delete;
    void start() {
        cluster_.start();
        down_ = false;
    }

  private:
    PgCluster& cluster_;
    bool down_ = true;
};

}  // namespace pgtenant::testing
