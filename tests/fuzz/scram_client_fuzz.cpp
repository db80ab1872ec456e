// Fuzz target: the SCRAM-SHA-256 client step machine (auth/scram_client.cpp), which pgtenant
// runs against PostgreSQL, under server messages the server (or anyone in between) controls.
//
// Input: server-first NUL server-final NUL more. The client has a fixed password and nonce.
// Checked besides "no crash, no exception": the client answers only a server-first whose nonce
// extends its own and whose salt and iteration count are valid, and its answer carries the
// proof computed here independently; it is done only when the server signature is the one
// computed here from the password (a server that does not know the password cannot finish);
// any step after done or failed fails.
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
namespace detail = auth::scram_detail;

constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
// PBKDF2 cost grows with the count; the client allows up to a million. Counts above this are
// still parsed and checked, but only refused ones are run (a valid one would take seconds).
constexpr int kMaxRunIterations = 20000;

struct Expected {
    std::string client_final;  // without proof
    std::string auth_message;
    std::string proof_b64;
    std::string signature;  // raw bytes
};

// What a correct client answers to `server_first`, or nullopt when it must refuse it.
std::optional<Expected> expected_for(std::string_view server_first) {
    const auto attrs = detail::split_attributes(server_first);
    if (!attrs || attrs->size() < 3) return std::nullopt;
    const auto& a = *attrs;
    if (a[0].name != 'r' || a[1].name != 's' || a[2].name != 'i') return std::nullopt;
    const std::string_view nonce = a[0].value;
    if (!detail::valid_nonce(nonce) || nonce.size() <= kClientNonce.size() ||
        !nonce.starts_with(kClientNonce))
        return std::nullopt;
    const auto salt = crypto::base64_decode(a[1].value);
    if (!salt || salt->empty()) return std::nullopt;
    const auto iterations = detail::parse_positive_int(a[2].value, 1'000'000);
    if (!iterations) return std::nullopt;

    const std::string salted = crypto::pbkdf2_sha256(kPassword, *salt, *iterations);
    const std::string client_key = crypto::hmac_sha256(salted, "Client Key");
    const std::string stored_key = crypto::sha256(client_key);
    Expected e;
    e.client_final = "c=biws,r=" + std::string(nonce);
    e.auth_message = "n=,r=" + std::string(kClientNonce) + "," + std::string(server_first) + "," +
                     e.client_final;
    e.proof_b64 = crypto::base64_encode(
        crypto::xor_bytes(client_key, crypto::hmac_sha256(stored_key, e.auth_message)));
    const std::string server_key = crypto::hmac_sha256(salted, "Server Key");
    e.signature = crypto::hmac_sha256(server_key, e.auth_message);
    return e;
}

bool too_slow(std::string_view server_first) {
    const auto attrs = detail::split_attributes(server_first);
    if (!attrs || attrs->size() < 3) return false;
    const auto i = detail::parse_positive_int((*attrs)[2].value, 1'000'000);
    return i && *i > kMaxRunIterations;
}

void fuzz_one(std::string_view in) {
    const std::string_view server_first = take_until(in, '\0');
    const std::string_view server_final = take_until(in, '\0');
    const std::string_view more = in;
    if (too_slow(server_first)) return;

    auth::ScramClient client{std::string(kPassword)};
    client.set_nonce_for_test(std::string(kClientNonce));
    FUZZ_CHECK(client.first_message() == "n,,n=,r=" + std::string(kClientNonce));
    FUZZ_CHECK(client.first_message() == "n,,n=,r=" + std::string(kClientNonce));

    const AuthStep reply = client.step(server_first);
    const auto expected = expected_for(server_first);
    FUZZ_CHECK(reply.kind != AuthStep::Kind::done);
    FUZZ_CHECK((reply.kind == AuthStep::Kind::reply) == expected.has_value());
    if (!expected) {
        FUZZ_CHECK(client.step(server_final).kind == AuthStep::Kind::failed);
        return;
    }
    FUZZ_CHECK(reply.message == expected->client_final + ",p=" + expected->proof_b64);

    const AuthStep done = client.step(server_final);
    if (done.kind == AuthStep::Kind::done) {
        // v=<signature>[,extensions]; the bytes, not the text (base64 with non-zero padding
        // bits decodes to the same signature).
        FUZZ_CHECK(server_final.starts_with("v="));
        const auto value = server_final.substr(2, server_final.find(',') - 2);
        FUZZ_CHECK(crypto::base64_decode(value) == expected->signature);
    } else {
        FUZZ_CHECK(done.kind == AuthStep::Kind::failed);
    }
    FUZZ_CHECK(client.step(more).kind == AuthStep::Kind::failed);
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
