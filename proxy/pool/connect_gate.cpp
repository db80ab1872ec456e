#include "proxy/pool/connect_gate.h"

#include <fmt/format.h>

#include <algorithm>

namespace pgtenant::proxy {

bool ConnectGate::may_try(Clock::time_point now) {
    if (failures_ == 0) return true;  // healthy: every attempt goes ahead
    if (probing_ || now < next_try_) return false;
    probing_ = true;
    return true;
}

void ConnectGate::succeeded() {
    failures_ = 0;
    unlogged_ = 0;
    probing_ = false;
    delay_ = {};
    last_log_.reset();
}

std::optional<std::string> ConnectGate::failed(Clock::time_point now, const std::string& why) {
    // The first failure, or a probe's, sets the delay; attempts that were already under way
    // when the server went down only add to the count.
    const bool escalate = failures_ == 0 || probing_;
    ++failures_;
    ++unlogged_;
    probing_ = false;
    last_error_ = why;
    if (escalate) {
        delay_ = failures_ == 1 ? Clock::duration(kFirstDelay)
                                : std::min<Clock::duration>(delay_ * 2, kMaxDelay);
        next_try_ = now + delay_;
    }
    if (last_log_ && now - *last_log_ < kLogInterval) return std::nullopt;
    last_log_ = now;
    const auto retry_ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay_).count();
    std::string line =
        unlogged_ == 1
            ? fmt::format("{}; next attempt in {} ms", why, retry_ms)
            : fmt::format("{} ({} failed attempts since the last report); next attempt in {} ms",
                          why, unlogged_, retry_ms);
    unlogged_ = 0;
    return line;
}

}  // namespace pgtenant::proxy
