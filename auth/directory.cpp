// The users TOML file -> PracticeDirectory. Every rejection names the entry and key at fault,
// because an operator fixing a users file with hundreds of logins needs to find the line.
#include "auth/directory.h"

#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "auth/scram.h"

namespace pgtenant::auth {

namespace {

constexpr std::size_t max_name_bytes = 63;  // PostgreSQL's NAMEDATALEN - 1

// Where we are in the file, for error messages.
struct Where {
    std::string source;
    std::size_t index = 0;
    std::string name;  // empty until the entry's name is known
    std::uint32_t line = 0;
};

std::string location(const std::string& source, std::uint32_t line) {
    return line > 0 ? source + ":" + std::to_string(line) : source;
}

[[noreturn]] void fail(const Where& at, std::string_view key, std::string_view problem,
                       const toml::node* node = nullptr) {
    const std::uint32_t line =
        node && node->source().begin.line ? node->source().begin.line : at.line;
    std::string msg = location(at.source, line) + ": login[" + std::to_string(at.index) + "]";
    if (!at.name.empty()) msg += " \"" + at.name + "\"";
    msg += ": " + std::string(key) + ": " + std::string(problem);
    throw DirectoryError(msg);
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::string> canonical_uuid(std::string_view text) {
    if (text.size() != 36) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? text[i] != '-' : !is_hex(text[i])) return std::nullopt;
        out += to_lower(text[i]);
    }
    return out;
}

std::optional<std::string> canonical_md5(std::string_view text) {
    if (text.size() != 35 || !text.starts_with("md5")) return std::nullopt;
    std::string out = "md5";
    for (char c : text.substr(3)) {
        if (!is_hex(c)) return std::nullopt;
        out += to_lower(c);
    }
    return out;
}

// A string-valued key, or nullopt when absent; fails when present with another type.
std::optional<std::string> string_key(const toml::table& entry, std::string_view key,
                                      const Where& at) {
    const toml::node* node = entry.get(key);
    if (!node) return std::nullopt;
    const auto* value = node->as_string();
    if (!value) fail(at, key, "expected a string", node);
    return value->get();
}

void check_keys(const toml::table& entry, const Where& at) {
    for (auto&& [key, node] : entry) {
        const std::string_view k = key.str();
        if (k == "password")
            fail(at, k,
                 "plaintext passwords are refused; put a verifier made with "
                 "`pgtenant scram-verifier` in scram = \"SCRAM-SHA-256$...\"",
                 &node);
        if (k != "name" && k != "practice" && k != "scram" && k != "md5" && k != "pool_mode" &&
            k != "admin")
            fail(at, k, "unknown key (allowed: name, practice, scram, md5, pool_mode, admin)",
                 &node);
    }
}

Login parse_login(const toml::table& entry, Where& at) {
    Login login;
    const auto name = string_key(entry, "name", at);
    if (!name) fail(at, "name", "required");
    if (name->empty() || name->size() > max_name_bytes)
        fail(at, "name", "must be 1 to 63 bytes", entry.get("name"));
    for (char c : *name) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            fail(at, "name", "contains a control character", entry.get("name"));
    }
    login.name = *name;
    at.name = *name;

    check_keys(entry, at);

    if (const toml::node* admin = entry.get("admin")) {
        const auto* flag = admin->as_boolean();
        if (!flag) fail(at, "admin", "expected true or false", admin);
        login.admin = flag->get();
    }
    const auto practice = string_key(entry, "practice", at);
    if (login.admin) {
        // An admin reaches the console only: no practice's data, so no practice to name.
        if (practice)
            fail(at, "practice", "an admin login is bound to no practice (remove the key)",
                 entry.get("practice"));
        if (entry.get("pool_mode"))
            fail(at, "pool_mode", "an admin login uses no server connection (remove the key)",
                 entry.get("pool_mode"));
    } else {
        if (!practice) fail(at, "practice", "required (or admin = true for a console login)");
        const auto uuid = canonical_uuid(*practice);
        if (!uuid) fail(at, "practice", "not a UUID", entry.get("practice"));
        login.practice_id = *uuid;
    }

    if (const auto scram = string_key(entry, "scram", at)) {
        if (!ScramSecret::parse(*scram))
            fail(at, "scram",
                 "not a valid verifier (expected "
                 "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>)",
                 entry.get("scram"));
        login.scram_verifier = *scram;
    }
    if (const auto md5 = string_key(entry, "md5", at)) {
        const auto hash = canonical_md5(*md5);
        if (!hash) fail(at, "md5", "expected \"md5\" followed by 32 hex digits", entry.get("md5"));
        login.md5_hash = *hash;
    }
    if (login.scram_verifier.empty() && login.md5_hash.empty())
        fail(at, "scram", "required unless md5 is given");

    if (const auto mode = string_key(entry, "pool_mode", at)) {
        if (*mode == "transaction")
            login.pool_mode = LoginPoolMode::transaction;
        else if (*mode == "session")
            login.pool_mode = LoginPoolMode::session;
        else
            fail(at, "pool_mode", "expected \"transaction\" or \"session\"",
                 entry.get("pool_mode"));
    }
    return login;
}

// [[practice]] id = "<uuid>", max_client_connections = N, max_server_connections = N.
void parse_practice(const toml::table& entry, const std::string& source, std::size_t index,
                    std::unordered_map<std::string, PracticeLimits>& out) {
    auto fail_at = [&](std::string_view key, std::string_view problem, const toml::node* node) {
        const std::uint32_t line = node && node->source().begin.line ? node->source().begin.line
                                                                     : entry.source().begin.line;
        throw DirectoryError(location(source, line) + ": practice[" + std::to_string(index) +
                             "]: " + std::string(key) + ": " + std::string(problem));
    };
    const toml::node* id = entry.get("id");
    if (!id || !id->as_string()) fail_at("id", "required: the practice's UUID", id);
    const auto uuid = canonical_uuid(id->as_string()->get());
    if (!uuid) fail_at("id", "not a UUID", id);
    PracticeLimits limits;
    for (auto&& [key, node] : entry) {
        const std::string_view k = key.str();
        if (k == "id") continue;
        int* field = k == "max_client_connections"   ? &limits.max_client_connections
                     : k == "max_server_connections" ? &limits.max_server_connections
                                                     : nullptr;
        if (!field)
            fail_at(k, "unknown key (allowed: id, max_client_connections, max_server_connections)",
                    &node);
        const auto* value = node.as_integer();
        if (!value || value->get() < 1 || value->get() > 1'000'000)
            fail_at(k, "expected a whole number from 1 to 1000000", &node);
        *field = static_cast<int>(value->get());
    }
    if (!out.emplace(*uuid, limits).second) fail_at("id", "duplicate practice", id);
}

toml::table parse_toml(std::string_view text, const std::string& source) {
    try {
        return toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        const auto& begin = e.source().begin;
        throw DirectoryError(source + ":" + std::to_string(begin.line) + ":" +
                             std::to_string(begin.column) + ": " + std::string(e.description()));
    }
}

}  // namespace

std::shared_ptr<const PracticeDirectory> PracticeDirectory::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DirectoryError(path + ": cannot read users file: " + std::strerror(errno));
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw DirectoryError(path + ": error reading users file");
    return build(buffer.str(), path);
}

std::shared_ptr<const PracticeDirectory> PracticeDirectory::parse(std::string_view toml_text) {
    return build(toml_text, "users file");
}

std::shared_ptr<const PracticeDirectory> PracticeDirectory::build(std::string_view text,
                                                                  const std::string& source) {
    const toml::table root = parse_toml(text, source);
    auto dir = std::make_shared<PracticeDirectory>();
    std::unordered_map<std::string, std::size_t> first_index;

    for (auto&& [key, node] : root) {
        if (key.str() != "login" && key.str() != "practice")
            throw DirectoryError(
                location(source, node.source().begin.line) + ": " + std::string(key.str()) +
                ": unknown top-level key (expected [[login]] and [[practice]] entries)");
    }
    if (const toml::node* practices = root.get("practice")) {
        const toml::array* array = practices->as_array();
        if (!array || !array->is_array_of_tables())
            throw DirectoryError(location(source, practices->source().begin.line) +
                                 ": practice: expected [[practice]] tables");
        for (std::size_t i = 0; i < array->size(); ++i)
            parse_practice(*array->get(i)->as_table(), source, i, dir->limits_);
    }
    const toml::node* logins = root.get("login");
    if (!logins) return dir;
    const toml::array* array = logins->as_array();
    if (!array || !array->is_array_of_tables())
        throw DirectoryError(location(source, logins->source().begin.line) +
                             ": login: expected [[login]] tables");

    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::table& entry = *array->get(i)->as_table();
        Where at{source, i, {}, entry.source().begin.line};
        Login login = parse_login(entry, at);
        const auto [it, inserted] = first_index.emplace(login.name, i);
        if (!inserted)
            fail(at, "name",
                 "duplicate login (first defined at login[" + std::to_string(it->second) + "])",
                 entry.get("name"));
        dir->logins_.emplace(login.name, std::move(login));
    }
    return dir;
}

const Login* PracticeDirectory::find(std::string_view user) const {
    const auto it = logins_.find(std::string(user));
    return it == logins_.end() ? nullptr : &it->second;
}

}  // namespace pgtenant::auth
