#pragma once
// Small helpers that spell wire bytes out by hand, so tests state exactly what is on the wire
// without going through the code under test.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace pgtenant::protocol::test {

inline std::string be32(uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
            static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

inline std::string be16(uint16_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A NUL-terminated string field.
inline std::string cstr(std::string_view s) {
    std::string out(s);
    out.push_back('\0');
    return out;
}

// Raw bytes from a list of values 0..255.
inline std::string raw(std::initializer_list<int> bytes) {
    std::string out;
    for (int b : bytes) out.push_back(static_cast<char>(b));
    return out;
}

// tag + length (counting itself) + body.
inline std::string tagged(char tag, std::string_view body) {
    std::string out(1, tag);
    out += be32(static_cast<uint32_t>(body.size() + 4));
    out += body;
    return out;
}

// Startup family: length (counting itself) + body.
inline std::string untagged(std::string_view body) {
    return be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

// The body of one tagged / untagged frame built by a builder, as a view into `frame` (decoded
// views point into it, so it must outlive them).
inline std::string_view tagged_body(const std::string& frame) {
    return std::string_view(frame).substr(5);
}
inline std::string_view untagged_body(const std::string& frame) {
    return std::string_view(frame).substr(4);
}

}  // namespace pgtenant::protocol::test
