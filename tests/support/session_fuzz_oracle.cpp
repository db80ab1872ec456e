#include "tests/support/session_fuzz_oracle.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "tests/support/wire.h"

namespace pgtenant::testing::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

enum class Got { message, closed, timeout };

// Reads one whole message before the deadline.
Got read_one(int fd, Clock::time_point deadline, std::string& out) {
    out.clear();
    std::size_t want = 5;
    while (out.size() < want) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return Got::timeout;
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Got::timeout;
        char buf[8192];
        const ssize_t got = ::recv(fd, buf, std::min(sizeof buf, want - out.size()), 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return Got::closed;
        out.append(buf, static_cast<std::size_t>(got));
        if (want == 5 && out.size() == 5) {
            const uint32_t len = (uint32_t(uint8_t(out[1])) << 24) |
                                 (uint32_t(uint8_t(out[2])) << 16) |
                                 (uint32_t(uint8_t(out[3])) << 8) | uint32_t(uint8_t(out[4]));
            if (len < 4 || len > (64u << 20)) return Got::closed;  // not a backend message
            want = 1 + len;
        }
    }
    return Got::message;
}

std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char ch : s) {
        if (ch >= 0x20 && ch < 0x7f) {
            out.push_back(static_cast<char>(ch));
        } else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[ch >> 4]);
            out.push_back(hex[ch & 0xf]);
        }
    }
    return out;
}

// One reply as the oracle compares it; "" for replies it ignores.
std::string normalise(const std::string& msg, Transcript& t) {
    const char tag = msg[0];
    const std::string body = msg.substr(5);
    switch (tag) {
        case 'S':
        case 'N':
        case 'A':
        case 'K':
            return {};
        case 'E': {
            auto f = wire::error_fields(msg);
            t.errored = true;
            return "E:" + f['V'] + " " + f['C'] + " (" + f['M'] + ")";
        }
        case 'Z':
            ++t.ready;
            t.status = body.empty() ? '?' : body[0];
            return "Z:" + std::string(1, t.status);
        case 'C':
            return "C:" + body.substr(0, body.find('\0'));
        case 'D': {
            std::string out = "D:";
            for (auto v : wire::data_row_values(msg)) {
                // A marker echoed back names its side ("p:" through pgtenant, "d:" directly).
                if (v.rfind("p:", 0) == 0 || v.rfind("d:", 0) == 0) v.replace(0, 1, "@@");
                out += "[" + printable(v) + "]";
            }
            return out;
        }
        case 'T': {
            // Names plus the type oids etc. as bytes: any difference shows.
            std::string out = "T:";
            for (const auto& n : wire::row_description_names(msg)) out += n + ",";
            return out + " " + printable(body);
        }
        default:
            return std::string(1, tag) + (body.empty() ? "" : ":" + printable(body));
    }
}

// The message text of an error is not compared; everything before " (" is.
// Known, documented difference (session_fuzz_test.cpp): in a failed transaction, a Bind of a
// statement pgtenant must first prepare on the current server connection gets that Parse's
// 25P02, where PostgreSQL checks the Bind's parameter count (08P01) first.
bool known_difference(const std::string& direct_item, const std::string& proxy_item) {
    return direct_item.rfind("E:ERROR 08P01 (bind message supplies", 0) == 0 &&
           proxy_item.rfind("E:ERROR 25P02 ", 0) == 0;
}

std::string comparable(const std::string& item) {
    if (item.rfind("E:", 0) != 0) return item;
    return item.substr(0, item.find(" ("));
}

}  // namespace

bool Transcript::has_sqlstate(const std::string& code) const {
    for (const auto& i : items) {
        if (i.rfind("E:", 0) == 0 && i.find(" " + code + " ") != std::string::npos) return true;
    }
    return false;
}

std::string Transcript::text() const {
    std::string out;
    for (const auto& i : items) out += "        " + i + "\n";
    if (closed) out += "        <closed>\n";
    if (timed_out) out += "        <timed out>\n";
    return out;
}

Transcript read_replies(RawSocket& s, int min_z, int max_z, std::chrono::milliseconds timeout,
                        std::chrono::milliseconds quiet) {
    Transcript t;
    const auto deadline = Clock::now() + timeout;
    std::string msg;
    while (t.ready < max_z) {
        auto until = deadline;
        if (t.ready >= min_z) until = std::min(deadline, Clock::now() + quiet);
        const Got got = read_one(s.fd(), until, msg);
        if (got == Got::closed) {
            t.closed = true;
            break;
        }
        if (got == Got::timeout) {
            t.timed_out = t.ready < min_z;
            break;
        }
        auto item = normalise(msg, t);
        if (!item.empty()) t.items.push_back(std::move(item));
    }
    return t;
}

std::string expect_refusal(RawSocket& s, std::chrono::milliseconds timeout, Transcript* seen) {
    Transcript t;
    const auto deadline = Clock::now() + timeout;
    std::string msg;
    for (;;) {
        const Got got = read_one(s.fd(), deadline, msg);
        if (got == Got::closed) {
            t.closed = true;
            break;
        }
        if (got == Got::timeout) {
            t.timed_out = true;
            break;
        }
        auto item = normalise(msg, t);
        if (!item.empty()) t.items.push_back(std::move(item));
        if (t.errored) break;
    }
    if (seen) *seen = t;
    if (t.errored || t.closed) return {};
    return "pgtenant neither answered with an ErrorResponse nor closed within " +
           std::to_string(timeout.count()) + " ms; it sent:\n" + t.text();
}

std::string compare(const Transcript& direct, const Transcript& proxy) {
    const std::size_t n = std::max(direct.items.size(), proxy.items.size());
    for (std::size_t i = 0; i <= n; ++i) {
        const std::string d = i < direct.items.size() ? comparable(direct.items[i]) : "<end>";
        const std::string p = i < proxy.items.size() ? comparable(proxy.items[i]) : "<end>";
        if (d != p && i < direct.items.size() && i < proxy.items.size() &&
            known_difference(direct.items[i], proxy.items[i])) {
            // The rest of the failed batch is skipped either way: compare where both end.
            if (direct.status == proxy.status && direct.closed == proxy.closed) return {};
        }
        if (d != p)
            return "reply #" + std::to_string(i + 1) + " differs: PostgreSQL " + d + ", pgtenant " +
                   p + "\n      PostgreSQL directly:\n" + direct.text() +
                   "      through pgtenant:\n" + proxy.text();
        if (i == n) break;
    }
    if (direct.closed != proxy.closed || proxy.timed_out)
        return std::string("connection ends differ: PostgreSQL ") +
               (direct.closed ? "closed" : "open") + ", pgtenant " +
               (proxy.closed      ? "closed"
                : proxy.timed_out ? "timed out"
                                  : "open") +
               "\n      PostgreSQL directly:\n" + direct.text() + "      through pgtenant:\n" +
               proxy.text();
    return {};
}

}  // namespace pgtenant::testing::fuzz
