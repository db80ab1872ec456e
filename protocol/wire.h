#pragma once
// Byte-level helpers for the PostgreSQL v3 wire format: big-endian integers, a bounds-checked
// reader over one message body, and a writer that builds messages with their length filled in.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pgtenant::protocol {

inline uint32_t load_u32(const char* p) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}
inline uint16_t load_u16(const char* p) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

// Reads fields from one message body. Any read past the end, or a string without its NUL,
// sets ok() to false and returns empty values; callers check ok() once at the end.
class MessageReader {
public:
    explicit MessageReader(std::string_view body) : body_(body) {}

    uint8_t byte();
    int16_t int16();
    int32_t int32();
    std::string_view cstring();        // without the terminating NUL
    std::string_view bytes(std::size_t n);
    std::string_view rest();

    bool ok() const { return ok_; }
    bool at_end() const { return pos_ == body_.size(); }
    std::size_t remaining() const { return body_.size() - pos_; }

private:
    bool need(std::size_t n);
    std::string_view body_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

// Appends messages to a string. begin(tag) reserves the length, end() fills it in.
class MessageWriter {
public:
    explicit MessageWriter(std::string& out) : out_(out) {}

    MessageWriter& begin(char tag);
    MessageWriter& begin_untagged();   // startup-style: length first
    MessageWriter& byte(uint8_t v);
    MessageWriter& int16(int16_t v);
    MessageWriter& int32(int32_t v);
    MessageWriter& cstring(std::string_view s);
    MessageWriter& bytes(std::string_view s);
    void end();

private:
    std::string& out_;
    std::size_t len_pos_ = 0;
};

}  // namespace pgtenant::protocol
