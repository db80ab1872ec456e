#pragma once
// The one place that logs an error pgtenant itself answers a client with (a refusal by policy,
// a protocol error, a lost server connection, ...): who, the rule, the SQLSTATE and pgtenant's
// message, once per error. Never the client's statement text or parameters: messages name
// settings, statements and commands, never values.
//
// A flood of one rule (PostgreSQL down while clients retry, a client looping on a refused
// statement) must not flood the log: per rule, the first few errors of each second are logged
// one by one, the rest counted, and the count is logged with the rule's next line.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/errors.h"

namespace pgtenant::proxy {

// `who`: the session prefix ("[c42 alice@a0000000]") or "[listener]"; `context`, if any, is
// added in parentheses (e.g. which server connection was lost).
void log_refusal(std::string_view who, const protocol::Error& e, std::string_view context = {});

// Which errors of a rule are logged one by one (thread-safe).
class RefusalThrottle {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr int kPerSecond = 5;

    // nullopt: do not log this one (it is counted). Otherwise log it, after saying that this
    // many errors of the rule went unlogged before it.
    std::optional<uint64_t> admit(std::string_view rule, Clock::time_point now);

  private:
    struct Window {
        Clock::time_point start;
        int logged = 0;
        uint64_t skipped = 0;
    };
    std::mutex mu_;
    std::unordered_map<std::string, Window> windows_;  // by rule: a short, fixed set
};

}  // namespace pgtenant::proxy
