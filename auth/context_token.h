#pragma once
// Sealed practice context (DESIGN §3.3): the signed token pgtenant puts in the
// transaction-local setting `pgtenant.context`, and the key ring it is signed with.
//
//   v1.<kid>.<practice uuid>.<backend pid>.<expires unix seconds>.<mac>
//
// mac = lower-case hex HMAC-SHA256(key, every character before the last '.'). The database side
// (config/sealed_install.sql, pgtenant.practice_id()) accepts exactly the same grammar:
//   kid      1..32 of [a-z0-9_-]
//   uuid     canonical lower-case 8-4-4-4-12
//   pid      1..10 digits, no leading zero
//   expires  1..18 digits, no leading zero; valid while expires > now
//   mac      64 lower-case hex digits
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgtenant::auth {

inline constexpr std::size_t context_key_size = 32;
inline constexpr std::size_t context_kid_max = 32;
// Longer values are refused unparsed, on both sides (a valid token is at most 167 characters).
inline constexpr std::size_t context_token_max = 200;

struct ContextKey {
    std::string kid;
    std::string key;  // context_key_size raw bytes
};

// The keys of a key file. Format: one key per line, `<kid> <64 hex digits>`; `#` starts a
// comment line; blank lines are ignored. The first key signs; all of them verify (rotation:
// put the new key first, install it in the database, later retire and remove the old one).
class KeyRing {
  public:
    // Throws std::runtime_error naming the file (and line) when the file cannot be read, is
    // readable or writable by group or others (fix: chmod 600), or does not parse.
    static KeyRing load(const std::string& path);
    // Same rules for text; `source` names it in error messages.
    static KeyRing parse(std::string_view text, std::string_view source = "key text");

    const ContextKey& active() const { return keys_.front(); }  // never empty
    const ContextKey* find(std::string_view kid) const;         // nullptr when unknown
    const std::vector<ContextKey>& keys() const { return keys_; }

  private:
    explicit KeyRing(std::vector<ContextKey> keys) : keys_(std::move(keys)) {}
    std::vector<ContextKey> keys_;
};

// What a valid token says.
struct ContextClaims {
    std::string kid;
    std::string practice_id;  // canonical lower-case uuid
    int32_t backend_pid = 0;
    int64_t expires_unix = 0;
};

bool is_valid_kid(std::string_view kid);

// Throws std::invalid_argument for a malformed kid, a key that is not 32 bytes, a practice id
// that is not a uuid (any case is accepted; the token carries it lower-cased), pid <= 0, or
// expires_unix outside 1..10^18-1.
std::string make_context_token(const ContextKey& key, std::string_view practice_uuid,
                               int32_t backend_pid, int64_t expires_unix);

// Mirrors pgtenant.practice_id(): the claims when the token parses, its kid is in the ring,
// the MAC matches (compared in constant time), the pid is `pid` and expires_unix > now.
// nullopt otherwise; never throws.
std::optional<ContextClaims> verify_context_token(const KeyRing& ring, std::string_view token,
                                                  int32_t pid, int64_t now);

// A fresh key as a key-file line: "<kid> <64 lower-case hex digits>" (no newline).
// Throws std::invalid_argument for a malformed kid.
std::string new_key_line(std::string_view kid);

// The SQL that installs a key in the database: SELECT pgtenant.add_key('<kid>', '<hex>');
std::string add_key_sql(const ContextKey& key);

}  // namespace pgtenant::auth
