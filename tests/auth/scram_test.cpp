#include "auth/scram.h"

#include <gtest/gtest.h>

#include "auth/crypto.h"

namespace pgtenant::auth {
namespace {

using Kind = AuthStep::Kind;

// RFC 7677 section 3.
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramSecret rfc_secret() {
    return make_scram_secret("pencil", crypto::base64_decode(rfc_salt_b64).value(), 4096);
}

TEST(ScramRfc7677, Server) {
    ScramServer server(rfc_secret(), "user");
    server.set_nonce_for_test(std::string(rfc_server_nonce));
    const AuthStep first = server.step(rfc_client_first);
    ASSERT_EQ(first.kind, Kind::reply) << first.message;
    EXPECT_EQ(first.message, rfc_server_first);
    const AuthStep final = server.step(rfc_client_final);
    ASSERT_EQ(final.kind, Kind::done) << final.message;
    EXPECT_EQ(final.message, rfc_server_final);
}

TEST(ScramRfc7677, Client) {
    ScramClient client("pencil");
    client.set_nonce_for_test(std::string(rfc_client_nonce), "user");
    EXPECT_EQ(client.first_message(), rfc_client_first);
    EXPECT_EQ(client.first_message(), rfc_client_first);  // idempotent
    const AuthStep final = client.step(rfc_server_first);
    ASSERT_EQ(final.kind, Kind::reply) << final.message;
    EXPECT_EQ(final.message, rfc_client_final);
    const AuthStep verified = client.step(rfc_server_final);
    EXPECT_EQ(verified.kind, Kind::done) << verified.message;
}

// Computed independently with python3 hashlib.pbkdf2_hmac / hmac for the RFC 7677 inputs.
constexpr std::string_view rfc_verifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

TEST(ScramRfc7677, VerifierMatchesIndependentComputation) {
    EXPECT_EQ(rfc_secret().to_string(), rfc_verifier);
}

// Drives a client and a server against each other and returns each side's last step.
struct Exchange {
    AuthStep server_first, client_final, server_final, client_done;
};

Exchange run(ScramClient& client, ScramServer& server) {
    Exchange x;
    x.server_first = server.step(client.first_message());
    if (x.server_first.kind != Kind::reply) return x;
    x.client_final = client.step(x.server_first.message);
    if (x.client_final.kind != Kind::reply) return x;
    x.server_final = server.step(x.client_final.message);
    if (x.server_final.kind != Kind::done) return x;
    x.client_done = client.step(x.server_final.message);
    return x;
}

TEST(Scram, ClientAndServerAgree) {
    const auto secret = ScramSecret::parse(make_scram_verifier("correct horse", 64));
    ASSERT_TRUE(secret);
    ScramClient client("correct horse");
    ScramServer server(secret, "alice");
    const Exchange x = run(client, server);
    EXPECT_EQ(x.server_final.kind, Kind::done) << x.server_final.message;
    EXPECT_EQ(x.client_done.kind, Kind::done) << x.client_done.message;
    EXPECT_TRUE(x.client_final.message.starts_with("c=biws,r="));
    // Finished machines refuse more input.
    EXPECT_EQ(server.step("c=biws,r=x,p=x").kind, Kind::failed);
    EXPECT_EQ(client.step("v=x").kind, Kind::failed);
}

TEST(Scram, PostgresStyleClientFirstHasEmptyName) {
    ScramClient client("pw");
    EXPECT_TRUE(client.first_message().starts_with("n,,n=,r="));
}

TEST(Scram, NonAsciiPasswordAsRawBytes) {
    const std::string pw = "p\xc3\xa4ssw\xc3\xb6rd";
    ScramClient client(pw);
    ScramServer server(make_scram_secret(pw, "0123456789abcdef", 16));
    EXPECT_EQ(run(client, server).client_done.kind, Kind::done);
}

TEST(Scram, WrongPasswordFailsAtProof) {
    ScramClient client("wrong");
    ScramServer server(make_scram_secret("right", "saltsaltsaltsalt", 16));
    const Exchange x = run(client, server);
    EXPECT_EQ(x.server_first.kind, Kind::reply);
    EXPECT_EQ(x.client_final.kind, Kind::reply);
    EXPECT_EQ(x.server_final.kind, Kind::failed);
}

TEST(Scram, UnknownLoginFailsExactlyLikeWrongPassword) {
    ScramClient wrong_client("guess");
    ScramServer wrong_server(make_scram_secret("right", random_bytes(16), 4096), "alice");
    const Exchange wrong = run(wrong_client, wrong_server);

    ScramClient unknown_client("guess");
    ScramServer unknown_server(std::nullopt, "mallory");
    const Exchange unknown = run(unknown_client, unknown_server);

    EXPECT_EQ(unknown.server_first.kind, Kind::reply);
    EXPECT_EQ(unknown.client_final.kind, Kind::reply);
    EXPECT_EQ(unknown.server_final.kind, Kind::failed);
    EXPECT_EQ(unknown.server_final.message, wrong.server_final.message);
    // Same shape of server-first: 24-char nonce part, 16-byte salt, 4096 iterations.
    EXPECT_EQ(unknown.server_first.message.size(), wrong.server_first.message.size());
    EXPECT_TRUE(unknown.server_first.message.ends_with(",i=4096"));
}

std::string salt_of(const std::string& server_first) {
    const auto s = server_first.find(",s=");
    const auto i = server_first.find(",i=");
    return server_first.substr(s + 3, i - s - 3);
}

TEST(Scram, FakeSaltStablePerLoginAndDistinctAcrossLogins) {
    auto first_for = [](std::string_view login) {
        ScramServer server(std::nullopt, login);
        return server.step("n,,n=,r=abc").message;
    };
    EXPECT_EQ(salt_of(first_for("mallory")), salt_of(first_for("mallory")));
    EXPECT_NE(salt_of(first_for("mallory")), salt_of(first_for("trudy")));
    EXPECT_EQ(crypto::base64_decode(salt_of(first_for("x"))).value().size(), 16u);
}

TEST(Scram, ServerNoncesAreFresh) {
    ScramServer a(make_scram_secret("pw", "salt", 1)), b(make_scram_secret("pw", "salt", 1));
    EXPECT_NE(a.step("n,,n=,r=abc").message, b.step("n,,n=,r=abc").message);
}

// Builds a client-final-message by hand, for gs2 headers and extensions ScramClient never sends.
std::string hand_client_final(std::string_view password, const ScramSecret& secret,
                              std::string_view client_first_bare, std::string_view server_first,
                              std::string_view without_proof) {
    const std::string salted = crypto::pbkdf2_sha256(password, secret.salt, secret.iterations);
    const std::string client_key = crypto::hmac_sha256(salted, "Client Key");
    const std::string auth_message = std::string(client_first_bare) + "," +
                                     std::string(server_first) + "," + std::string(without_proof);
    const std::string proof = crypto::xor_bytes(
        client_key, crypto::hmac_sha256(crypto::sha256(client_key), auth_message));
    return std::string(without_proof) + ",p=" + crypto::base64_encode(proof);
}

TEST(Scram, AcceptsYFlagWithMatchingBinding) {
    const ScramSecret secret = make_scram_secret("pw", "salt", 16);
    ScramServer server(secret);
    server.set_nonce_for_test("SERVER");
    const AuthStep first = server.step("y,,n=,r=abc");
    ASSERT_EQ(first.kind, Kind::reply) << first.message;
    const std::string final =
        hand_client_final("pw", secret, "n=,r=abc", first.message, "c=eSws,r=abcSERVER");
    EXPECT_EQ(server.step(final).kind, Kind::done);
}

TEST(Scram, RefusesBindingThatDoesNotMatchGs2Header) {
    const ScramSecret secret = make_scram_secret("pw", "salt", 16);
    for (const auto& [gs2, cbind] : {std::pair{"y,,", "biws"}, std::pair{"n,,", "eSws"},
                                     std::pair{"n,,", "cD10bHMtc2VydmVyLWVuZC1wb2ludCws"}}) {
        ScramServer server(secret);
        server.set_nonce_for_test("SERVER");
        const AuthStep first = server.step(std::string(gs2) + "n=,r=abc");
        ASSERT_EQ(first.kind, Kind::reply);
        const std::string final = hand_client_final("pw", secret, "n=,r=abc", first.message,
                                                    std::string("c=") + cbind + ",r=abcSERVER");
        EXPECT_EQ(server.step(final).kind, Kind::failed) << gs2 << " " << cbind;
    }
}

TEST(Scram, AcceptsExtensionAttributesCoveredByProof) {
    const ScramSecret secret = make_scram_secret("pw", "salt", 16);
    ScramServer server(secret);
    server.set_nonce_for_test("SERVER");
    const AuthStep first = server.step("n,,n=ignored,r=abc,x=ext");
    ASSERT_EQ(first.kind, Kind::reply) << first.message;
    const std::string final = hand_client_final("pw", secret, "n=ignored,r=abc,x=ext",
                                                first.message, "c=biws,r=abcSERVER,z=1");
    EXPECT_EQ(server.step(final).kind, Kind::done);
}

TEST(ScramSecret, RoundTrip) {
    const std::string verifier = make_scram_verifier("pw", 4096);
    const auto secret = ScramSecret::parse(verifier);
    ASSERT_TRUE(secret);
    EXPECT_EQ(secret->iterations, 4096);
    EXPECT_EQ(secret->salt.size(), 16u);
    EXPECT_EQ(secret->stored_key.size(), 32u);
    EXPECT_EQ(secret->server_key.size(), 32u);
    EXPECT_EQ(secret->to_string(), verifier);
    EXPECT_NE(make_scram_verifier("pw"), make_scram_verifier("pw"));  // fresh salt
    EXPECT_THROW(make_scram_verifier("pw", 0), std::invalid_argument);
}

TEST(ScramSecret, ParsesKnownVerifier) {
    const auto parsed = ScramSecret::parse(rfc_verifier);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->iterations, 4096);
    EXPECT_EQ(parsed->salt, crypto::base64_decode(rfc_salt_b64).value());
    EXPECT_EQ(parsed->to_string(), rfc_verifier);
    // A server built from the parsed text verifies the RFC exchange.
    ScramServer server(parsed);
    server.set_nonce_for_test(std::string(rfc_server_nonce));
    ASSERT_EQ(server.step(rfc_client_first).message, rfc_server_first);
    EXPECT_EQ(server.step(rfc_client_final).message, rfc_server_final);
}

TEST(Scram, PostgresStyleEmptyUserName) {
    // libpq sends "n,,n=,r=..."; the RFC exchange with "n=" instead of "n=user" must work too.
    ScramClient client("pencil");
    client.set_nonce_for_test(std::string(rfc_client_nonce));
    ASSERT_EQ(client.first_message(), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    ScramServer server(ScramSecret::parse(rfc_verifier));
    server.set_nonce_for_test(std::string(rfc_server_nonce));
    const AuthStep first = server.step(client.first_message());
    ASSERT_EQ(first.message, rfc_server_first);
    const AuthStep final = client.step(first.message);
    EXPECT_NE(final.message, rfc_client_final);  // the proof covers the empty name
    const AuthStep verdict = server.step(final.message);
    ASSERT_EQ(verdict.kind, Kind::done) << verdict.message;
    EXPECT_EQ(client.step(verdict.message).kind, Kind::done);
}

TEST(Scram, ClientEscapesSaslname) {
    ScramClient client("pw");
    client.set_nonce_for_test("abc", "a=b,c");
    EXPECT_EQ(client.first_message(), "n,,n=a=3Db=2Cc,r=abc");
}

TEST(ScramSecret, RejectsMalformed) {
    const std::string good = rfc_secret().to_string();
    ASSERT_TRUE(ScramSecret::parse(good));
    const std::string keys = good.substr(good.find('$', 14));  // "$<stored>:<server>"
    const std::string stored = keys.substr(1, keys.find(':') - 1);
    for (const std::string& bad : {
             std::string(),
             std::string("SCRAM-SHA-256$"),
             std::string("md5abc"),
             "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$04096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$abc:W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$4096:" + keys,
             "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==" + keys,
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=" + keys,
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + stored,
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + stored + ":",
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + stored + ":Zm9v",
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" + stored + ":" + stored + "$",
             "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" + keys + " ",
             good + std::string(1, '\0'),
         }) {
        EXPECT_FALSE(ScramSecret::parse(bad)) << bad;
    }
}

}  // namespace
}  // namespace pgtenant::auth
