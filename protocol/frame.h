#pragma once
// Framing, separate from decoding: where does the next message start and end.
// Regular messages are tag(1) + length(4, counting itself) + body; the startup family has no tag.
// Lengths are checked with 64-bit arithmetic before any body byte is trusted.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/wire.h"

namespace pgtenant::protocol {

enum class FrameStatus {
    complete,   // header and body are all in the buffer
    need_more,  // the header (or body) is not complete yet
    too_short,  // length field below 4: a protocol violation
    too_long,   // length above the configured cap: refuse before reading the body
};

struct Frame {
    char tag = 0;                 // 0 for startup-family packets
    std::size_t header_size = 0;  // 5 for tagged, 4 for startup
    std::size_t total_size = 0;   // header + body, valid unless too_short
    std::string_view body() const { return bytes.substr(header_size); }
    std::string_view bytes;  // the whole frame when complete, else what is buffered
};

namespace detail {
inline FrameStatus finish_frame(std::string_view buf, std::size_t header, uint64_t length,
                                std::size_t max_total, Frame& out) {
    if (length < 4) return FrameStatus::too_short;
    const uint64_t total = length + (header - 4);
    // Set before the cap check: a too_long frame still reports the size it announced.
    out.header_size = header;
    out.total_size = static_cast<std::size_t>(total);
    if (total > max_total) return FrameStatus::too_long;
    if (buf.size() < total) {
        out.bytes = buf;
        return FrameStatus::need_more;
    }
    out.bytes = buf.substr(0, out.total_size);
    return FrameStatus::complete;
}
}  // namespace detail

// `max_total` caps header + body. For need_more with a known header, total_size is set, so a
// caller can decide to stream the rest instead of buffering it. Inline: the relay frames every
// row of a large result with it.
inline FrameStatus peek_frame(std::string_view buf, std::size_t max_total, Frame& out) {
    out = Frame{};
    if (buf.size() < 5) return FrameStatus::need_more;
    out.tag = buf[0];
    return detail::finish_frame(buf, 5, load_u32(buf.data() + 1), max_total, out);
}
FrameStatus peek_startup(std::string_view buf, std::size_t max_total, Frame& out);

}  // namespace pgtenant::protocol
