#include "auth/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <limits>
#include <stdexcept>

#include "auth/scram.h"

namespace pgtenant::auth {

namespace {

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

std::string evp_digest(const EVP_MD* md, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1)
        throw std::runtime_error("EVP_Digest failed");
    return std::string(reinterpret_cast<const char*>(out.data()), len);
}

}  // namespace

namespace crypto {

std::string base64_encode(std::string_view raw) {
    std::string out;
    out.reserve((raw.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= raw.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(raw[i]) << 16) |
                           (static_cast<unsigned char>(raw[i + 1]) << 8) |
                           static_cast<unsigned char>(raw[i + 2]);
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += b64_alphabet[(v >> 6) & 63];
        out += b64_alphabet[v & 63];
    }
    const std::size_t rest = raw.size() - i;
    if (rest > 0) {
        unsigned v = static_cast<unsigned char>(raw[i]) << 16;
        if (rest == 2) v |= static_cast<unsigned char>(raw[i + 1]) << 8;
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int pad = 0;
        if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
        unsigned v = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            if (j >= 4 - static_cast<std::size_t>(pad)) {
                v <<= 6;
                continue;
            }
            const int d = b64_value(text[i + j]);
            if (d < 0) return std::nullopt;  // includes '=' anywhere but the tail
            v = (v << 6) | static_cast<unsigned>(d);
        }
        out += static_cast<char>((v >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(v & 0xff);
    }
    return out;
}

std::string sha256(std::string_view data) { return evp_digest(EVP_sha256(), data); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    if (key.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::length_error("HMAC key too long");
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(),
             out.data(), &len) == nullptr)
        throw std::runtime_error("HMAC failed");
    return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations) {
    constexpr auto int_max = static_cast<std::size_t>(std::numeric_limits<int>::max());
    if (iterations < 1 || password.size() > int_max || salt.size() > int_max)
        throw std::invalid_argument("bad PBKDF2 parameters");
    std::string out(sha256_size, '\0');
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                          static_cast<int>(salt.size()), iterations, EVP_sha256(),
                          static_cast<int>(out.size()),
                          reinterpret_cast<unsigned char*>(out.data())) != 1)
        throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
    return out;
}

std::string md5_hex(std::string_view data) {
    static constexpr char hex[] = "0123456789abcdef";
    const std::string raw = evp_digest(EVP_md5(), data);
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char c : raw) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

std::string xor_bytes(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) throw std::invalid_argument("xor_bytes: size mismatch");
    std::string out(a.size(), '\0');
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
    return out;
}

}  // namespace crypto

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw std::length_error("random_bytes: too many bytes");
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Lengths of secrets are public (fixed-size digests); only the content must not leak.
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pgtenant::auth
