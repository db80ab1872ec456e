#pragma once
// Backoff for opening server connections while PostgreSQL cannot be reached. Without it every
// client request is one more connect attempt and one more log line (thousands a second). With
// it: after a failure, further attempts wait for a delay that doubles up to a ceiling; during the
// delay clients are told 57P03 at once with the last failure's text; one attempt at a time probes
// whether the server is back; and the failure is logged once per interval with a count.
// Plain code, no clock of its own and no lock (the pool holds its mutex around every call).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace pgtenant::proxy {

class ConnectGate {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr auto kFirstDelay = std::chrono::milliseconds(100);
    static constexpr auto kMaxDelay = std::chrono::seconds(5);
    static constexpr auto kLogInterval = std::chrono::seconds(10);

    // Whether a connect attempt may start now. False while backing off, and while another
    // attempt probes a server that was down. A true answer must be followed by succeeded() or
    // failed().
    bool may_try(Clock::time_point now);
    void succeeded();
    // Records a failed attempt. Returns the line to log, or nothing when one was logged within
    // kLogInterval (the next line says how many failures it stands for).
    std::optional<std::string> failed(Clock::time_point now, const std::string& why);

    bool down() const { return failures_ > 0; }
    // What the last attempt said, for the clients turned away while backing off.
    const std::string& last_error() const { return last_error_; }

  private:
    uint64_t failures_ = 0;    // in a row
    uint64_t unlogged_ = 0;    // failures since the last log line
    bool probing_ = false;     // an attempt is under way while down
    Clock::duration delay_{};  // before the next attempt
    Clock::time_point next_try_{};
    std::optional<Clock::time_point> last_log_;
    std::string last_error_;
};

}  // namespace pgtenant::proxy
