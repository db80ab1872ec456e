#include "proxy/client_params.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "protocol/guard/judge.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

namespace {

bool valid_setting_name(std::string_view n) {
    if (n.empty() || n.size() > 63) return false;
    for (char c : n)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') return false;
    return true;
}

// Splits `options` the way the server does: whitespace separates, backslash escapes.
std::vector<std::string> split_options(std::string_view s) {
    std::vector<std::string> out;
    std::string cur;
    bool in_word = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_word) out.push_back(std::move(cur)), cur.clear(), in_word = false;
            continue;
        }
        if (c == '\\' && i + 1 < s.size()) c = s[++i];
        cur.push_back(c);
        in_word = true;
    }
    if (in_word) out.push_back(std::move(cur));
    return out;
}

std::optional<protocol::Error> add_setting(std::string_view name, std::string_view value,
                                           const std::string& tenant_setting, StartupRequest& out) {
    if (protocol::guard::is_reserved_setting(name, tenant_setting)) {
        return errors::refused_by_policy(
            errors::Rule{"reserved_setting"},
            fmt::format("the setting \"{}\" is reserved and cannot be set by a client; the "
                        "practice comes only from the login",
                        name));
    }
    if (!valid_setting_name(name)) {
        return errors::protocol_violation(
            fmt::format("invalid startup parameter name \"{}\"", name));
    }
    out.params[lower(name)] = std::string(value);
    return std::nullopt;
}

std::optional<protocol::Error> parse_options(std::string_view options,
                                             const std::string& tenant_setting,
                                             StartupRequest& out) {
    auto words = split_options(options);
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string_view w = words[i];
        std::string_view assignment;
        if (w == "-c" && i + 1 < words.size()) {
            assignment = words[++i];
        } else if (w.starts_with("-c") && w.size() > 2) {
            assignment = w.substr(2);
        } else if (w.starts_with("--") && w.size() > 2) {
            assignment = w.substr(2);
        } else {
            return errors::not_supported_in_pooling(
                errors::Rule{"startup_option"},
                fmt::format("the startup option \"{}\" (only -c name=value is accepted)", w));
        }
        auto eq = assignment.find('=');
        if (eq == std::string_view::npos) {
            return errors::protocol_violation(
                fmt::format("startup option \"{}\" lacks \"=value\"", assignment));
        }
        std::string name(assignment.substr(0, eq));
        std::replace(name.begin(), name.end(), '-', '_');  // the server accepts --work-mem too
        if (auto err = add_setting(name, assignment.substr(eq + 1), tenant_setting, out))
            return err;
    }
    return std::nullopt;
}

}  // namespace

std::optional<protocol::Error> parse_startup_request(const protocol::StartupMessage& msg,
                                                     const std::string& tenant_setting,
                                                     StartupRequest& out) {
    for (const auto& [name, value] : msg.params) {
        if (name == "user") {
            out.user = value;
        } else if (name == "database") {
            out.database = value;
        } else if (name == "replication") {
            if (lower(value) != "false" && lower(value) != "off" && lower(value) != "0" &&
                lower(value) != "no") {
                return errors::refused_by_policy(errors::Rule{"replication"},
                                                 "replication connections are not served");
            }
        } else if (name == "options") {
            if (auto err = parse_options(value, tenant_setting, out)) return err;
        } else if (name.starts_with("_pq_.")) {
            continue;  // protocol options: decode_startup keeps them apart; never settings
        } else if (auto err = add_setting(name, value, tenant_setting, out)) {
            return err;
        }
    }
    if (out.user.empty()) {
        return errors::auth_rejected(errors::Rule{"no_user"},
                                     "no user name was given in the startup packet");
    }
    if (out.database.empty()) out.database = out.user;
    return std::nullopt;
}

}  // namespace pgtenant::proxy
