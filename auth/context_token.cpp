#include "auth/context_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "auth/crypto.h"
#include "auth/scram.h"

namespace pgtenant::auth {
namespace {

constexpr std::string_view token_version = "v1";
constexpr std::size_t mac_hex_size = 2 * crypto::sha256_size;
constexpr int64_t max_expires = 999'999'999'999'999'999;  // 18 digits, fits int8 in SQL

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string to_hex(std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0xf]);
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_value(hex[i]);
        int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

// 8-4-4-4-12 hex digits; `lower_only` is the token grammar, otherwise any case.
bool is_uuid(std::string_view s, bool lower_only) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !(is_lower_hex(c) || (!lower_only && c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

// Decimal without sign or leading zero, at most max_digits digits.
template <typename Int>
std::optional<Int> parse_decimal(std::string_view s, std::size_t max_digits) {
    if (s.empty() || s.size() > max_digits || s[0] == '0') return std::nullopt;
    Int value{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return value;
}

std::string mac_hex(const ContextKey& key, std::string_view signed_text) {
    return to_hex(crypto::hmac_sha256(key.key, signed_text));
}

// Splits on '.' into exactly `n` parts; nullopt for any other count.
std::optional<std::vector<std::string_view>> split_dots(std::string_view s, std::size_t n) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        std::size_t dot = s.find('.', start);
        parts.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (parts.size() > n) return std::nullopt;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    if (parts.size() != n) return std::nullopt;
    return parts;
}

[[noreturn]] void key_error(std::string_view source, std::size_t line, const std::string& what) {
    std::string where = "key file " + std::string(source);
    if (line > 0) where += " line " + std::to_string(line);
    throw std::runtime_error(where + ": " + what);
}

}  // namespace

bool is_valid_kid(std::string_view kid) {
    if (kid.empty() || kid.size() > context_kid_max) return false;
    for (char c : kid) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

KeyRing KeyRing::parse(std::string_view text, std::string_view source) {
    std::vector<ContextKey> keys;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

        std::vector<std::string_view> fields;
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && std::strchr(" \t\r", line[i]) != nullptr) ++i;
            std::size_t start = i;
            while (i < line.size() && std::strchr(" \t\r", line[i]) == nullptr) ++i;
            if (i > start) fields.push_back(line.substr(start, i - start));
        }
        if (fields.empty() || fields[0].front() == '#') continue;
        if (fields.size() != 2) {
            key_error(source, line_no, "expected \"<kid> <64 hex digits>\"");
        }
        if (!is_valid_kid(fields[0])) {
            key_error(source, line_no, "key id must be 1..32 characters of [a-z0-9_-]");
        }
        if (fields[1].size() != 2 * context_key_size) {
            key_error(source, line_no,
                      "key must be 64 hex digits (32 bytes), got " +
                          std::to_string(fields[1].size()) + " characters");
        }
        auto raw = from_hex(fields[1]);
        if (!raw) key_error(source, line_no, "key is not valid hex");
        for (const auto& existing : keys) {
            if (existing.kid == fields[0]) {
                key_error(source, line_no, "duplicate key id \"" + existing.kid + "\"");
            }
        }
        keys.push_back(ContextKey{std::string(fields[0]), std::move(*raw)});
    }
    if (keys.empty()) key_error(source, 0, "contains no key");
    return KeyRing(std::move(keys));
}

KeyRing KeyRing::load(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) key_error(path, 0, std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) key_error(path, 0, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) key_error(path, 0, "not a regular file");
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        key_error(path, 0,
                  std::string("is accessible by group or others (mode ") + mode +
                      "); the keys sign every practice's context, so run: chmod 600 " + path);
    }
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) key_error(path, 0, std::strerror(errno));
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > (1u << 20)) key_error(path, 0, "larger than 1 MiB");
    }
    return parse(text, path);
}

const ContextKey* KeyRing::find(std::string_view kid) const {
    for (const auto& k : keys_) {
        if (k.kid == kid) return &k;
    }
    return nullptr;
}

std::string make_context_token(const ContextKey& key, std::string_view practice_uuid,
                               int32_t backend_pid, int64_t expires_unix) {
    if (!is_valid_kid(key.kid)) throw std::invalid_argument("context token: malformed key id");
    if (key.key.size() != context_key_size) {
        throw std::invalid_argument("context token: key must be 32 bytes");
    }
    if (!is_uuid(practice_uuid, false)) {
        throw std::invalid_argument("context token: practice id is not a uuid");
    }
    if (backend_pid <= 0) throw std::invalid_argument("context token: backend pid must be > 0");
    if (expires_unix <= 0 || expires_unix > max_expires) {
        throw std::invalid_argument("context token: expiry out of range");
    }
    std::string uuid(practice_uuid);
    for (char& c : uuid) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    std::string text;
    text.reserve(context_token_max);
    text.append(token_version).append(".").append(key.kid).append(".").append(uuid);
    text.append(".").append(std::to_string(backend_pid));
    text.append(".").append(std::to_string(expires_unix));
    std::string mac = mac_hex(key, text);
    return text.append(".").append(mac);
}

std::optional<ContextClaims> verify_context_token(const KeyRing& ring, std::string_view token,
                                                  int32_t pid, int64_t now) {
    try {
        if (token.size() > context_token_max) return std::nullopt;
        auto parts = split_dots(token, 6);
        if (!parts) return std::nullopt;
        const auto& p = *parts;
        if (p[0] != token_version || !is_valid_kid(p[1]) || !is_uuid(p[2], true)) {
            return std::nullopt;
        }
        auto token_pid = parse_decimal<int64_t>(p[3], 10);
        auto expires = parse_decimal<int64_t>(p[4], 18);
        if (!token_pid || !expires || p[5].size() != mac_hex_size) return std::nullopt;
        for (char c : p[5]) {
            if (!is_lower_hex(c)) return std::nullopt;
        }
        const ContextKey* key = ring.find(p[1]);
        if (key == nullptr || *token_pid != pid || *expires <= now) return std::nullopt;
        std::string_view signed_text = token.substr(0, token.size() - mac_hex_size - 1);
        if (!constant_time_equal(mac_hex(*key, signed_text), p[5])) return std::nullopt;
        return ContextClaims{std::string(p[1]), std::string(p[2]), pid, *expires};
    } catch (const std::exception&) {
        return std::nullopt;  // allocation failure: fail closed
    }
}

std::string new_key_line(std::string_view kid) {
    if (!is_valid_kid(kid)) {
        throw std::invalid_argument("key id must be 1..32 characters of [a-z0-9_-]");
    }
    return std::string(kid) + " " + to_hex(random_bytes(context_key_size));
}

std::string add_key_sql(const ContextKey& key) {
    if (!is_valid_kid(key.kid) || key.key.size() != context_key_size) {
        throw std::invalid_argument("add_key_sql: malformed key");
    }
    // kid and hex are [a-z0-9_-] only: nothing to escape.
    return "SELECT pgtenant.add_key('" + key.kid + "', '" + to_hex(key.key) + "');";
}

}  // namespace pgtenant::auth
