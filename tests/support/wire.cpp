#include "tests/support/wire.h"

namespace pgtenant::testing::wire {

std::string be32(uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string startup_message(const std::vector<std::pair<std::string, std::string>>& params,
                            uint32_t version) {
    std::string body = be32(version);
    for (const auto& [name, value] : params) {
        body += name;
        body.push_back('\0');
        body += value;
        body.push_back('\0');
    }
    body.push_back('\0');
    return be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string ssl_request() { return be32(8) + be32(80877103); }

std::string message(char tag, const std::string& body) {
    return message_with_length(tag, static_cast<uint32_t>(body.size() + 4), body);
}

std::string message_with_length(char tag, uint32_t length, const std::string& body) {
    return std::string(1, tag) + be32(length) + body;
}

namespace {
std::string cstring(const std::string& s) { return s + '\0'; }
std::string be16(uint16_t v) { return std::string{char(v >> 8), char(v)}; }
uint32_t load32(const std::string& s, std::size_t pos) {
    return (uint32_t(uint8_t(s[pos])) << 24) | (uint32_t(uint8_t(s[pos + 1])) << 16) |
           (uint32_t(uint8_t(s[pos + 2])) << 8) | uint32_t(uint8_t(s[pos + 3]));
}
uint16_t load16(const std::string& s, std::size_t pos) {
    return static_cast<uint16_t>((uint8_t(s[pos]) << 8) | uint8_t(s[pos + 1]));
}
}  // namespace

std::string parse(const std::string& statement, const std::string& sql) {
    return message('P', cstring(statement) + cstring(sql) + be16(0));
}

std::string bind(const std::string& portal, const std::string& statement,
                 const std::vector<std::string>& params) {
    std::string body = cstring(portal) + cstring(statement) + be16(0);
    body += be16(static_cast<uint16_t>(params.size()));
    for (const auto& p : params) body += be32(static_cast<uint32_t>(p.size())) + p;
    return message('B', body + be16(0));
}

std::string describe(char kind, const std::string& name) {
    return message('D', std::string(1, kind) + cstring(name));
}

std::string execute(const std::string& portal) { return message('E', cstring(portal) + be32(0)); }

std::string close(char kind, const std::string& name) {
    return message('C', std::string(1, kind) + cstring(name));
}

std::string sync() { return message('S', ""); }

std::string flush() { return message('H', ""); }

std::string query(const std::string& sql) { return message('Q', cstring(sql)); }

std::vector<std::string> row_description_names(const std::string& msg) {
    std::vector<std::string> names;
    if (msg.size() < 7 || msg[0] != 'T') return names;
    const uint16_t count = load16(msg, 5);
    std::size_t pos = 7;
    for (uint16_t i = 0; i < count; ++i) {
        auto end = msg.find('\0', pos);
        if (end == std::string::npos || end + 19 > msg.size()) return {};
        names.push_back(msg.substr(pos, end - pos));
        pos = end + 19;  // NUL, table oid, column, type oid, length, modifier, format
    }
    return names;
}

std::vector<std::string> data_row_values(const std::string& msg) {
    std::vector<std::string> values;
    if (msg.size() < 7 || msg[0] != 'D') return values;
    const uint16_t count = load16(msg, 5);
    std::size_t pos = 7;
    for (uint16_t i = 0; i < count; ++i) {
        if (pos + 4 > msg.size()) return {};
        const uint32_t len = load32(msg, pos);
        pos += 4;
        if (len == 0xffffffffu) {
            values.push_back("<NULL>");
            continue;
        }
        if (pos + len > msg.size()) return {};
        values.push_back(msg.substr(pos, len));
        pos += len;
    }
    return values;
}

std::map<char, std::string> error_fields(const std::string& msg) {
    std::map<char, std::string> fields;
    if (msg.size() < 6 || (msg[0] != 'E' && msg[0] != 'N')) {
        return fields;
    }
    std::size_t pos = 5;
    while (pos < msg.size() && msg[pos] != '\0') {
        char code = msg[pos++];
        auto end = msg.find('\0', pos);
        if (end == std::string::npos) {
            return {};
        }
        fields[code] = msg.substr(pos, end - pos);
        pos = end + 1;
    }
    return fields;
}

int auth_request_code(const std::string& msg) {
    if (msg.size() < 9 || msg[0] != 'R') {
        return -1;
    }
    return static_cast<int>((uint32_t(uint8_t(msg[5])) << 24) | (uint32_t(uint8_t(msg[6])) << 16) |
                            (uint32_t(uint8_t(msg[7])) << 8) | uint32_t(uint8_t(msg[8])));
}

}  // namespace pgtenant::testing::wire
