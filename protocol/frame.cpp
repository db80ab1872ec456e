#include "protocol/frame.h"

#include "protocol/wire.h"

namespace pgtenant::protocol {

namespace {

FrameStatus finish(std::string_view buf, std::size_t header, uint64_t length, std::size_t max_total,
                   Frame& out) {
    if (length < 4) return FrameStatus::too_short;
    uint64_t total = length + (header - 4);
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

}  // namespace

FrameStatus peek_frame(std::string_view buf, std::size_t max_total, Frame& out) {
    out = Frame{};
    if (buf.size() < 5) return FrameStatus::need_more;
    out.tag = buf[0];
    return finish(buf, 5, load_u32(buf.data() + 1), max_total, out);
}

FrameStatus peek_startup(std::string_view buf, std::size_t max_total, Frame& out) {
    out = Frame{};
    if (buf.size() < 4) return FrameStatus::need_more;
    return finish(buf, 4, load_u32(buf.data()), max_total, out);
}

}  // namespace pgtenant::protocol
