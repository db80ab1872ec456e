#include "proxy/admin/audit.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "proxy/check/json.h"

namespace pgtenant::proxy::admin {

namespace {

int open_target(const std::string& target) {
    if (target == "stderr") return ::dup(STDERR_FILENO);
    return ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

void field(std::string& out, std::string_view name, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, value);
}

}  // namespace

std::string audit_line(const AuditEvent& e, std::chrono::system_clock::time_point now) {
    const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
    std::string out =
        fmt::format("{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}.{:03}Z\",\"event\":", seconds, ms);
    append_json_string(out, e.event);
    if (e.session) out += fmt::format(",\"session\":{}", e.session);
    field(out, "practice", e.practice);
    field(out, "login", e.login);
    field(out, "client", e.client);
    field(out, "reason", e.reason);
    field(out, "sqlstate", e.sqlstate);
    field(out, "detail", e.detail);
    if (e.duration_s) out += fmt::format(",\"duration_s\":{:.3f}", *e.duration_s);
    if (e.transactions) out += fmt::format(",\"transactions\":{}", *e.transactions);
    out += "}\n";
    return out;
}

AuditLog::AuditLog(std::string target) : target_(std::move(target)) {
    fd_ = open_target(target_);
    if (fd_ < 0)
        throw std::runtime_error("audit.file: cannot open " + target_ + ": " +
                                 std::strerror(errno));
}

AuditLog::~AuditLog() {
    if (fd_ >= 0) ::close(fd_);
}

void AuditLog::write(const AuditEvent& e) {
    const std::string line = audit_line(e, std::chrono::system_clock::now());
    std::lock_guard lock(mu_);
    std::string_view rest = line;
    while (!rest.empty()) {
        const ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // a full disk must not stop the service
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::optional<std::string> AuditLog::reopen() {
    const int fd = open_target(target_);
    if (fd < 0) return std::string(std::strerror(errno));
    std::lock_guard lock(mu_);
    ::close(fd_);
    fd_ = fd;
    return std::nullopt;
}

}  // namespace pgtenant::proxy::admin
