#include "proxy/refusal_log.h"

#include <spdlog/spdlog.h>

namespace pgtenant::proxy {
namespace {

// Trouble an operator may have to act on (the session ended, the server or pool is in the way)
// is a warning; a client's statement refused by a rule is information.
spdlog::level::level_enum level_of(const protocol::Error& e) {
    const std::string_view cls = std::string_view(e.sqlstate).substr(0, 2);
    const bool trouble = e.severity != "ERROR" || cls == "08" || cls == "53" || cls == "57";
    return trouble ? spdlog::level::warn : spdlog::level::info;
}

}  // namespace

std::optional<uint64_t> RefusalThrottle::admit(std::string_view rule, Clock::time_point now) {
    std::lock_guard lock(mu_);
    auto [it, fresh] = windows_.try_emplace(std::string(rule), Window{now});
    Window& w = it->second;
    uint64_t skipped = 0;
    if (now - w.start >= std::chrono::seconds(1)) {
        skipped = w.skipped;
        w = Window{now};
    }
    if (w.logged >= kPerSecond) {
        ++w.skipped;
        return std::nullopt;
    }
    ++w.logged;
    return skipped;
}

void log_refusal(std::string_view who, const protocol::Error& e, std::string_view context) {
    static RefusalThrottle throttle;
    const std::string_view rule = e.rule.empty() ? std::string_view("unnamed") : e.rule;
    const auto skipped = throttle.admit(rule, RefusalThrottle::Clock::now());
    if (!skipped) return;
    const auto level = level_of(e);
    if (*skipped > 0) {
        spdlog::log(level,
                    "{} more errors with rule={} were not logged one by one (over {} a second)",
                    *skipped, rule, RefusalThrottle::kPerSecond);
    }
    if (context.empty()) {
        spdlog::log(level, "{} refused: rule={} sqlstate={}: {}", who, rule, e.sqlstate, e.message);
    } else {
        spdlog::log(level, "{} refused: rule={} sqlstate={}: {} ({})", who, rule, e.sqlstate,
                    e.message, context);
    }
}

}  // namespace pgtenant::proxy
