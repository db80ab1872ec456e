#include "protocol/wire.h"

namespace pgtenant::protocol {

bool MessageReader::need(std::size_t n) {
    if (!ok_ || body_.size() - pos_ < n) {
        ok_ = false;
        return false;
    }
    return true;
}

uint8_t MessageReader::byte() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(body_[pos_++]);
}

int16_t MessageReader::int16() {
    if (!need(2)) return 0;
    auto v = static_cast<int16_t>(load_u16(body_.data() + pos_));
    pos_ += 2;
    return v;
}

int32_t MessageReader::int32() {
    if (!need(4)) return 0;
    auto v = static_cast<int32_t>(load_u32(body_.data() + pos_));
    pos_ += 4;
    return v;
}

std::string_view MessageReader::cstring() {
    if (!ok_) return {};
    auto nul = body_.find('\0', pos_);
    if (nul == std::string_view::npos) {
        ok_ = false;
        return {};
    }
    auto s = body_.substr(pos_, nul - pos_);
    pos_ = nul + 1;
    return s;
}

std::string_view MessageReader::bytes(std::size_t n) {
    if (!need(n)) return {};
    auto s = body_.substr(pos_, n);
    pos_ += n;
    return s;
}

std::string_view MessageReader::rest() {
    if (!ok_) return {};
    auto s = body_.substr(pos_);
    pos_ = body_.size();
    return s;
}

MessageWriter& MessageWriter::begin(char tag) {
    out_.push_back(tag);
    return begin_untagged();
}

MessageWriter& MessageWriter::begin_untagged() {
    len_pos_ = out_.size();
    out_.append(4, '\0');
    return *this;
}

MessageWriter& MessageWriter::byte(uint8_t v) {
    out_.push_back(static_cast<char>(v));
    return *this;
}

MessageWriter& MessageWriter::int16(int16_t v) {
    auto u = static_cast<uint16_t>(v);
    out_.push_back(static_cast<char>(u >> 8));
    out_.push_back(static_cast<char>(u & 0xff));
    return *this;
}

MessageWriter& MessageWriter::int32(int32_t v) {
    auto u = static_cast<uint32_t>(v);
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>((u >> shift) & 0xff));
    return *this;
}

MessageWriter& MessageWriter::cstring(std::string_view s) {
    out_.append(s);
    out_.push_back('\0');
    return *this;
}

MessageWriter& MessageWriter::bytes(std::string_view s) {
    out_.append(s);
    return *this;
}

void MessageWriter::end() {
    auto len = static_cast<uint32_t>(out_.size() - len_pos_);
    for (int i = 0; i < 4; ++i) out_[len_pos_ + i] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
}

}  // namespace pgtenant::protocol
