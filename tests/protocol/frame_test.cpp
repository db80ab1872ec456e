#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "protocol/test_bytes.h"

namespace pgtenant::protocol {
namespace {

using test::be32;
using test::cstr;
using test::tagged;
using test::untagged;

constexpr std::size_t kCap = 1 << 20;

TEST(PeekFrame, CompleteFrameLeavesFollowingBytesAlone) {
    const std::string query = tagged('Q', cstr("SELECT 1"));
    const std::string buf = query + tagged('S', "");
    Frame f;
    ASSERT_EQ(peek_frame(buf, kCap, f), FrameStatus::complete);
    EXPECT_EQ(f.tag, 'Q');
    EXPECT_EQ(f.header_size, 5u);
    EXPECT_EQ(f.total_size, query.size());
    EXPECT_EQ(f.bytes, query);
    EXPECT_EQ(f.body(), cstr("SELECT 1"));

    ASSERT_EQ(peek_frame(std::string_view(buf).substr(f.total_size), kCap, f),
              FrameStatus::complete);
    EXPECT_EQ(f.tag, 'S');
    EXPECT_EQ(f.total_size, 5u);
    EXPECT_TRUE(f.body().empty());
}

TEST(PeekFrame, NeedMoreAtEveryTruncationPoint) {
    const std::string msg = tagged('P', cstr("s1") + cstr("SELECT $1") + test::be16(0));
    for (std::size_t n = 0; n < msg.size(); ++n) {
        SCOPED_TRACE(n);
        Frame f;
        ASSERT_EQ(peek_frame(std::string_view(msg).substr(0, n), kCap, f), FrameStatus::need_more);
        EXPECT_EQ(f.bytes.size(), n >= 5 ? n : 0u);
        if (n >= 5) {
            // The header is known: the caller learns the full size before the body arrives.
            EXPECT_EQ(f.tag, 'P');
            EXPECT_EQ(f.header_size, 5u);
            EXPECT_EQ(f.total_size, msg.size());
        } else {
            EXPECT_EQ(f.total_size, 0u);
        }
    }
    Frame f;
    EXPECT_EQ(peek_frame(msg, kCap, f), FrameStatus::complete);
}

TEST(PeekFrame, LengthBelowFourIsTooShort) {
    for (uint32_t len = 0; len < 4; ++len) {
        SCOPED_TRACE(len);
        Frame f;
        EXPECT_EQ(peek_frame("X" + be32(len), kCap, f), FrameStatus::too_short);
        EXPECT_EQ(peek_frame("X" + be32(len) + "payload", kCap, f), FrameStatus::too_short);
    }
    Frame f;
    EXPECT_EQ(peek_frame("X" + be32(4), kCap, f), FrameStatus::complete);
}

TEST(PeekFrame, ExactCapBoundary) {
    // total = 1 + length; a frame of exactly the cap is allowed, one byte more is not.
    const std::size_t cap = 64;
    const std::string at_cap = tagged('d', std::string(cap - 5, 'x'));
    ASSERT_EQ(at_cap.size(), cap);
    Frame f;
    EXPECT_EQ(peek_frame(at_cap, cap, f), FrameStatus::complete);
    EXPECT_EQ(peek_frame(at_cap.substr(0, 5), cap, f), FrameStatus::need_more);
    EXPECT_EQ(f.total_size, cap);

    const std::string over = tagged('d', std::string(cap - 4, 'x'));
    EXPECT_EQ(peek_frame(over, cap, f), FrameStatus::too_long);
    // Refused from the header alone, before any body byte is buffered.
    EXPECT_EQ(peek_frame(over.substr(0, 5), cap, f), FrameStatus::too_long);
}

TEST(PeekFrame, TooLongReportsTheAnnouncedSize) {
    Frame f;
    ASSERT_EQ(peek_frame("D" + be32(1000), 100, f), FrameStatus::too_long);
    EXPECT_EQ(f.tag, 'D');
    EXPECT_EQ(f.header_size, 5u);
    EXPECT_EQ(f.total_size, 1001u);
}

TEST(PeekFrame, LengthsNearTwoToThe32DoNotOverflow) {
    for (uint32_t len :
         {0x7fffffffu, 0x80000000u, 0xfffffffbu, 0xfffffffcu, 0xfffffffeu, 0xffffffffu}) {
        SCOPED_TRACE(len);
        Frame f;
        EXPECT_EQ(peek_frame("D" + be32(len), kCap, f), FrameStatus::too_long);
    }
    // With a cap of 2^32 - 1, length 0xffffffff makes a total of 2^32: 32-bit arithmetic
    // would wrap it to 0 and accept it.
    const std::size_t cap32 = std::numeric_limits<uint32_t>::max();
    Frame f;
    EXPECT_EQ(peek_frame("D" + be32(0xffffffffu), cap32, f), FrameStatus::too_long);
    EXPECT_EQ(peek_frame("D" + be32(0xfffffffeu), cap32, f), FrameStatus::need_more);
    EXPECT_EQ(f.total_size, 0xffffffffull);
    // No cap at all: the size is still computed exactly.
    EXPECT_EQ(peek_frame("D" + be32(0xffffffffu), std::numeric_limits<std::size_t>::max(), f),
              FrameStatus::need_more);
    EXPECT_EQ(f.total_size, 0x100000000ull);
}

TEST(PeekStartup, CompleteStartupPacket) {
    const std::string body = be32(196608) + cstr("user") + cstr("alice") + cstr("");
    const std::string pkt = untagged(body);
    const std::string buf = pkt + "trailing";
    Frame f;
    ASSERT_EQ(peek_startup(buf, kCap, f), FrameStatus::complete);
    EXPECT_EQ(f.tag, 0);
    EXPECT_EQ(f.header_size, 4u);
    EXPECT_EQ(f.total_size, pkt.size());
    EXPECT_EQ(f.bytes, pkt);
    EXPECT_EQ(f.body(), body);
}

TEST(PeekStartup, NeedMoreAtEveryTruncationPoint) {
    const std::string pkt = untagged(be32(80877103));  // SSLRequest
    ASSERT_EQ(pkt.size(), 8u);
    for (std::size_t n = 0; n < pkt.size(); ++n) {
        SCOPED_TRACE(n);
        Frame f;
        ASSERT_EQ(peek_startup(std::string_view(pkt).substr(0, n), kCap, f),
                  FrameStatus::need_more);
        EXPECT_EQ(f.total_size, n >= 4 ? 8u : 0u);
    }
}

TEST(PeekStartup, LengthBelowFourIsTooShort) {
    for (uint32_t len = 0; len < 4; ++len) {
        Frame f;
        EXPECT_EQ(peek_startup(be32(len), kCap, f), FrameStatus::too_short) << len;
    }
    // Length 4 frames fine (an empty body); the decoder rejects it.
    Frame f;
    EXPECT_EQ(peek_startup(be32(4), kCap, f), FrameStatus::complete);
    EXPECT_TRUE(f.body().empty());
}

TEST(PeekStartup, CapBoundaryAndHugeLengths) {
    const std::size_t cap = 32;
    Frame f;
    EXPECT_EQ(peek_startup(be32(32), cap, f), FrameStatus::need_more);
    EXPECT_EQ(f.total_size, 32u);
    EXPECT_EQ(peek_startup(be32(33), cap, f), FrameStatus::too_long);
    EXPECT_EQ(f.total_size, 33u);
    for (uint32_t len : {0x80000000u, 0xfffffffcu, 0xffffffffu}) {
        EXPECT_EQ(peek_startup(be32(len), kCap, f), FrameStatus::too_long) << len;
    }
    EXPECT_EQ(peek_startup(be32(0xffffffffu), std::numeric_limits<uint32_t>::max(), f),
              FrameStatus::need_more);
}

}  // namespace
}  // namespace pgtenant::protocol
