#pragma once
// Framing, separate from decoding: where does the next message start and end.
// Regular messages are tag(1) + length(4, counting itself) + body; the startup family has no tag.
// Lengths are checked with 64-bit arithmetic before any body byte is trusted.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pgtenant::protocol {

enum class FrameStatus {
    complete,    // header and body are all in the buffer
    need_more,   // the header (or body) is not complete yet
    too_short,   // length field below 4: a protocol violation
    too_long,    // length above the configured cap: refuse before reading the body
};

struct Frame {
    char tag = 0;                 // 0 for startup-family packets
    std::size_t header_size = 0;  // 5 for tagged, 4 for startup
    std::size_t total_size = 0;   // header + body, valid unless too_short
    std::string_view body() const { return bytes.substr(header_size); }
    std::string_view bytes;       // the whole frame when complete, else what is buffered
};

// `max_total` caps header + body. For need_more with a known header, total_size is set, so a
// caller can decide to stream the rest instead of buffering it.
FrameStatus peek_frame(std::string_view buf, std::size_t max_total, Frame& out);
FrameStatus peek_startup(std::string_view buf, std::size_t max_total, Frame& out);

}  // namespace pgtenant::protocol
