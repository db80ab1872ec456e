// Server side of SCRAM-SHA-256, as PostgreSQL runs it: pgtenant authenticates its clients.
#include <exception>

#include "auth/crypto.h"
#include "auth/scram.h"
#include "auth/scram_message.h"

namespace pgtenant::auth {

using namespace scram_detail;

namespace {

constexpr int fake_iterations = 4096;  // the default of make_scram_verifier and PostgreSQL
constexpr std::size_t fake_salt_bytes = 16;

// Keyed per process so fake salts are stable for a name (a probing client sees the same salt
// twice, as for a real login) yet cannot be predicted or matched across restarts.
const std::string& process_key() {
    static const std::string key = random_bytes(32);
    return key;
}

ScramSecret fake_secret(std::string_view login) {
    const std::string& key = process_key();
    const std::string name(login);
    ScramSecret secret;
    secret.iterations = fake_iterations;
    secret.salt = crypto::hmac_sha256(key, "salt\n" + name).substr(0, fake_salt_bytes);
    secret.stored_key = crypto::hmac_sha256(key, "stored\n" + name);
    secret.server_key = crypto::hmac_sha256(key, "server\n" + name);
    return secret;
}

constexpr int stage_finished = 2;

}  // namespace

ScramServer::ScramServer(std::optional<ScramSecret> secret, std::string_view login)
    : secret_(secret ? std::move(*secret) : fake_secret(login)), known_(secret.has_value()) {}

AuthStep ScramServer::step(std::string_view client_message) {
    const int stage = stage_;
    stage_ = stage_finished;  // any failure below is final; success paths set it again
    try {
        if (stage == 0) return handle_first(client_message);
        if (stage == 1) return handle_final(client_message);
        return failed("SCRAM exchange already finished");
    } catch (const std::exception& e) {
        return failed(std::string("SCRAM internal error: ") + e.what());
    } catch (...) {
        return failed("SCRAM internal error");
    }
}

AuthStep ScramServer::handle_first(std::string_view message) {
    if (message.find('\0') != std::string_view::npos) return failed("NUL byte in client-first");
    // gs2-header: gs2-cbind-flag "," [authzid] ","
    if (message.starts_with("p=") || message.starts_with("p,"))
        return failed("client requested channel binding, which pgtenant does not offer");
    if (!message.starts_with("n,") && !message.starts_with("y,"))
        return failed("malformed gs2 header in client-first");
    const std::size_t second_comma = message.find(',', 2);
    if (second_comma == std::string_view::npos) return failed("malformed gs2 header");
    if (second_comma != 2) return failed("authorization identity is not supported");
    gs2_header_ = std::string(message.substr(0, second_comma + 1));

    const std::string_view bare = message.substr(second_comma + 1);
    const auto attrs = split_attributes(bare);
    if (!attrs || attrs->size() < 2) return failed("malformed client-first-message");
    if ((*attrs)[0].name == 'm') return failed("mandatory SCRAM extension not supported");
    // The user name in "n=" is ignored, as PostgreSQL does: the startup packet names the login.
    if ((*attrs)[0].name != 'n' || (*attrs)[1].name != 'r')
        return failed("client-first-message must start with n= and r=");
    const std::string_view client_nonce = (*attrs)[1].value;
    if (!valid_nonce(client_nonce)) return failed("invalid client nonce");

    const std::string server_nonce =
        test_nonce_.empty() ? crypto::base64_encode(random_bytes(nonce_random_bytes)) : test_nonce_;
    client_first_bare_ = std::string(bare);
    combined_nonce_ = std::string(client_nonce) + server_nonce;
    server_first_ = "r=" + combined_nonce_ + ",s=" + crypto::base64_encode(secret_.salt) +
                    ",i=" + std::to_string(secret_.iterations);
    stage_ = 1;
    return reply(server_first_);
}

AuthStep ScramServer::handle_final(std::string_view message) {
    // c=<b64 gs2 header>,r=<nonce>[,extensions],p=<b64 proof>
    const auto attrs = split_attributes(message);
    if (!attrs || attrs->size() < 3) return failed("malformed client-final-message");
    const Attribute& cbind = attrs->front();
    const Attribute& nonce = (*attrs)[1];
    const Attribute& proof_attr = attrs->back();
    if (cbind.name != 'c' || nonce.name != 'r' || proof_attr.name != 'p')
        return failed("client-final-message must be c=, r=, ..., p=");

    const auto cbind_data = crypto::base64_decode(cbind.value);
    if (!cbind_data || !constant_time_equal(*cbind_data, gs2_header_))
        return failed("channel binding data does not match the gs2 header");
    if (!constant_time_equal(nonce.value, combined_nonce_))
        return failed("nonce in client-final-message does not match");
    const auto proof = crypto::base64_decode(proof_attr.value);
    if (!proof || proof->size() != crypto::sha256_size) return failed("malformed client proof");

    // The proof is the last attribute, and base64 has no ',', so the last ',' precedes it.
    const std::string_view without_proof = message.substr(0, message.rfind(','));
    const std::string auth_message =
        client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);

    const std::string client_signature = crypto::hmac_sha256(secret_.stored_key, auth_message);
    const std::string client_key = crypto::xor_bytes(*proof, client_signature);
    const bool proof_ok = constant_time_equal(crypto::sha256(client_key), secret_.stored_key);
    // Same reason text for unknown logins and wrong passwords: nothing to tell them apart.
    if (!proof_ok || !known_) return failed("password authentication failed (SCRAM proof)");

    const std::string server_signature = crypto::hmac_sha256(secret_.server_key, auth_message);
    return done("v=" + crypto::base64_encode(server_signature));
}

}  // namespace pgtenant::auth
