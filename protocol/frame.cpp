#include "protocol/frame.h"

namespace pgtenant::protocol {

FrameStatus peek_startup(std::string_view buf, std::size_t max_total, Frame& out) {
    out = Frame{};
    if (buf.size() < 4) return FrameStatus::need_more;
    return detail::finish_frame(buf, 4, load_u32(buf.data()), max_total, out);
}

}  // namespace pgtenant::protocol
