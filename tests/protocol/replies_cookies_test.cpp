// ReplyTracker cookies: each reply hands back the cookie of the request it answers, and an
// error hands back those of every request it ended unanswered, so the session can keep its
// per-request bookkeeping (statements created, shapes described) without a parallel queue.
#include <gtest/gtest.h>

#include <vector>

#include "protocol/replies.h"

namespace pgtenant::protocol {
namespace {

using Verdict = ReplyTracker::Verdict;
using Cookies = std::vector<Cookie>;

TEST(ReplyTrackerCookies, EachReplyCarriesItsRequestsCookie) {
    ReplyTracker t;
    EXPECT_TRUE(t.sent(Request::parse, Origin::client, 7));
    EXPECT_TRUE(t.sent(Request::describe, Origin::hidden, 8));
    EXPECT_TRUE(t.sent(Request::bind, Origin::client, 9));
    EXPECT_TRUE(t.sent(Request::execute));
    EXPECT_TRUE(t.sent(Request::sync));

    auto r = t.on_reply('1');
    EXPECT_EQ(r.verdict, Verdict::forward);
    EXPECT_EQ(r.cookie, 7u);
    EXPECT_TRUE(r.completes);
    // ParameterDescription belongs to the Describe but does not end it; the row shape does.
    r = t.on_reply('t');
    EXPECT_EQ(r.verdict, Verdict::drop);
    EXPECT_EQ(r.cookie, 8u);
    EXPECT_FALSE(r.completes);
    r = t.on_reply('T');
    EXPECT_EQ(r.verdict, Verdict::drop);
    EXPECT_EQ(r.cookie, 8u);
    EXPECT_TRUE(r.completes);
    r = t.on_reply('2');
    EXPECT_EQ(r.cookie, 9u);
    EXPECT_TRUE(r.completes);
    r = t.on_reply('D');  // rows: the Execute (no cookie) goes on
    EXPECT_EQ(r.cookie, 0u);
    EXPECT_FALSE(r.completes);
    r = t.on_reply('C');
    EXPECT_TRUE(r.completes);
    r = t.on_reply('Z');
    EXPECT_TRUE(r.completes);
    EXPECT_TRUE(t.idle());
    EXPECT_TRUE(t.failed().empty());
}

TEST(ReplyTrackerCookies, AsyncAndUnexpectedMessagesCarryNone) {
    ReplyTracker t;
    t.sent(Request::parse, Origin::client, 3);
    for (char tag : {'N', 'S', 'A'}) {
        auto r = t.on_reply(tag);
        EXPECT_EQ(r.verdict, Verdict::forward);
        EXPECT_EQ(r.cookie, 0u);
        EXPECT_FALSE(r.completes);
    }
    auto r = t.on_reply('2');  // not a reply to a Parse
    EXPECT_EQ(r.verdict, Verdict::unexpected);
    EXPECT_EQ(r.cookie, 0u);
    EXPECT_FALSE(r.completes);
    EXPECT_EQ(t.outstanding(), 1u);
}

// An error ends the failed request and everything up to the Sync; their cookies come back,
// oldest first, the failed request's at the head. The Sync's own is not among them.
TEST(ReplyTrackerCookies, AnErrorReturnsTheCookiesOfWhatItEnded) {
    ReplyTracker t;
    t.sent(Request::parse, Origin::hidden, 1);
    t.sent(Request::describe, Origin::hidden, 2);
    t.sent(Request::bind, Origin::client, 3);
    t.sent(Request::execute);  // no cookie: not reported
    t.sent(Request::sync, Origin::client, 5);
    auto r = t.on_reply('E');
    EXPECT_EQ(r.verdict, Verdict::forward);  // a hidden request's error is the client's
    EXPECT_EQ(r.cookie, 1u);
    EXPECT_TRUE(r.completes);
    EXPECT_EQ(t.failed(), (Cookies{1, 2, 3}));
    r = t.on_reply('Z');
    EXPECT_EQ(r.cookie, 5u);
    EXPECT_TRUE(t.failed().empty());  // only until the next reply
}

TEST(ReplyTrackerCookies, AnErrorInAQueryEndsNothingBeforeReadyForQuery) {
    ReplyTracker t;
    t.sent(Request::query, Origin::client, 4);
    auto r = t.on_reply('E');
    EXPECT_EQ(r.cookie, 4u);
    EXPECT_FALSE(r.completes);
    EXPECT_TRUE(t.failed().empty());
    r = t.on_reply('Z');
    EXPECT_TRUE(r.completes);
}

TEST(ReplyTrackerCookies, SubstituteErrorCarriesTheSubstitutesCookie) {
    ReplyTracker t;
    t.sent(Request::describe, Origin::substitute, 11);
    t.sent(Request::execute, Origin::client, 12);
    t.sent(Request::sync);
    auto r = t.on_reply('E');
    EXPECT_EQ(r.verdict, Verdict::substitute_error);
    EXPECT_EQ(r.cookie, 11u);
    EXPECT_EQ(t.failed(), (Cookies{11, 12}));
}

TEST(ReplyTrackerCookies, InjectedErrorEndsNothing) {
    ReplyTracker t;
    t.sent(Request::bind, Origin::injected, 21);
    t.sent(Request::parse, Origin::client, 22);
    auto r = t.on_reply('E');
    EXPECT_EQ(r.verdict, Verdict::injected_error);
    EXPECT_EQ(r.cookie, 21u);
    EXPECT_FALSE(r.completes);  // the session abandons the connection instead
    EXPECT_TRUE(t.failed().empty());
    EXPECT_EQ(t.outstanding(), 2u);
}

// While the server skips to the Sync, a request is not recorded, and the caller is told: it
// must not wait for, or keep bookkeeping about, a reply that never comes.
TEST(ReplyTrackerCookies, SentReportsRequestsTheServerWillIgnore) {
    ReplyTracker t;
    t.sent(Request::parse, Origin::client, 1);
    t.on_reply('E');
    ASSERT_TRUE(t.skipping_to_sync());
    EXPECT_FALSE(t.sent(Request::bind, Origin::client, 2));
    EXPECT_FALSE(t.sent(Request::describe, Origin::substitute, 3));
    EXPECT_TRUE(t.idle());
    EXPECT_TRUE(t.sent(Request::sync, Origin::client, 4));
    auto r = t.on_reply('Z');
    EXPECT_EQ(r.cookie, 4u);
    EXPECT_TRUE(t.idle());
}

}  // namespace
}  // namespace pgtenant::protocol
