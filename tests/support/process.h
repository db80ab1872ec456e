#pragma once
// Running helper programs (initdb, psql, pgbench, pgtenant) with fork/exec: no shell, so
// arguments never need quoting, and every run is bounded by a timeout.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgtenant::testing {

struct CommandResult {
    int exit_code = -1;  // -1 when killed by a signal or the timeout
    bool timed_out = false;
    std::string out;
    std::string err;

    bool ok() const { return exit_code == 0; }
    std::string describe() const;  // exit status plus both streams, for failure messages
};

struct CommandOptions {
    std::string stdin_data;
    std::map<std::string, std::string> env;  // added to (or replacing in) the inherited env
    std::chrono::milliseconds timeout{60000};
    std::optional<std::string> cwd;
};

// argv[0] is looked up in PATH. Never throws for a failing program, only for fork failures.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

// Prefixes argv with `runuser -u postgres --` when running as root (PostgreSQL refuses root).
std::vector<std::string> as_postgres(std::vector<std::string> argv);

// Throws std::runtime_error with describe() when the command does not exit 0.
CommandResult run_checked(const std::vector<std::string>& argv, const CommandOptions& options = {});

// Builds a child's environment array: the current one with overrides applied.
std::vector<std::string> merged_environment(const std::map<std::string, std::string>& overrides);

}  // namespace pgtenant::testing
