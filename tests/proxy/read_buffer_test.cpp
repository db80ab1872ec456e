#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "proxy/io.h"

namespace pgtenant::proxy {
namespace {

void put(ReadBuffer& b, const std::string& bytes) {
    auto room = b.prepare(bytes.size());
    ASSERT_GE(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    b.commit(bytes.size());
}

TEST(ReadBuffer, KeepsUnconsumedBytesThroughCompactionAndGrowth) {
    ReadBuffer b;
    put(b, std::string(ReadBuffer::kDefaultSize - 10, 'a'));
    b.consume(ReadBuffer::kDefaultSize - 20);  // 10 'a' left at the end of the block
    put(b, "0123456789");                      // compacts to make room
    EXPECT_EQ(b.view(), std::string(10, 'a') + "0123456789");
    std::string big(3 * ReadBuffer::kDefaultSize, 'z');
    put(b, big);  // grows past the default size
    EXPECT_EQ(b.view(), std::string(10, 'a') + "0123456789" + big);
    b.consume(b.size());
    EXPECT_EQ(b.size(), 0u);
    b.shrink();  // the big block is dropped
    put(b, "next");
    EXPECT_EQ(b.view(), "next");
}

TEST(ReadBuffer, ReleaseKeepsBufferedBytesAndReusesBlocks) {
    ReadBuffer b;
    put(b, "pending");
    b.release();  // bytes still buffered: nothing is freed
    EXPECT_EQ(b.view(), "pending");
    b.consume(b.size());
    b.release();
    EXPECT_EQ(b.size(), 0u);
    // A released default-size block comes back for the next buffer on this thread.
    const void* first = b.prepare().data();
    b.release();
    ReadBuffer other;
    EXPECT_EQ(other.prepare().data(), first);
}

TEST(ReadBuffer, MovesItsBytes) {
    ReadBuffer a;
    put(a, "moved");
    ReadBuffer b(std::move(a));
    EXPECT_EQ(b.view(), "moved");
    EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): a moved-from buffer is empty
    put(a, "reused");
    EXPECT_EQ(a.view(), "reused");
}

}  // namespace
}  // namespace pgtenant::proxy
