// PostgreSQL's legacy MD5 password scheme (still used by older clients and pool setups).
#include "auth/crypto.h"
#include "auth/scram.h"

namespace pgtenant::auth {

namespace {

bool is_lower_hex(std::string_view s) {
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace

std::string md5_stored_hash(std::string_view user, std::string_view password) {
    std::string input(password);
    input += user;
    return "md5" + crypto::md5_hex(input);
}

std::string md5_response_from_stored(std::string_view stored, std::string_view salt4) {
    // An empty result can never equal a real response ("md5" + 32 hex), so callers that
    // compare it with what the client sent fail closed.
    if (salt4.size() != 4 || stored.size() != 35 || !stored.starts_with("md5") ||
        !is_lower_hex(stored.substr(3)))
        return {};
    std::string input(stored.substr(3));
    input += salt4;
    return "md5" + crypto::md5_hex(input);
}

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4) {
    if (salt4.size() != 4) return {};
    return md5_response_from_stored(md5_stored_hash(user, password), salt4);
}

}  // namespace pgtenant::auth
