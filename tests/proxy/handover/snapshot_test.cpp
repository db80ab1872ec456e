// The session snapshot a pgtenant hands its successor: what goes in comes out, and bytes that are
// not a snapshot (truncated, extended, altered) are refused, never read past their end.
#include "proxy/handover/snapshot.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "proxy/handover/channel.h"

namespace pgtenant::proxy::handover {
namespace {

SessionSnapshot sample() {
    SessionSnapshot s;
    s.user = "alice";
    s.practice = "11111111-1111-1111-1111-111111111111";
    s.database = "clinic";
    s.from_lookup = true;
    s.startup = {{"application_name", "app"}, {"datestyle", "ISO, DMY"}};
    s.settings = {{"application_name", "app"}, {"search_path", "\"$user\", public"}};
    s.told = {{"DateStyle", "ISO, DMY"}};
    s.statements.push_back({"s1", "SELECT $1::int", {23}, protocol::RowShape{42}, false});
    s.statements.push_back({"p", " AS SELECT 1", {}, std::nullopt, true});
    s.unnamed = {true, "SELECT now()", {}, 1};
    s.cancel_pid = 12345;
    s.cancel_key = -7;
    s.connect_time_ms = 1'796'000'000'000;
    s.transactions = 99;
    s.old_session = 7;
    s.pending = std::string("Q\0\0\0\rSELECT 1\0", 14);
    return s;
}

TEST(SnapshotTest, RoundTrip) {
    const auto s = sample();
    auto back = decode(encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->user, s.user);
    EXPECT_EQ(back->practice, s.practice);
    EXPECT_EQ(back->database, s.database);
    EXPECT_TRUE(back->from_lookup);
    EXPECT_EQ(back->startup, s.startup);
    EXPECT_EQ(back->settings, s.settings);
    EXPECT_EQ(back->told, s.told);
    ASSERT_EQ(back->statements.size(), 2u);
    EXPECT_EQ(back->statements[0].name, "s1");
    EXPECT_EQ(back->statements[0].query, "SELECT $1::int");
    EXPECT_EQ(back->statements[0].param_types, std::vector<int32_t>{23});
    EXPECT_EQ(back->statements[0].shape, protocol::RowShape{42});
    EXPECT_FALSE(back->statements[0].sql);
    EXPECT_FALSE(back->statements[1].shape);
    EXPECT_TRUE(back->statements[1].sql);
    EXPECT_TRUE(back->unnamed.exists);
    EXPECT_EQ(back->unnamed.query, "SELECT now()");
    EXPECT_EQ(back->unnamed.binding, 1);
    EXPECT_EQ(back->cancel_pid, 12345);
    EXPECT_EQ(back->cancel_key, -7);
    EXPECT_EQ(back->connect_time_ms, s.connect_time_ms);
    EXPECT_EQ(back->transactions, 99u);
    EXPECT_EQ(back->old_session, 7u);
    EXPECT_EQ(back->pending, s.pending);
}

TEST(SnapshotTest, RefusesWhatIsNotOne) {
    const std::string bytes = encode(sample());
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode(bytes.substr(0, n))) << "truncated to " << n;
    EXPECT_FALSE(decode(bytes + "x"));
    std::string other_version = bytes;
    other_version[0] = 2;
    EXPECT_FALSE(decode(other_version));
    SessionSnapshot no_practice = sample();
    no_practice.practice.clear();
    EXPECT_FALSE(decode(encode(no_practice)));
    // A count that claims more than the bytes hold.
    std::string huge = encode(SessionSnapshot{.user = "u", .practice = "p"});
    EXPECT_TRUE(decode(huge));
    huge[1 + 4 + 1 + 4 + 1 + 4 + 0 + 1] = '\x7f';  // the startup settings' count
    EXPECT_FALSE(decode(huge));
}

TEST(SnapshotTest, RandomBytesNeverCrash) {
    std::mt19937 rng(5);
    const std::string bytes = encode(sample());
    for (int i = 0; i < 20000; ++i) {
        std::string b = bytes;
        for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<char>(rng());
        (void)decode(b);  // ASan/UBSan watch this
    }
}

// A descriptor and its frame cross a socket pair; the end of the stream is told apart from an
// error.
TEST(ChannelTest, PassesADescriptorWithItsSnapshot) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const std::string snapshot = encode(sample());
    ASSERT_TRUE(send_client(pair[0], pipe_fds[1], snapshot));
    ASSERT_TRUE(send_client(pair[0], pipe_fds[1], "second"));
    ::close(pipe_fds[1]);
    ::close(pair[0]);
    int fd = -1;
    std::string got, error;
    ASSERT_EQ(receive_client(pair[1], fd, got, error), Received::client) << error;
    EXPECT_EQ(got, snapshot);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "z", 1), 1);  // the pipe's write end, passed over
    char c = 0;
    ASSERT_EQ(::read(pipe_fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    ::close(fd);
    ASSERT_EQ(receive_client(pair[1], fd, got, error), Received::client) << error;
    EXPECT_EQ(got, "second");
    ::close(fd);
    EXPECT_EQ(receive_client(pair[1], fd, got, error), Received::end);
    ::close(pair[1]);
    ::close(pipe_fds[0]);
}

TEST(ChannelTest, AFrameWithoutADescriptorIsAnError) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ASSERT_TRUE(write_exact(pair[0], std::string("\0\0\0\1x", 5)));
    int fd = -1;
    std::string got, error;
    EXPECT_EQ(receive_client(pair[1], fd, got, error), Received::error);
    EXPECT_FALSE(error.empty());
    ::close(pair[0]);
    ::close(pair[1]);
}

}  // namespace
}  // namespace pgtenant::proxy::handover
