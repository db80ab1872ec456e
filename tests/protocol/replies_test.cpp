// ReplyTracker under the message sequences of the PostgreSQL protocol chapter. Each test reads
// as: what was sent to the server, which reply tags came back, and the verdict for each.
#include "protocol/replies.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace pgtenant::protocol {
namespace {

using Verdict = ReplyTracker::Verdict;

// Records one request per frontend tag ("PBDES" = Parse, Bind, Describe, Execute, Sync).
void send(ReplyTracker& t, std::string_view tags, Origin origin = Origin::client) {
    for (char tag : tags) {
        Request r;
        ASSERT_TRUE(request_for_tag(tag, r)) << tag;
        t.sent(r, origin);
    }
}
void inject(ReplyTracker& t, std::string_view tags) { send(t, tags, Origin::injected); }
void substitute(ReplyTracker& t, std::string_view tags) { send(t, tags, Origin::substitute); }

char verdict_letter(Verdict v) {
    switch (v) {
        case Verdict::forward:
            return 'f';
        case Verdict::drop:
            return 'd';
        case Verdict::injected_error:
            return 'i';
        case Verdict::substitute_error:
            return 's';
        case Verdict::unexpected:
            return 'u';
    }
    return '?';
}

// Feeds backend tags and compares the verdicts, one letter each:
// f forward, d drop, i injected_error, s substitute_error, u unexpected.
void expect_replies(ReplyTracker& t, std::string_view tags, std::string_view verdicts) {
    ASSERT_EQ(tags.size(), verdicts.size()) << "test bug";
    std::string got;
    for (char tag : tags) got.push_back(verdict_letter(t.on_reply(tag).verdict));
    EXPECT_EQ(got, verdicts) << "replies " << tags;
}

Request front_of(const ReplyTracker& t) {
    Request r{};
    EXPECT_TRUE(t.front(r));
    return r;
}

TEST(RequestForTag, FrontendTagsThatExpectReplies) {
    const std::pair<char, Request> with_replies[] = {
        {'Q', Request::query}, {'F', Request::function_call}, {'P', Request::parse},
        {'B', Request::bind},  {'D', Request::describe},      {'E', Request::execute},
        {'C', Request::close}, {'S', Request::sync},
    };
    for (auto [tag, expected] : with_replies) {
        Request r{};
        ASSERT_TRUE(request_for_tag(tag, r)) << tag;
        EXPECT_EQ(r, expected) << tag;
    }
    // Flush, CopyData, CopyDone, CopyFail, Terminate, password/SASL: no reply of their own.
    for (char tag : {'H', 'd', 'c', 'f', 'X', 'p', '\0'}) {
        Request r{};
        EXPECT_FALSE(request_for_tag(tag, r)) << tag;
    }
}

// --- simple query ---

// The binding (injected Bind, Execute, Close) ahead of a client's Query: its four replies go
// in one step, leaving the tracker as four dropping on_reply calls would.
TEST(ReplyTracker, BindingRepliesInOneStep) {
    ReplyTracker one_by_one, at_once;
    for (auto* t : {&one_by_one, &at_once}) {
        inject(*t, "BEC");
        send(*t, "Q");
    }
    expect_replies(one_by_one, "2DC3", "dddd");
    ASSERT_TRUE(at_once.binding_next());
    at_once.on_binding_replies();
    EXPECT_FALSE(at_once.binding_next());
    EXPECT_EQ(at_once.outstanding(), one_by_one.outstanding());
    EXPECT_EQ(front_of(at_once), Request::query);
    EXPECT_TRUE(at_once.failed().empty());
    expect_replies(at_once, "TDCZ", "ffff");
    EXPECT_TRUE(at_once.idle());
}

// Anything else at the front is not the binding: the client's own Bind, Execute and Close,
// pgtenant's requests in another order or of another origin, fewer than three.
TEST(ReplyTracker, OnlyTheInjectedBindExecuteCloseIsTheBinding) {
    auto next = [](auto fill) {
        ReplyTracker t;
        fill(t);
        return t.binding_next();
    };
    EXPECT_FALSE(next([](ReplyTracker& t) { send(t, "BEC"); }));
    EXPECT_FALSE(next([](ReplyTracker& t) { send(t, "BEC", Origin::hidden); }));
    EXPECT_FALSE(next([](ReplyTracker& t) { send(t, "BEC", Origin::probe); }));
    EXPECT_FALSE(next([](ReplyTracker& t) { inject(t, "BE"); }));
    EXPECT_FALSE(next([](ReplyTracker& t) { inject(t, "PBE"); }));
    EXPECT_FALSE(next([](ReplyTracker& t) {
        inject(t, "BE");
        send(t, "C");
    }));
    EXPECT_FALSE(next([](ReplyTracker&) {}));
    EXPECT_TRUE(next([](ReplyTracker& t) {
        inject(t, "BECS");
        send(t, "Q");
    }));
}

TEST(ReplyTracker, SimpleQueryWithRows) {
    ReplyTracker t;
    send(t, "Q");
    EXPECT_EQ(t.outstanding(), 1u);
    expect_replies(t, "TDDC", "ffff");
    EXPECT_EQ(t.outstanding(), 1u);  // still waiting for ReadyForQuery
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

// A byte that starts no server message where one must start: the stream is misframed, whatever
// is outstanding (even the notices and reports that are otherwise always passed on).
TEST(ReplyTracker, AByteThatIsNoServerMessageIsUnexpected) {
    for (char tag : {'\0', 'x', 'P', 'Q', 'B', 'X', 'f', '\xff'}) {
        ReplyTracker t;
        send(t, "Q");
        EXPECT_EQ(t.on_reply(tag).verdict, Verdict::unexpected) << static_cast<int>(tag);
        EXPECT_EQ(t.outstanding(), 1u);
        ReplyTracker ours;
        inject(ours, "BEC");
        EXPECT_EQ(ours.on_reply(tag).verdict, Verdict::unexpected) << static_cast<int>(tag);
    }
    ReplyTracker t;
    send(t, "Q");
    expect_replies(t, "NSATDCZ", "fffffff");
}

TEST(ReplyTracker, SimpleQueryWithSeveralStatementsAndEmptyQuery) {
    ReplyTracker t;
    send(t, "QQ");
    expect_replies(t, "TDCCTDDCZ", "fffffffff");
    EXPECT_EQ(t.outstanding(), 1u);
    expect_replies(t, "IZ", "ff");  // EmptyQueryResponse
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, QueryErrorThenReadyForQuery) {
    ReplyTracker t;
    send(t, "QQ");
    expect_replies(t, "TDE", "fff");
    EXPECT_TRUE(t.front_errored());
    EXPECT_FALSE(t.skipping_to_sync());  // a simple-query error skips nothing
    EXPECT_EQ(t.outstanding(), 2u);
    expect_replies(t, "Z", "f");
    EXPECT_FALSE(t.front_errored());
    // The second query runs normally.
    expect_replies(t, "CZ", "ff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, FunctionCall) {
    ReplyTracker t;
    send(t, "F");
    expect_replies(t, "VZ", "ff");
    EXPECT_TRUE(t.idle());
}

// --- extended query ---

TEST(ReplyTracker, ParseBindDescribeExecuteSync) {
    ReplyTracker t;
    send(t, "PBDES");
    EXPECT_EQ(t.outstanding(), 5u);
    expect_replies(t, "12", "ff");
    EXPECT_EQ(front_of(t), Request::describe);
    expect_replies(t, "TDDD", "ffff");
    EXPECT_EQ(front_of(t), Request::execute);
    expect_replies(t, "C", "f");
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, DescribeStatementThenRowDescriptionOrNoData) {
    ReplyTracker t;
    send(t, "PDS");
    expect_replies(t, "1tTZ", "ffff");
    EXPECT_TRUE(t.idle());
    send(t, "PDS");  // e.g. an INSERT without RETURNING
    expect_replies(t, "1tnZ", "ffff");
    EXPECT_TRUE(t.idle());
    // Describe of a portal: no ParameterDescription.
    send(t, "PBDS");
    expect_replies(t, "12nZ", "ffff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, ParameterDescriptionDoesNotEndTheDescribe) {
    ReplyTracker t;
    send(t, "DS");
    expect_replies(t, "t", "f");
    EXPECT_EQ(front_of(t), Request::describe);
    expect_replies(t, "T", "f");
    EXPECT_EQ(front_of(t), Request::sync);
}

TEST(ReplyTracker, ExecuteWithPortalSuspended) {
    ReplyTracker t;
    send(t, "BEES");  // two Executes of at most 2 rows each
    expect_replies(t, "2DDs", "ffff");
    EXPECT_EQ(front_of(t), Request::execute);
    expect_replies(t, "DC", "ff");
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, ExecuteOfAnEmptyQuery) {
    ReplyTracker t;
    send(t, "PBES");
    expect_replies(t, "12IZ", "ffff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, Close) {
    ReplyTracker t;
    send(t, "CCS");
    expect_replies(t, "33Z", "fff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, PipelinedSyncs) {
    ReplyTracker t;
    send(t, "PBES");
    send(t, "BES");
    expect_replies(t, "12DCZ", "fffff");
    EXPECT_EQ(t.outstanding(), 3u);
    expect_replies(t, "2DCZ", "ffff");
    EXPECT_TRUE(t.idle());
}

// --- errors in the extended protocol: the server skips until Sync ---

TEST(ReplyTracker, ParseErrorSkipsBindAndExecuteUntilSync) {
    ReplyTracker t;
    send(t, "PBES");
    expect_replies(t, "E", "f");
    // Bind and Execute will never be answered.
    EXPECT_EQ(t.outstanding(), 1u);
    EXPECT_EQ(front_of(t), Request::sync);
    EXPECT_FALSE(t.skipping_to_sync());
    // The client already has this batch's error: a lost server must not send a second one.
    EXPECT_TRUE(t.front_errored());
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, HiddenParseSucceedsSilentlyButFailsVisibly) {
    ReplyTracker ok;
    send(ok, "P", Origin::hidden);
    send(ok, "BES");
    expect_replies(ok, "12DCZ", "dffff");
    EXPECT_TRUE(ok.idle());

    ReplyTracker failing;
    send(failing, "P", Origin::hidden);
    send(failing, "BES");
    // The client sees the error (e.g. the table is gone), then the Sync's ReadyForQuery.
    expect_replies(failing, "EZ", "ff");
    EXPECT_TRUE(failing.idle());
}

TEST(ReplyTracker, ReadyForQueryInsideAnExecuteIsUnexpected) {
    ReplyTracker t;
    send(t, "BES");
    expect_replies(t, "2D", "ff");
    EXPECT_EQ(t.on_reply('Z').verdict, ReplyTracker::Verdict::unexpected);
}

TEST(ReplyTracker, ErrorSkipsOnlyToTheFirstSync) {
    ReplyTracker t;
    send(t, "PBES");
    send(t, "PBES");
    expect_replies(t, "1E", "ff");  // Bind fails
    EXPECT_EQ(t.outstanding(), 5u);
    expect_replies(t, "Z", "f");
    expect_replies(t, "12CZ", "ffff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, ErrorMidRowsInExecute) {
    ReplyTracker t;
    send(t, "PBES");
    expect_replies(t, "12DDE", "fffff");
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, SimpleQueryBeforeTheSyncIsSkippedToo) {
    // The server discards every message up to Sync after an extended-protocol error,
    // a simple Query included.
    ReplyTracker t;
    send(t, "PQS");
    expect_replies(t, "E", "f");
    EXPECT_EQ(t.outstanding(), 1u);
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, RequestsSentWhileSkippingAreNotRecorded) {
    ReplyTracker t;
    send(t, "PB");  // client pipelines without a Sync yet
    expect_replies(t, "E", "f");
    EXPECT_TRUE(t.skipping_to_sync());
    EXPECT_TRUE(t.idle());
    send(t, "EDCQF");
    inject(t, "BE");
    EXPECT_TRUE(t.idle());
    EXPECT_TRUE(t.skipping_to_sync());
    send(t, "S");  // the Sync ends skipping
    EXPECT_FALSE(t.skipping_to_sync());
    EXPECT_EQ(t.outstanding(), 1u);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
    // Back to normal: requests are recorded again.
    send(t, "Q");
    EXPECT_EQ(t.outstanding(), 1u);
}

TEST(ReplyTracker, ErrorAtSyncIsAnsweredByReadyForQuery) {
    // A deferred constraint failing at the implicit commit of Sync.
    ReplyTracker t;
    send(t, "PBES");
    expect_replies(t, "12C", "fff");
    expect_replies(t, "E", "f");
    EXPECT_TRUE(t.front_errored());
    EXPECT_FALSE(t.skipping_to_sync());
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
    EXPECT_FALSE(t.front_errored());
}

// --- COPY ---

TEST(ReplyTracker, CopyInAQuery) {
    ReplyTracker t;
    send(t, "Q");
    expect_replies(t, "GCZ", "fff");  // CopyInResponse, (client CopyData...), CommandComplete
    EXPECT_TRUE(t.idle());
    send(t, "Q");
    expect_replies(t, "HddcCZ", "ffffff");  // COPY TO STDOUT
    EXPECT_TRUE(t.idle());
    send(t, "Q");
    expect_replies(t, "GEZ", "fff");  // CopyFail from the client
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, CopyInAnExecute) {
    ReplyTracker t;
    send(t, "PBES");
    expect_replies(t, "12G", "fff");
    EXPECT_EQ(front_of(t), Request::execute);
    expect_replies(t, "CZ", "ff");
    EXPECT_TRUE(t.idle());
    send(t, "PBES");
    expect_replies(t, "12HddcCZ", "ffffffff");
    EXPECT_TRUE(t.idle());
    // A failed COPY in an Execute skips to Sync like any extended error.
    send(t, "PBES");
    expect_replies(t, "12GE", "ffff");
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

// --- injected requests ---

TEST(ReplyTracker, InjectedBindExecuteBeforeClientQuery) {
    ReplyTracker t;
    inject(t, "BE");
    send(t, "Q");
    EXPECT_TRUE(t.front_injected());
    expect_replies(t, "2", "d");
    EXPECT_TRUE(t.front_injected());
    expect_replies(t, "DC", "dd");  // set_config returns a row
    EXPECT_FALSE(t.front_injected());
    expect_replies(t, "TDCZ", "ffff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, InjectedBatchWithItsOwnSync) {
    ReplyTracker t;
    inject(t, "PBES");
    send(t, "PBDES");
    expect_replies(t, "12CZ", "dddd");
    expect_replies(t, "12nCZ", "fffff");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, InjectedQueryRepliesAreDropped) {
    ReplyTracker t;
    inject(t, "Q");
    send(t, "Q");
    expect_replies(t, "CZ", "dd");
    expect_replies(t, "CZ", "ff");
}

TEST(ReplyTracker, InjectedRequestFailingConsumesNothing) {
    ReplyTracker t;
    inject(t, "BE");
    send(t, "Q");
    expect_replies(t, "E", "i");
    EXPECT_EQ(t.outstanding(), 3u);
    EXPECT_TRUE(t.front_injected());
    EXPECT_EQ(front_of(t), Request::bind);
    EXPECT_FALSE(t.skipping_to_sync());
    // Still nothing consumed if asked again; the session abandons the connection.
    expect_replies(t, "E", "i");
    auto left = t.abandon();
    ASSERT_EQ(left.size(), 1u);
    EXPECT_EQ(left[0], Request::query);
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, InjectedQueryFailing) {
    ReplyTracker t;
    inject(t, "Q");
    send(t, "Q");
    expect_replies(t, "E", "i");
    EXPECT_EQ(t.outstanding(), 2u);
    EXPECT_FALSE(t.front_errored());
}

// --- substitutes ---

TEST(ReplyTracker, SubstituteParseErrorIsReplaced) {
    ReplyTracker t;
    substitute(t, "P");
    send(t, "BES");
    expect_replies(t, "E", "s");
    EXPECT_EQ(front_of(t), Request::sync);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, SubstituteQueryErrorIsReplaced) {
    ReplyTracker t;
    substitute(t, "Q");
    send(t, "Q");
    expect_replies(t, "E", "s");
    EXPECT_TRUE(t.front_errored());
    expect_replies(t, "Z", "f");  // the client still gets its ReadyForQuery
    expect_replies(t, "TCZ", "fff");
    EXPECT_TRUE(t.idle());
}

// --- async messages ---

TEST(ReplyTracker, AsyncMessagesAreForwardedAnywhere) {
    ReplyTracker t;
    expect_replies(t, "NSA", "fff");  // idle link
    EXPECT_TRUE(t.idle());

    send(t, "Q");
    expect_replies(t, "TNDSCAZ", "fffffff");
    EXPECT_TRUE(t.idle());

    send(t, "PBES");
    expect_replies(t, "N1S2ADCNZ", "fffffffff");
    EXPECT_TRUE(t.idle());

    inject(t, "BE");
    expect_replies(t, "N", "f");  // not dropped even ahead of an injected request
    EXPECT_EQ(t.outstanding(), 2u);

    ReplyTracker s;
    send(s, "P");
    expect_replies(s, "E", "f");
    ASSERT_TRUE(s.skipping_to_sync());
    expect_replies(s, "NSA", "fff");
    EXPECT_TRUE(s.skipping_to_sync());
}

// --- abandon, unexpected, front state ---

TEST(ReplyTracker, AbandonReturnsClientRequestsOldestFirst) {
    ReplyTracker t;
    inject(t, "BE");
    send(t, "P");
    substitute(t, "B");
    inject(t, "Q");
    send(t, "ES");
    auto left = t.abandon();
    ASSERT_EQ(left.size(), 4u);
    EXPECT_EQ(left[0], Request::parse);
    EXPECT_EQ(left[1], Request::bind);  // the substitute stands for a client request
    EXPECT_EQ(left[2], Request::execute);
    EXPECT_EQ(left[3], Request::sync);
    EXPECT_TRUE(t.idle());
    EXPECT_TRUE(t.abandon().empty());
}

TEST(ReplyTracker, AbandonClearsSkippingAndErrorState) {
    ReplyTracker t;
    send(t, "P");
    expect_replies(t, "E", "f");
    ASSERT_TRUE(t.skipping_to_sync());
    EXPECT_TRUE(t.abandon().empty());
    EXPECT_FALSE(t.skipping_to_sync());
    send(t, "Q");
    expect_replies(t, "E", "f");
    ASSERT_TRUE(t.front_errored());
    t.abandon();
    EXPECT_FALSE(t.front_errored());
    send(t, "P");  // a new connection records normally
    EXPECT_EQ(t.outstanding(), 1u);
}

TEST(ReplyTracker, UnexpectedRepliesWithAnEmptyQueue) {
    ReplyTracker t;
    expect_replies(t, "ZECD123TsIGHntV", "uuuuuuuuuuuuuuu");
    EXPECT_TRUE(t.idle());
    Request r;
    EXPECT_FALSE(t.front(r));
    EXPECT_FALSE(t.front_injected());
    EXPECT_FALSE(t.front_errored());
}

TEST(ReplyTracker, RepliesThatDoNotMatchTheFront) {
    ReplyTracker t;
    send(t, "PBS");
    expect_replies(t, "2Z3Tn", "uuuuu");
    EXPECT_EQ(t.outstanding(), 3u);  // nothing consumed
    expect_replies(t, "1", "f");
    expect_replies(t, "1", "u");
    expect_replies(t, "2Z", "ff");
    EXPECT_TRUE(t.idle());

    send(t, "DS");
    expect_replies(t, "23", "uu");  // BindComplete, CloseComplete: not replies to a Describe
    EXPECT_EQ(front_of(t), Request::describe);
}

TEST(ReplyTracker, SyncIsAnsweredOnlyByReadyForQuery) {
    ReplyTracker t;
    send(t, "S");
    expect_replies(t, "12nsCDT", "uuuuuuu");
    EXPECT_EQ(t.outstanding(), 1u);
    expect_replies(t, "Z", "f");
    EXPECT_TRUE(t.idle());
}

TEST(ReplyTracker, FrontErroredAndFrontInjected) {
    ReplyTracker t;
    EXPECT_FALSE(t.front_errored());
    EXPECT_FALSE(t.front_injected());
    inject(t, "S");
    send(t, "Q");
    EXPECT_TRUE(t.front_injected());
    EXPECT_FALSE(t.front_errored());
    expect_replies(t, "Z", "d");
    EXPECT_FALSE(t.front_injected());
    expect_replies(t, "TD", "ff");
    EXPECT_FALSE(t.front_errored());
    expect_replies(t, "E", "f");
    EXPECT_TRUE(t.front_errored());
    EXPECT_FALSE(t.front_injected());
    expect_replies(t, "N", "f");  // an async message keeps the state
    EXPECT_TRUE(t.front_errored());
    expect_replies(t, "Z", "f");
    EXPECT_FALSE(t.front_errored());
    EXPECT_TRUE(t.idle());
}

}  // namespace
}  // namespace pgtenant::protocol
