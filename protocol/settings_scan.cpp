#include "protocol/settings_scan.h"

#include <cctype>

namespace pgtenant::protocol {

namespace {

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// Decodes the JSON string starting at json[pos] (just after its opening quote), lower-cased
// (ASCII) when `lower`. Returns the position just past its closing quote, or npos for a
// malformed string. \u escapes outside ASCII are kept as '?', which never matches a reserved
// name but still counts as a name (libpg_query escapes control characters only).
std::size_t decode_json_string(std::string_view json, std::size_t pos, std::string& out,
                               bool lower) {
    constexpr auto npos = std::string_view::npos;
    auto put = [&](char c) { out.push_back(lower ? lower_ascii(c) : c); };
    out.clear();
    while (pos < json.size()) {
        char c = json[pos++];
        if (c == '"') return pos;
        if (c != '\\') {
            put(c);
            continue;
        }
        if (pos >= json.size()) return npos;
        char e = json[pos++];
        switch (e) {
            case 'u': {
                if (pos + 4 > json.size()) return npos;
                unsigned v = 0;
                for (int i = 0; i < 4; ++i) {
                    char h = json[pos++];
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
                    else return npos;
                }
                put(v < 0x80 ? static_cast<char>(v) : '?');
                break;
            }
            case 'n': out.push_back('\n'); break;
            case 't': out.push_back('\t'); break;
            case 'r': out.push_back('\r'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            default: put(e); break;  // \" \\ \/
        }
    }
    return npos;
}

bool read_json_string(std::string_view json, std::size_t pos, std::string& out) {
    return decode_json_string(json, pos, out, true) != std::string_view::npos;
}

bool starts_at(std::string_view json, std::size_t pos, std::string_view what) {
    return pos <= json.size() && json.substr(pos, what.size()) == what;
}

// SET/RESET statements, and the SET inside ALTER ROLE / ALTER DATABASE (key "setstmt").
void scan_variable_set(std::string_view json, std::string_view node, SettingWrites& w) {
    for (auto pos = json.find(node); pos != std::string_view::npos; pos = json.find(node, pos + 1)) {
        std::size_t p = pos + node.size();
        // Fields come in struct order: kind, then name (absent for RESET ALL).
        if (starts_at(json, p, "\"kind\":\"VAR_RESET_ALL\"")) {
            w.reset_all = true;
            continue;
        }
        auto kind_end = json.find('"', json.find(':', p) + 2);
        if (kind_end == std::string_view::npos) continue;
        p = kind_end + 1;
        std::string name;
        if (starts_at(json, p, ",\"name\":\"") && read_json_string(json, p + 9, name) && !name.empty())
            w.names.push_back(std::move(name));
    }
}

void scan_set_config(std::string_view json, SettingWrites& w) {
    constexpr std::string_view kNode = "\"FuncCall\":{\"funcname\":[";
    constexpr std::string_view kPart = "{\"String\":{\"sval\":\"";
    for (auto pos = json.find(kNode); pos != std::string_view::npos; pos = json.find(kNode, pos + 1)) {
        std::size_t p = pos + kNode.size();
        std::string part, last;
        // funcname is a list of {"String":{"sval":"..."}}; the last one is the function.
        while (starts_at(json, p, kPart)) {
            p = decode_json_string(json, p + kPart.size(), part, true);
            if (p == std::string_view::npos || !starts_at(json, p, "}}")) return;
            last = part;
            p += 2;
            if (starts_at(json, p, ",")) ++p;
        }
        if (last != "set_config") continue;
        constexpr std::string_view kArgs = "],\"args\":[";
        constexpr std::string_view kConst = "{\"A_Const\":{\"sval\":{\"sval\":\"";
        std::string name;
        if (starts_at(json, p, kArgs) && starts_at(json, p + kArgs.size(), kConst) &&
            read_json_string(json, p + kArgs.size() + kConst.size(), name) && !name.empty()) {
            w.names.push_back(std::move(name));
            continue;
        }
        w.computed_name = true;  // a parameter, an expression, an identifier: cannot be checked
    }
}

// One A_Const argument of SET as text, or nullopt for anything else (a cast, an interval...).
std::optional<std::string> read_const(std::string_view json, std::size_t& p) {
    constexpr std::string_view kConst = "{\"A_Const\":{";
    if (!starts_at(json, p, kConst)) return std::nullopt;
    p += kConst.size();
    std::string out;
    for (std::string_view kind : {"sval", "fval", "ival", "boolval"}) {
        std::string key = "\"" + std::string(kind) + "\":{";
        if (!starts_at(json, p, key)) continue;
        p += key.size();
        if (starts_at(json, p, "}")) {
            out = kind == "boolval" ? "off" : "0";  // zero values are omitted from the tree
        } else if (kind == "ival") {
            std::size_t q = json.find(':', p) + 1, e = q;
            while (e < json.size() && (std::isdigit(static_cast<unsigned char>(json[e])) || json[e] == '-')) ++e;
            out.assign(json.substr(q, e - q));
        } else if (kind == "boolval") {
            out = "on";
        } else {
            std::size_t q = json.find(":\"", p);
            if (q == std::string_view::npos) return std::nullopt;
            // Values keep their case. The search for the element's end starts past the string,
            // whose text may contain "}}".
            p = decode_json_string(json, q + 2, out, false);
            if (p == std::string_view::npos) return std::nullopt;
        }
        // Skip to the end of this A_Const element: "...,"location":N}}".
        std::size_t end = json.find("}}", p);
        if (end == std::string_view::npos) return std::nullopt;
        p = end + 2;
        return out;
    }
    return std::nullopt;
}

bool plain_identifier(std::string_view v) {
    if (v.empty() || !(std::islower(static_cast<unsigned char>(v[0])) || v[0] == '_')) return false;
    for (char c : v)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
              c == '$'))
            return false;
    return true;
}

void scan_session_sets(std::string_view json, SettingWrites& w) {
    constexpr std::string_view kNode = "{\"stmt\":{\"VariableSetStmt\":{\"kind\":\"";
    for (auto pos = json.find(kNode); pos != std::string_view::npos; pos = json.find(kNode, pos + 1)) {
        std::size_t p = pos + kNode.size();
        auto kind_end = json.find('"', p);
        std::string_view kind = json.substr(p, kind_end - p);
        if (kind != "VAR_SET_VALUE" && kind != "VAR_SET_DEFAULT" && kind != "VAR_RESET") continue;
        p = kind_end + 1;
        SessionSet set;
        if (!starts_at(json, p, ",\"name\":\"")) continue;
        p = decode_json_string(json, p + 9, set.name, true);
        if (p == std::string_view::npos) continue;
        if (kind == "VAR_SET_VALUE") {
            std::vector<std::string> values;
            if (starts_at(json, p, ",\"args\":[")) {
                p += 9;
                for (;;) {
                    auto v = read_const(json, p);
                    if (!v) {
                        set.understood = false;
                        break;
                    }
                    values.push_back(std::move(*v));
                    if (!starts_at(json, p, ",")) break;
                    ++p;
                }
                if (set.understood) ++p;  // the closing ']'
            }
            std::string joined;
            const bool list = values.size() > 1 || set.name == "search_path";
            for (const auto& v : values) {
                if (!joined.empty()) joined += ", ";
                if (list && !plain_identifier(v)) {
                    joined += '"';
                    for (char c : v) joined += c == '"' ? std::string("\"\"") : std::string(1, c);
                    joined += '"';
                } else {
                    joined += v;
                }
            }
            set.value = std::move(joined);
        }
        if (set.understood && starts_at(json, p, ",\"is_local\":true")) continue;  // SET LOCAL
        w.session_sets.push_back(std::move(set));
    }
}

}  // namespace

SettingWrites scan_setting_writes(std::string_view json) {
    SettingWrites w;
    scan_variable_set(json, "\"VariableSetStmt\":{", w);
    scan_variable_set(json, "\"setstmt\":{", w);
    scan_set_config(json, w);
    scan_session_sets(json, w);
    w.alters_defaults = json.find("\"AlterRoleSetStmt\":{") != std::string_view::npos ||
                        json.find("\"AlterDatabaseSetStmt\":{") != std::string_view::npos;
    w.sql_prepared = json.find("\"PrepareStmt\":{") != std::string_view::npos ||
                     json.find("\"ExecuteStmt\":{") != std::string_view::npos ||
                     json.find("\"DeallocateStmt\":{\"name\"") != std::string_view::npos;
    return w;
}

}  // namespace pgtenant::protocol
