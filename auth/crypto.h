#pragma once
// Small crypto helpers over OpenSSL for the auth module. Internal to auth/ (and its tests);
// the proxy should need only scram.h and directory.h.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pgtenant::auth::crypto {

inline constexpr std::size_t sha256_size = 32;

// Standard base64 (RFC 4648, with padding), as SCRAM and PostgreSQL verifiers use it.
std::string base64_encode(std::string_view raw);
// Strict decode: rejects characters outside the alphabet, bad padding and lengths that are not
// a multiple of 4, so malformed protocol input fails instead of decoding to something partial.
std::optional<std::string> base64_decode(std::string_view text);

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// PBKDF2-HMAC-SHA-256 with a 32-byte output, i.e. SCRAM's Hi(). Throws on OpenSSL failure.
std::string pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations);
// Lower-case hex MD5 of `data` (32 characters).
std::string md5_hex(std::string_view data);

std::string xor_bytes(std::string_view a, std::string_view b);  // sizes must match

}  // namespace pgtenant::auth::crypto
