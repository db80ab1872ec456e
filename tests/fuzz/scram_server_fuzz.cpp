// Fuzz target: the SCRAM-SHA-256 server step machine (auth/scram_server.cpp) under messages a
// client controls, plus the parsers of stored secrets (SCRAM verifier text, MD5 hash).
//
// Input: one mode byte, then
//   mode 0  client-first NUL client-final NUL more: a known login (fixed secret, fixed server
//           nonce). A done step must carry exactly the proof and server signature computed here
//           independently from the password; anything after done or failed fails.
//   mode 1  the same messages for an unknown login: never done.
//   mode 2  nonce NUL user: the project's own ScramClient with that nonce and user name talks
//           to the server; a nonce the server accepts must lead to done on both sides, with the
//           right password, and to failed with a wrong one.
//   mode 3  text: ScramSecret::parse, md5_response_from_stored and constant_time_equal.
// step() must never throw (an escaping exception is a crash here).
#include <string>
#include <string_view>

#include "auth/crypto.h"
#include "auth/scram.h"
#include "auth/scram_message.h"
#include "fuzz_support.h"

namespace pgtenant::fuzz {
namespace {

using auth::AuthStep;
namespace crypto = auth::crypto;

constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kServerNonce = "3rfcNHYJY1ZVvWVs7j";
constexpr int kIterations = 16;  // small: every input runs PBKDF2 at most once or twice

const auth::ScramSecret& secret() {
    static const auth::ScramSecret s =
        auth::make_scram_secret(kPassword, "QSXCR+Q6sek8bf92", kIterations);
    return s;
}

const std::string& salted_password() {
    static const std::string s = crypto::pbkdf2_sha256(kPassword, secret().salt, kIterations);
    return s;
}

// RFC 5802 from the password, written out here rather than reusing the server's code path.
void check_done(std::string_view client_first, std::string_view server_first,
                std::string_view client_final, const AuthStep& step) {
    const std::string_view bare = client_first.substr(client_first.find(',', 2) + 1);
    const auto last_comma = client_final.rfind(',');
    FUZZ_CHECK(last_comma != std::string_view::npos);
    FUZZ_CHECK(client_final.substr(last_comma + 1).starts_with("p="));
    const std::string auth_message = std::string(bare) + "," + std::string(server_first) + "," +
                                     std::string(client_final.substr(0, last_comma));
    const std::string client_key = crypto::hmac_sha256(salted_password(), "Client Key");
    const std::string stored_key = crypto::sha256(client_key);
    FUZZ_CHECK(stored_key == secret().stored_key);
    const std::string proof =
        crypto::xor_bytes(client_key, crypto::hmac_sha256(stored_key, auth_message));
    // The bytes, not the text: base64 with non-zero padding bits decodes to the same proof.
    FUZZ_CHECK(crypto::base64_decode(client_final.substr(last_comma + 3)) == proof);
    const std::string server_key = crypto::hmac_sha256(salted_password(), "Server Key");
    FUZZ_CHECK(step.message ==
               "v=" + crypto::base64_encode(crypto::hmac_sha256(server_key, auth_message)));
    // The nonce the client echoed is the one the server made.
    FUZZ_CHECK(server_first.starts_with("r="));
    FUZZ_CHECK(client_final.find("," + std::string(server_first.substr(0, server_first.find(','))) +
                                 ",") != std::string_view::npos);
}

void run_messages(std::string_view in, bool known) {
    const std::string_view client_first = take_until(in, '\0');
    const std::string_view client_final = take_until(in, '\0');
    const std::string_view more = in;

    auth::ScramServer server(known ? std::optional(secret()) : std::nullopt, "alice");
    server.set_nonce_for_test(std::string(kServerNonce));
    const AuthStep first = server.step(client_first);
    FUZZ_CHECK(first.kind != AuthStep::Kind::done);
    if (first.kind == AuthStep::Kind::failed) {
        FUZZ_CHECK(server.step(client_final).kind == AuthStep::Kind::failed);
        return;
    }
    // server-first: r=<client nonce + ours>,s=<salt>,i=<iterations>
    FUZZ_CHECK(first.message.starts_with("r="));
    const auto nonce = first.message.substr(2, first.message.find(',') - 2);
    FUZZ_CHECK(nonce.ends_with(kServerNonce) && nonce.size() > kServerNonce.size());
    FUZZ_CHECK(auth::scram_detail::valid_nonce(nonce));
    FUZZ_CHECK(client_first.find(",r=" + nonce.substr(0, nonce.size() - kServerNonce.size())) !=
               std::string_view::npos);

    const AuthStep final = server.step(client_final);
    if (final.kind == AuthStep::Kind::done) {
        FUZZ_CHECK(known);
        check_done(client_first, first.message, client_final, final);
    } else {
        FUZZ_CHECK(final.kind == AuthStep::Kind::failed);
    }
    FUZZ_CHECK(server.step(more).kind == AuthStep::Kind::failed);
}

void run_honest_client(std::string_view in) {
    const std::string nonce(take_until(in, '\0'));
    const std::string user(in);
    for (const bool right_password : {true, false}) {
        auth::ScramClient client(right_password ? std::string(kPassword) : "pen");
        client.set_nonce_for_test(nonce, user);
        auth::ScramServer server(secret(), "alice");
        const AuthStep first = server.step(client.first_message());
        // The client does not check a nonce given for tests; the server does. An empty nonce
        // makes the client draw a random one. Other nonces (one with a ',' looks like a
        // shorter nonce and an extension) only must not crash anything.
        const bool acceptable = (nonce.empty() || auth::scram_detail::valid_nonce(nonce)) &&
                                user.find('\0') == std::string::npos;
        if (acceptable) FUZZ_CHECK(first.kind == AuthStep::Kind::reply);
        if (!acceptable || first.kind != AuthStep::Kind::reply) {
            if (first.kind == AuthStep::Kind::reply) {
                const AuthStep reply = client.step(first.message);
                if (reply.kind == AuthStep::Kind::reply)
                    FUZZ_CHECK(server.step(reply.message).kind != AuthStep::Kind::done ||
                               right_password);
            }
            return;
        }
        const AuthStep client_final = client.step(first.message);
        FUZZ_CHECK(client_final.kind == AuthStep::Kind::reply);
        const AuthStep done = server.step(client_final.message);
        if (!right_password) {
            FUZZ_CHECK(done.kind == AuthStep::Kind::failed);
            continue;
        }
        FUZZ_CHECK(done.kind == AuthStep::Kind::done);
        FUZZ_CHECK(client.step(done.message).kind == AuthStep::Kind::done);
    }
}

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

void run_secret_text(std::string_view in) {
    if (auto s = auth::ScramSecret::parse(in)) {
        FUZZ_CHECK(s->iterations >= 1 && !s->salt.empty());
        FUZZ_CHECK(s->stored_key.size() == 32 && s->server_key.size() == 32);
        const auto again = auth::ScramSecret::parse(s->to_string());
        FUZZ_CHECK(again && again->iterations == s->iterations && again->salt == s->salt &&
                   again->stored_key == s->stored_key && again->server_key == s->server_key);
    }
    // A stored MD5 hash is "md5" + 32 lower-case hex digits; the salt is 4 bytes.
    const std::string_view salt = in.substr(0, 4);
    const std::string_view stored = in.size() > 4 ? in.substr(4) : std::string_view();
    const std::string response = auth::md5_response_from_stored(stored, salt);
    const bool valid = salt.size() == 4 && stored.size() == 35 && stored.starts_with("md5") &&
                       is_lower_hex(stored.substr(3));
    FUZZ_CHECK(response.empty() != valid);
    if (valid) {
        FUZZ_CHECK(response.size() == 35 && response.starts_with("md5") &&
                   is_lower_hex(response.substr(3)));
    }
    FUZZ_CHECK(auth::constant_time_equal(in, in));
    FUZZ_CHECK(auth::constant_time_equal(response, stored) == (response == stored));
}

void fuzz_one(std::string_view in) {
    if (in.empty()) return;
    const unsigned mode = static_cast<unsigned char>(in[0]) % 4;
    in.remove_prefix(1);
    switch (mode) {
        case 0:
            run_messages(in, true);
            break;
        case 1:
            run_messages(in, false);
            break;
        case 2:
            run_honest_client(in);
            break;
        default:
            run_secret_text(in);
            break;
    }
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
