// Client side of SCRAM-SHA-256: pgtenant logging in to PostgreSQL as the pool role.
#include <exception>

#include "auth/crypto.h"
#include "auth/scram.h"
#include "auth/scram_message.h"

namespace pgtenant::auth {

using namespace scram_detail;

namespace {
constexpr int stage_finished = 3;
}  // namespace

ScramClient::ScramClient(std::string password) : password_(std::move(password)) {}

std::string ScramClient::first_message() {
    if (stage_ == 0) {
        if (client_nonce_.empty())
            client_nonce_ = crypto::base64_encode(random_bytes(nonce_random_bytes));
        // Like libpq, no user name: PostgreSQL takes it from the startup packet.
        client_first_bare_ = "n=" + escape_saslname(user_) + ",r=" + client_nonce_;
        stage_ = 1;
    }
    return "n,," + client_first_bare_;
}

AuthStep ScramClient::step(std::string_view server_message) {
    const int stage = stage_;
    stage_ = stage_finished;
    try {
        if (stage == 0) return failed("SCRAM server message before client-first-message");
        if (stage == 1) return handle_first(server_message);
        if (stage == 2) return handle_final(server_message);
        return failed("SCRAM exchange already finished");
    } catch (const std::exception& e) {
        return failed(std::string("SCRAM internal error: ") + e.what());
    } catch (...) {
        return failed("SCRAM internal error");
    }
}

AuthStep ScramClient::handle_first(std::string_view message) {
    // r=<client nonce + server nonce>,s=<b64 salt>,i=<iterations>[,extensions]
    const auto attrs = split_attributes(message);
    if (!attrs || attrs->size() < 3) return failed("malformed server-first-message");
    if ((*attrs)[0].name == 'm') return failed("server requires an unsupported SCRAM extension");
    if ((*attrs)[0].name != 'r' || (*attrs)[1].name != 's' || (*attrs)[2].name != 'i')
        return failed("server-first-message must be r=, s=, i=");

    const std::string_view nonce = (*attrs)[0].value;
    if (!valid_nonce(nonce) || nonce.size() <= client_nonce_.size() ||
        !constant_time_equal(nonce.substr(0, client_nonce_.size()), client_nonce_))
        return failed("server nonce does not extend the client nonce");
    const auto salt = crypto::base64_decode((*attrs)[1].value);
    if (!salt || salt->empty()) return failed("malformed salt in server-first-message");
    const auto iterations = parse_positive_int((*attrs)[2].value, max_server_iterations);
    if (!iterations) return failed("server iteration count missing or out of range");

    salted_password_ = crypto::pbkdf2_sha256(password_, *salt, *iterations);
    const std::string client_key = crypto::hmac_sha256(salted_password_, "Client Key");
    const std::string stored_key = crypto::sha256(client_key);

    const std::string without_proof = "c=biws,r=" + std::string(nonce);  // biws = b64("n,,")
    auth_message_ = client_first_bare_ + "," + std::string(message) + "," + without_proof;
    const std::string client_signature = crypto::hmac_sha256(stored_key, auth_message_);
    const std::string proof = crypto::xor_bytes(client_key, client_signature);

    stage_ = 2;
    return reply(without_proof + ",p=" + crypto::base64_encode(proof));
}

AuthStep ScramClient::handle_final(std::string_view message) {
    // v=<b64 server signature>[,extensions] or e=<server error>
    const auto attrs = split_attributes(message);
    if (!attrs) return failed("malformed server-final-message");
    const Attribute& first = attrs->front();
    if (first.name == 'e')
        return failed("server reported SCRAM error: " + std::string(first.value));
    if (first.name != 'v') return failed("server-final-message has no verifier");

    const auto signature = crypto::base64_decode(first.value);
    const std::string server_key = crypto::hmac_sha256(salted_password_, "Server Key");
    const std::string expected = crypto::hmac_sha256(server_key, auth_message_);
    if (!signature || !constant_time_equal(*signature, expected))
        return failed("server signature does not verify: the server does not know the password");
    return done({});
}

}  // namespace pgtenant::auth
