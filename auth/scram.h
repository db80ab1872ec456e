#pragma once
// SCRAM-SHA-256 (RFC 5802 / RFC 7677) as I/O-free step machines, as PostgreSQL speaks it
// (no channel binding: gs2 header "n,,"; the user name in client-first is ignored, "n=,").
#include <optional>
#include <string>
#include <string_view>

namespace pgtenant::auth {

struct ScramSecret {
    int iterations = 4096;
    std::string salt;        // raw bytes
    std::string stored_key;  // raw 32 bytes
    std::string server_key;  // raw 32 bytes

    static std::optional<ScramSecret> parse(std::string_view verifier);  // PostgreSQL text form
    std::string to_string() const;
};

// A verifier for `password` with a fresh random salt (SASLprep: ASCII passwords as-is).
std::string make_scram_verifier(std::string_view password, int iterations = 4096);

struct AuthStep {
    enum class Kind { reply, done, failed };
    Kind kind = Kind::failed;
    std::string message;  // reply / final server message (done) / reason for logs (failed)
};

// Server side. Constructed with the login's secret, or nullopt for an unknown login: the
// exchange then runs against a fake secret and fails at the proof, exactly like a wrong
// password, so a client cannot tell which part was wrong.
class ScramServer {
public:
    explicit ScramServer(std::optional<ScramSecret> secret);
    // 1st call: client-first-message -> reply(server-first-message)
    // 2nd call: client-final-message -> done(server-final-message "v=...") or failed
    AuthStep step(std::string_view client_message);

private:
    struct State;
    std::optional<ScramSecret> secret_;
    int stage_ = 0;
    std::string client_first_bare_, server_first_, combined_nonce_;
    bool known_;
};

// Client side, used by pgtenant to log in to PostgreSQL as the pool role.
class ScramClient {
public:
    ScramClient(std::string password);
    std::string first_message();  // client-first-message
    // server-first -> reply(client-final); server-final -> done (verified) or failed
    AuthStep step(std::string_view server_message);

private:
    std::string password_, client_nonce_, client_first_bare_, auth_message_;
    std::string salted_password_;
    int stage_ = 0;
};

// PostgreSQL MD5: "md5" + md5hex(md5hex(password + user) + salt).
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
