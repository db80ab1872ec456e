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
