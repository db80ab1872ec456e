#pragma once
// Parsing helpers for SCRAM messages (RFC 5802 section 7), shared by server and client.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scram.h"

namespace pgtenant::auth::scram_detail {

// One "<letter>=<value>" attribute of a SCRAM message.
struct Attribute {
    char name;
    std::string_view value;
};

// Splits "a=x,b=y" into attributes (values may be empty). nullopt when the message is empty,
// contains a NUL, or any part is not a single ASCII letter followed by '='.
std::optional<std::vector<Attribute>> split_attributes(std::string_view message);

// A nonce is non-empty printable ASCII without ',' (RFC 5802 "printable").
bool valid_nonce(std::string_view nonce);

// Decimal digits only, no sign or leading zero, in [1, max].
std::optional<int> parse_positive_int(std::string_view text, int max);

// RFC 5802 saslname: '=' and ',' become "=3D" and "=2C".
std::string escape_saslname(std::string_view name);

inline AuthStep reply(std::string message) { return {AuthStep::Kind::reply, std::move(message)}; }
inline AuthStep done(std::string message) { return {AuthStep::Kind::done, std::move(message)}; }
inline AuthStep failed(std::string reason) { return {AuthStep::Kind::failed, std::move(reason)}; }

inline constexpr std::size_t nonce_random_bytes = 18;  // as PostgreSQL: 24 base64 characters

}  // namespace pgtenant::auth::scram_detail
