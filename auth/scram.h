#pragma once
// SCRAM-SHA-256 (RFC 5802 / RFC 7677) as I/O-free step machines, as PostgreSQL speaks it
// (no channel binding: gs2 header "n,,"; the user name in client-first is ignored, "n=,").
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pgtenant::auth {

struct ScramSecret {
    int iterations = 4096;
    std::string salt;        // raw bytes
    std::string stored_key;  // raw 32 bytes
    std::string server_key;  // raw 32 bytes

    static std::optional<ScramSecret> parse(std::string_view verifier);  // PostgreSQL text form
    std::string to_string() const;
};

// A verifier for `password` with a fresh random salt. Passwords are used as their raw UTF-8
// bytes without SASLprep: identical for ASCII, and what PostgreSQL itself does whenever
// SASLprep fails, so a non-ASCII password that SASLprep would change may not interoperate.
// Throws std::invalid_argument for iterations < 1.
std::string make_scram_verifier(std::string_view password, int iterations = 4096);
// The secret for `password` with a given raw salt (tests, tools); same rules as above.
ScramSecret make_scram_secret(std::string_view password, std::string_view salt, int iterations);

struct AuthStep {
    enum class Kind { reply, done, failed };
    Kind kind = Kind::failed;
    std::string message;  // reply / final server message (done) / reason for logs (failed)
};

// Server side. Constructed with the login's secret, or nullopt for an unknown login: the
// exchange then runs against a fake secret and fails at the proof, exactly like a wrong
// password, so a client cannot tell which part was wrong.
// Pass the login name too: for an unknown login it seeds the fake salt, so the same unknown
// name always gets the same salt within a process and different names get different ones,
// just like real logins.
// step() never throws; any malformed input, and any call after done/failed, gives failed.
class ScramServer {
public:
    explicit ScramServer(std::optional<ScramSecret> secret, std::string_view login = {});
    // 1st call: client-first-message -> reply(server-first-message)
    // 2nd call: client-final-message -> done(server-final-message "v=...") or failed
    AuthStep step(std::string_view client_message);

    // Tests only: use this server nonce instead of a random one. Call before the first step.
    void set_nonce_for_test(std::string server_nonce) { test_nonce_ = std::move(server_nonce); }

private:
    AuthStep handle_first(std::string_view message);
    AuthStep handle_final(std::string_view message);

    ScramSecret secret_;
    bool known_;
    int stage_ = 0;
    std::string gs2_header_, client_first_bare_, server_first_, combined_nonce_, test_nonce_;
};

// Client side, used by pgtenant to log in to PostgreSQL as the pool role.
// Sends "n,,n=,r=<nonce>" like libpq. Rejects server iteration counts outside
// 1..max_server_iterations. step() never throws.
class ScramClient {
public:
    static constexpr int max_server_iterations = 1'000'000;

    ScramClient(std::string password);
    std::string first_message();  // client-first-message (same text if called again)
    // server-first -> reply(client-final); server-final -> done (verified) or failed
    AuthStep step(std::string_view server_message);

    // Tests only: use this client nonce (and optionally a user name in "n=") instead of a
    // random nonce and "n=". Call before first_message().
    void set_nonce_for_test(std::string nonce, std::string user = {}) {
        client_nonce_ = std::move(nonce);
        user_ = std::move(user);
    }

private:
    AuthStep handle_first(std::string_view message);
    AuthStep handle_final(std::string_view message);

    std::string password_, user_, client_nonce_, client_first_bare_, auth_message_;
    std::string salted_password_;
    int stage_ = 0;  // 0: nothing sent, 1: first sent, 2: final sent, 3: finished
};

// PostgreSQL MD5: "md5" + md5hex(md5hex(password + user) + salt). All three return "" when
// salt4 is not 4 bytes or `stored` is not "md5" + 32 hex digits (it then matches no response).
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);
// The stored form "md5" + md5hex(password + user), and the response computed from it.
std::string md5_stored_hash(std::string_view user, std::string_view password);
std::string md5_response_from_stored(std::string_view stored, std::string_view salt4);

// Cryptographic random bytes (OpenSSL RAND_bytes); throws on failure.
std::string random_bytes(std::size_t n);
// Constant-time equality for secrets.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pgtenant::auth
