#pragma once
// The audit log (off by default): one JSON object per line for each login, failed login,
// disconnect, refusal by pgtenant's rules, admin command, startup, reload and shutdown. Who,
// when, from where and why; never statement text or parameter values.
//
// Lines go to a file, appended to and reopened on SIGHUP (so logrotate can move it away), or to
// stderr. A line is written whole with one write(2) under a mutex: lines of different threads
// never interleave, and nothing on the per-transaction path writes here.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pgtenant::proxy::admin {

struct AuditEvent {
    std::string_view event;  // login, login_failed, disconnect, refusal, admin, startup, ...
    std::string_view practice;
    std::string_view login;
    std::string_view client;  // "address:port"
    std::string_view reason;
    std::string_view sqlstate;
    std::string_view detail;  // an admin command, a reload's outcome, ...
    std::optional<double> duration_s;
    std::optional<uint64_t> transactions;
    uint64_t session = 0;  // pgtenant's client number, as in the log ("c42"); 0: none
};

// One line of JSON, newline included; `now` is the event's time.
std::string audit_line(const AuditEvent& e, std::chrono::system_clock::time_point now);

class AuditLog {
  public:
    // `target`: "stderr", or a file path (created with mode 0600 if missing). Throws
    // std::runtime_error when the file cannot be opened.
    explicit AuditLog(std::string target);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    void write(const AuditEvent& e);
    // Opens the file anew (after logrotate moved it); on failure keeps the old descriptor and
    // returns the error.
    std::optional<std::string> reopen();
    const std::string& target() const { return target_; }

  private:
    std::string target_;
    std::mutex mu_;
    int fd_ = -1;
};

}  // namespace pgtenant::proxy::admin
