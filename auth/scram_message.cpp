#include "auth/scram_message.h"

namespace pgtenant::auth::scram_detail {

namespace {
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
}  // namespace

std::optional<std::vector<Attribute>> split_attributes(std::string_view message) {
    if (message.empty() || message.find('\0') != std::string_view::npos) return std::nullopt;
    std::vector<Attribute> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t comma = message.find(',', pos);
        const std::string_view part = message.substr(
            pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        if (part.size() < 2 || !is_letter(part[0]) || part[1] != '=') return std::nullopt;
        out.push_back({part[0], part.substr(2)});
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return out;
}

bool valid_nonce(std::string_view nonce) {
    if (nonce.empty()) return false;
    for (char c : nonce) {
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    }
    return true;
}

std::optional<int> parse_positive_int(std::string_view text, int max) {
    if (text.empty() || text.size() > 10 || text[0] == '0') return std::nullopt;
    long long value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value < 1 || value > max) return std::nullopt;
    return static_cast<int>(value);
}

std::string escape_saslname(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '=')
            out += "=3D";
        else if (c == ',')
            out += "=2C";
        else
            out += c;
    }
    return out;
}

}  // namespace pgtenant::auth::scram_detail
