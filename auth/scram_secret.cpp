// The SCRAM-SHA-256 secret and PostgreSQL's text form of it.
#include <limits>
#include <stdexcept>

#include "auth/crypto.h"
#include "auth/scram.h"
#include "auth/scram_message.h"

namespace pgtenant::auth {

namespace {
constexpr std::string_view prefix = "SCRAM-SHA-256$";
constexpr std::size_t verifier_salt_bytes = 16;  // as PostgreSQL
}  // namespace

std::optional<ScramSecret> ScramSecret::parse(std::string_view verifier) {
    // SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
    if (!verifier.starts_with(prefix)) return std::nullopt;
    std::string_view rest = verifier.substr(prefix.size());
    const std::size_t dollar = rest.find('$');
    if (dollar == std::string_view::npos) return std::nullopt;
    const std::string_view iter_salt = rest.substr(0, dollar);
    const std::string_view keys = rest.substr(dollar + 1);

    const std::size_t colon1 = iter_salt.find(':');
    const std::size_t colon2 = keys.find(':');
    if (colon1 == std::string_view::npos || colon2 == std::string_view::npos) return std::nullopt;

    const auto iterations = scram_detail::parse_positive_int(iter_salt.substr(0, colon1),
                                                             std::numeric_limits<int>::max());
    auto salt = crypto::base64_decode(iter_salt.substr(colon1 + 1));
    auto stored = crypto::base64_decode(keys.substr(0, colon2));
    auto server = crypto::base64_decode(keys.substr(colon2 + 1));
    if (!iterations || !salt || salt->empty() || !stored || !server ||
        stored->size() != crypto::sha256_size || server->size() != crypto::sha256_size)
        return std::nullopt;

    ScramSecret secret;
    secret.iterations = *iterations;
    secret.salt = std::move(*salt);
    secret.stored_key = std::move(*stored);
    secret.server_key = std::move(*server);
    return secret;
}

std::string ScramSecret::to_string() const {
    return std::string(prefix) + std::to_string(iterations) + ":" + crypto::base64_encode(salt) +
           "$" + crypto::base64_encode(stored_key) + ":" + crypto::base64_encode(server_key);
}

ScramSecret make_scram_secret(std::string_view password, std::string_view salt, int iterations) {
    if (iterations < 1) throw std::invalid_argument("SCRAM iterations must be at least 1");
    const std::string salted = crypto::pbkdf2_sha256(password, salt, iterations);
    ScramSecret secret;
    secret.iterations = iterations;
    secret.salt = std::string(salt);
    secret.stored_key = crypto::sha256(crypto::hmac_sha256(salted, "Client Key"));
    secret.server_key = crypto::hmac_sha256(salted, "Server Key");
    return secret;
}

std::string make_scram_verifier(std::string_view password, int iterations) {
    return make_scram_secret(password, random_bytes(verifier_salt_bytes), iterations).to_string();
}

}  // namespace pgtenant::auth
