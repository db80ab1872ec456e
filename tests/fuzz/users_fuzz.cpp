// Fuzz target: the users file loader (auth/directory.cpp, PracticeDirectory::parse) on
// arbitrary TOML text, and the stored secrets of the logins it accepts, used as the session
// uses them (ScramSecret::parse of the verifier, the MD5 hash as a response's key).
//
// Checked besides "no crash": the only exception is DirectoryError; an accepted file has one
// login per [[login]] entry (names unique), each found by its name, bound to a canonical
// lower-case uuid, with a verifier that parses or an MD5 hash of the documented form.
#include <toml++/toml.h>

#include <string>
#include <string_view>

#include "auth/directory.h"
#include "auth/scram.h"
#include "fuzz_support.h"

namespace pgtenant::fuzz {
namespace {

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void check_login(const auth::Login& login, std::string_view name) {
    FUZZ_CHECK(login.name == name);
    FUZZ_CHECK(!login.name.empty() && login.name.size() <= 63);
    const auto& u = login.practice_id;
    FUZZ_CHECK(u.size() == 36);
    for (std::size_t i = 0; i < u.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        FUZZ_CHECK(dash ? u[i] == '-' : is_lower_hex(u[i]));
    }
    FUZZ_CHECK(!login.scram_verifier.empty() || !login.md5_hash.empty());
    if (!login.scram_verifier.empty()) {
        FUZZ_CHECK(auth::ScramSecret::parse(login.scram_verifier).has_value());
    }
    if (!login.md5_hash.empty()) {
        FUZZ_CHECK(login.md5_hash.size() == 35 && login.md5_hash.starts_with("md5"));
        FUZZ_CHECK(auth::md5_response_from_stored(login.md5_hash, "salt").size() == 35);
    }
}

void fuzz_one(std::string_view text) {
    std::shared_ptr<const auth::PracticeDirectory> dir;
    try {
        dir = auth::PracticeDirectory::parse(text);
    } catch (const auth::DirectoryError& e) {
        FUZZ_CHECK(std::string_view(e.what()).find(": ") != std::string_view::npos);
        return;
    }
    FUZZ_CHECK(dir != nullptr);
    // Accepted: the same text is valid TOML, so enumerate its entries independently.
    const toml::table root = toml::parse(text);
    const toml::array* logins = root["login"].as_array();
    if (logins == nullptr) {
        FUZZ_CHECK(dir->size() == 0);
        return;
    }
    FUZZ_CHECK(dir->size() == logins->size());
    for (const auto& entry : *logins) {
        const auto* name = entry.as_table()->get_as<std::string>("name");
        FUZZ_CHECK(name != nullptr);
        const auth::Login* login = dir->find(name->get());
        FUZZ_CHECK(login != nullptr);
        check_login(*login, name->get());
    }
    FUZZ_CHECK(dir->find("") == nullptr);
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
