#pragma once
// The practice directory: which logins exist, which practice each belongs to, and the secret
// each authenticates with, and each practice's own limits. Loaded from a TOML users file; never
// holds plaintext passwords.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgtenant::auth {

enum class LoginPoolMode { inherit, transaction, session };

struct Login {
    std::string name;
    std::string practice_id;     // canonical lower-case UUID text; empty for an admin
    bool admin = false;          // the console (database "pgtenant") only, no practice
    std::string scram_verifier;  // "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>"
    std::string md5_hash;        // optional "md5<32 hex>" of password+name, for MD5 clients
    LoginPoolMode pool_mode = LoginPoolMode::inherit;
};

// A practice's own limits ([[practice]] in the users file); 0 = the global default applies.
struct PracticeLimits {
    int max_client_connections = 0;
    int max_server_connections = 0;
};

class DirectoryError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class PracticeDirectory {
  public:
    // Throws DirectoryError naming the entry and key at fault.
    static std::shared_ptr<const PracticeDirectory> load(const std::string& path);
    static std::shared_ptr<const PracticeDirectory> parse(std::string_view toml_text);

    const Login* find(std::string_view user) const;
    std::size_t size() const { return logins_.size(); }
    const std::unordered_map<std::string, Login>& logins() const { return logins_; }
    // By canonical practice id: the practices that have a [[practice]] entry.
    const std::unordered_map<std::string, PracticeLimits>& limits() const { return limits_; }

  private:
    // Shared by load() and parse(); `source` names the file in error messages.
    static std::shared_ptr<const PracticeDirectory> build(std::string_view text,
                                                          const std::string& source);

    std::unordered_map<std::string, Login> logins_;
    std::unordered_map<std::string, PracticeLimits> limits_;
};

}  // namespace pgtenant::auth
