// The session's state machine without sockets (issue 15): what it decides from the messages it
// is given. Its behaviour against a real PostgreSQL over many random sequences is
// tests/integration/conversation_model_test.cpp.
#include "proxy/session/conversation.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

namespace pgtenant::proxy {
namespace {

namespace build = protocol::build;
using Block = Conversation::Block;
using Segment = Conversation::Segment;
using protocol::Origin;
using protocol::Request;

std::string ready(char status) {
    std::string m;
    build::ready_for_query(m, status);
    return m;
}

std::string parameter_status(std::string_view name, std::string_view value) {
    std::string m;
    build::parameter_status(m, name, value);
    return m;
}

std::string data_row(std::string_view value) {
    std::string m;
    protocol::MessageWriter(m)
        .begin('D')
        .int16(1)
        .int32(static_cast<int32_t>(value.size()))
        .bytes(value)
        .end();
    return m;
}

// The server's replies, each through the Conversation as the relay hands them over; returns
// what the client gets.
std::string replies(Conversation& c, std::initializer_list<std::string> msgs) {
    std::string out;
    for (const auto& m : msgs) {
        auto news = c.on_server_message(m[0], m, out);
        EXPECT_TRUE(news.kind == Conversation::ServerNews::Kind::none ||
                    news.kind == Conversation::ServerNews::Kind::wake)
            << m[0] << ": " << news.detail;
    }
    return out;
}

// A Conversation at login, holding one server connection.
struct Leased {
    explicit Leased(SessionParams startup = {}, bool session_pooling = false) {
        c.start(std::move(startup), session_pooling, 1);
        c.leased(s, to_server);
    }
    Conversation c;
    ServerState s;
    std::string to_server;  // what the connection is sent
};

std::string bind_complete() { return std::string("2\0\0\0\4", 5); }

std::string command_complete() {
    std::string m;
    build::command_complete(m, "SELECT 1");
    return m;
}

TEST(Conversation, TheBlockFollowsReadyForQueryAndTheBindingIsPlacedOncePerTransaction) {
    Leased l;
    auto& [c, s, to_server] = l;
    EXPECT_EQ(c.block(), Block::idle);
    EXPECT_FALSE(c.place_binding(false));  // a statement that takes no snapshot waits
    EXPECT_TRUE(c.place_binding(true));
    EXPECT_FALSE(c.place_binding(true));  // once
    s.tracker().sent(Request::query);
    replies(c, {ready('T')});
    EXPECT_EQ(c.block(), Block::open);
    EXPECT_EQ(c.status(), 'T');
    s.tracker().sent(Request::query);
    replies(c, {ready('E')});
    EXPECT_EQ(c.block(), Block::failed);
    s.tracker().sent(Request::query);
    replies(c, {ready('I')});
    EXPECT_EQ(c.block(), Block::idle);
    EXPECT_TRUE(c.place_binding(true));  // the next transaction is bound afresh
}

// The relay forwards the client's result rows the short way, each run of them in one piece
// (forward_rows). Every request a row can follow, whoever sent it: the same bytes reach the
// client, and the same state is left, as when every message goes through on_server_message.
TEST(Conversation, RowsTakenTheShortWayEndAsTheLongWay) {
    std::string error;
    protocol::encode_error(error, {"ERROR", "22012", "division by zero"});
    const std::string row = data_row("42"), done = command_complete();
    struct Case {
        const char* what;
        std::vector<std::pair<Request, Origin>> sent;
        std::vector<std::string> replies;
        int short_rows;  // how many of the rows forward_rows takes
    };
    const std::vector<Case> cases = {
        {"a client Query", {{Request::query, Origin::client}}, {row, row, done, ready('I')}, 2},
        {"a client Execute",
         {{Request::bind, Origin::client},
          {Request::execute, Origin::client},
          {Request::sync, Origin::client}},
         {bind_complete(), row, done, ready('I')},
         1},
        {"the binding's Execute, then the client's Query",
         {{Request::bind, Origin::injected},
          {Request::execute, Origin::injected},
          {Request::query, Origin::client}},
         {bind_complete(), row, done, row, done, ready('I')},
         1},
        {"a probe", {{Request::query, Origin::probe}}, {row, done, ready('I')}, 0},
        {"a row after an error", {{Request::query, Origin::client}}, {row, error, ready('I')}, 1},
        {"nothing outstanding", {}, {row}, 0},
    };
    for (const auto& k : cases) {
        SCOPED_TRACE(k.what);
        Leased long_way, short_way;
        for (auto* l : {&long_way, &short_way}) {
            l->c.open_segment();
            for (auto [r, o] : k.sent) l->s.tracker().sent(r, o);
        }
        std::string long_out, short_out;
        int taken = 0;
        for (const auto& m : k.replies) long_way.c.on_server_message(m[0], m, long_out);
        for (std::size_t i = 0; i < k.replies.size();) {
            std::size_t end = i;  // the run of rows from i, as the relay takes it
            std::string run;
            while (end < k.replies.size() && k.replies[end][0] == 'D') run += k.replies[end++];
            if (end > i && short_way.c.forward_rows(run, short_out)) {
                taken += static_cast<int>(end - i);
                i = end;
                continue;
            }
            const auto& m = k.replies[i++];
            short_way.c.on_server_message(m[0], m, short_out);
        }
        EXPECT_EQ(short_out, long_out);
        EXPECT_EQ(short_way.s.tracker().outstanding(), long_way.s.tracker().outstanding());
        EXPECT_EQ(short_way.c.block(), long_way.c.block());
        EXPECT_EQ(short_way.c.status(), long_way.c.status());
        EXPECT_EQ(short_way.s.tracker().failed(), long_way.s.tracker().failed());
        EXPECT_EQ(taken, k.short_rows);
    }
}

TEST(Conversation, NoBindingInAFailedTransaction) {
    Leased l;
    auto& [c, s, to_server] = l;
    s.tracker().sent(Request::query);
    replies(c, {ready('E')});
    EXPECT_FALSE(c.place_binding(true));
}

TEST(Conversation, AConnectionGoesBackOnlyWhenEverythingIsAnswered) {
    Leased l;
    auto& [c, s, to_server] = l;
    c.open_segment();
    s.tracker().sent(Request::query);
    EXPECT_FALSE(c.releasable(s));
    replies(c, {ready('I')});
    EXPECT_FALSE(c.releasable(s));  // the segment is still open
    c.close_segment();
    EXPECT_TRUE(c.releasable(s));
    s.tracker().sent(Request::query);
    replies(c, {ready('T')});
    EXPECT_FALSE(c.releasable(s));  // inside a transaction block
}

TEST(Conversation, SessionPoolingKeepsTheConnection) {
    Leased l({}, true);
    auto& [c, s, to_server] = l;
    s.tracker().sent(Request::query);
    replies(c, {ready('I')});
    EXPECT_FALSE(c.releasable(s));
}

TEST(Conversation, SettingsAreAppliedAsProbesBeforeTheTransaction) {
    Leased l({{"timezone", "Asia/Tokyo"}}, false);
    auto& [c, s, to_server] = l;
    std::string out;
    auto changes = c.append_settings(s, out);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].name, "timezone");
    build::sync(out);
    s.tracker().sent(Request::sync, Origin::probe);
    c.probe_started();
    // The SET's replies and the Sync's: none reaches the client.
    EXPECT_EQ(replies(c, {bind_complete(), data_row("Asia/Tokyo"), command_complete(), ready('I')}),
              "");
    EXPECT_FALSE(c.settings_result(changes, s));
    EXPECT_EQ(s.params().at("timezone"), "Asia/Tokyo");
    EXPECT_TRUE(c.append_settings(s, out).empty());  // held now: nothing more to run
}

TEST(Conversation, AFailedSettingIsTheSessionsError) {
    Leased l({{"work_mem", "nonsense"}}, false);
    auto& [c, s, to_server] = l;
    std::string out;
    auto changes = c.append_settings(s, out);
    build::sync(out);
    s.tracker().sent(Request::sync, Origin::probe);
    c.probe_started();
    std::string error;
    protocol::encode_error(error, {"ERROR", "22023", "invalid value for parameter"});
    replies(c, {error, ready('I')});
    auto e = c.settings_result(changes, s);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->sqlstate, "22023");
    EXPECT_FALSE(s.params().contains("work_mem"));
}

// PostgreSQL resets a setting to the session's startup value; a pooled connection resets it to
// the pool role's. Once the value is read back the client is told its own value again.
TEST(Conversation, AfterAResetTheClientIsToldItsStartupValueAgain) {
    Conversation c;
    c.start({{"timezone", "Asia/Tokyo"}}, false, 1);
    c.told("TimeZone", "Asia/Tokyo");
    ServerState s;
    s.params() = {{"timezone", "Asia/Tokyo"}};
    std::string to_server;
    c.leased(s, to_server);
    protocol::guard::SettingWrites w;
    w.session_sets.push_back({"timezone", std::nullopt});  // RESET TimeZone
    c.note_writes(w);
    s.tracker().sent(Request::query);
    const std::string reported = parameter_status("TimeZone", "Etc/UTC");
    EXPECT_EQ(replies(c, {reported, ready('I')}), reported + ready('I'));
    ASSERT_TRUE(c.read_back_due(s));
    EXPECT_FALSE(c.releasable(s));  // not before the values are known
    std::string out;
    c.append_read_back(s, out);
    EXPECT_EQ(replies(c, {bind_complete(), data_row("Etc/UTC"), command_complete(), ready('I')}),
              parameter_status("TimeZone", "Asia/Tokyo"));
    EXPECT_EQ(c.settings().values().at("timezone"), "Asia/Tokyo");
    EXPECT_EQ(s.params().at("timezone"), "Etc/UTC");  // re-applied before the next transaction
    EXPECT_TRUE(c.releasable(s));
}

// A ParameterStatus caused by pgtenant's own SET reaches the client only when it tells it its
// own value anew; another client's value never does.
TEST(Conversation, OwnReportsReachTheClientOnlyWithItsOwnNewValue) {
    Conversation c;
    c.start({{"timezone", "Asia/Tokyo"}}, false, 1);
    c.told("TimeZone", "Asia/Tokyo");
    ServerState s;
    std::string to_server;
    c.leased(s, to_server);
    s.tracker().sent(Request::bind, Origin::probe);
    s.tracker().sent(Request::execute, Origin::probe);
    s.tracker().sent(Request::sync, Origin::probe);
    EXPECT_EQ(replies(c, {bind_complete(), parameter_status("TimeZone", "Asia/Tokyo"),
                          parameter_status("DateStyle", "German"), command_complete(), ready('I')}),
              "");
}

TEST(Conversation, AFatalFromTheServerReachesTheClientAsAnErrorAndBreaksTheConnection) {
    Leased l;
    auto& [c, s, to_server] = l;
    s.tracker().sent(Request::query);
    std::string fatal;
    protocol::encode_error(fatal, {"FATAL", "57P01", "terminating connection"});
    auto out = replies(c, {fatal});
    auto e = protocol::decode_error_fields(std::string_view(out).substr(5));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->severity(), "ERROR");
    EXPECT_TRUE(s.broken());
    EXPECT_FALSE(c.releasable(s));
}

TEST(Conversation, ALostConnectionHadABlockWhenOneWasOpenOrMayHaveBegun) {
    Leased l;
    auto& [c, s, to_server] = l;
    c.open_segment();
    c.note_may_begin(true);
    EXPECT_TRUE(c.server_lost(true, false));  // BEGIN sent, unanswered
    EXPECT_EQ(c.block(), Block::idle);
    c.forget_may_begin();
    EXPECT_FALSE(c.server_lost(true, false));
    c.note_may_begin(true);
    EXPECT_FALSE(c.server_lost(true, true));  // the binding failed: the BEGIN never ran
    s.tracker().sent(Request::query);
    replies(c, {ready('T')});
    EXPECT_TRUE(c.server_lost(false, false));
}

TEST(Conversation, CopyDataIsAwaitedUntilTheClientEndsIt) {
    Leased l;
    auto& [c, s, to_server] = l;
    s.tracker().sent(Request::query);
    std::string copy_in;
    protocol::MessageWriter(copy_in).begin('G').byte(0).int16(0).end();
    replies(c, {copy_in});
    EXPECT_TRUE(c.copy_awaited());
    c.copy_ended();
    EXPECT_FALSE(c.copy_awaited());
}

protocol::ClientMessage client_message(const std::string& bytes) {
    auto m = protocol::decode_client_message(bytes);
    EXPECT_TRUE(m);
    return *m;
}

// The body of the first message in `bytes`.
std::string_view first_body(std::string_view bytes) {
    return bytes.substr(5, protocol::load_u32(bytes.data() + 1) - 4);
}

std::string error(std::string_view sqlstate) {
    std::string m;
    protocol::encode_error(m, {"ERROR", std::string(sqlstate), "failed"});
    return m;
}

TEST(Conversation, AClientsParseThatFailsLeavesItWithoutTheStatement) {
    Leased l;
    auto& [c, s, out] = l;
    const auto& st = c.statements().add("q", "SELECT nonsense", {});
    const std::string server_name = st.server_name;
    c.prepare_on_server("q", st, Origin::client);
    build::sync(out);
    s.tracker().sent(Request::sync);
    // The Parse fails; the hidden Describe after it is skipped.
    replies(c, {error("42703"), ready('I')});
    EXPECT_EQ(c.statements().find("q"), nullptr);
    EXPECT_FALSE(s.statements().has(server_name));
}

TEST(Conversation, ARepreparedStatementLearnsItsShapeAndTheWaitingLoopIsWoken) {
    Leased l;
    auto& [c, s, out] = l;
    const auto& st = c.statements().add("q", "SELECT 1", {});
    const std::string server_name = st.server_name;
    const auto describe = c.prepare_on_server("q", st, Origin::hidden);
    c.start_shape_check(describe);
    std::string row_description;
    protocol::MessageWriter(row_description)
        .begin('T')
        .int16(1)
        .cstring("x")
        .int32(0)
        .int16(0)
        .int32(23)
        .int16(4)
        .int32(-1)
        .int16(0)
        .end();
    std::string parse_complete("1\0\0\0\4", 5);
    std::string no_parameters;
    protocol::MessageWriter(no_parameters).begin('t').int16(0).end();
    EXPECT_EQ(replies(c, {parse_complete, no_parameters, row_description}), "");
    ASSERT_TRUE(c.shape_check_done());
    auto check = c.take_shape_check();
    ASSERT_TRUE(check.shape);
    EXPECT_EQ(check.parameters, no_parameters);
    EXPECT_TRUE(c.statements().find("q")->shape);  // the client's statement learned it too
    EXPECT_TRUE(s.statements().shape(server_name));
}

// Rule 3: a client never uses the unnamed statement another session left on a connection.
TEST(Conversation, AnotherSessionsUnnamedStatementIsNeverUsed) {
    ServerState s;
    std::string out;
    Conversation a, b;
    a.start({}, false, 1);
    b.start({}, false, 2);
    std::string parse;
    build::parse(parse, "", "SELECT 'a'");
    a.leased(s, out);
    a.parse_unnamed(client_message(parse), Conversation::Binding::before);
    replies(a, {std::string("1\0\0\0\4", 5)});
    EXPECT_TRUE(a.unnamed_ready());  // its own is there: nothing to send
    a.let_go();
    out.clear();
    b.leased(s, out);
    EXPECT_FALSE(b.unnamed_ready());  // it has none (26000 for its Bind)
    EXPECT_EQ(out, "");
    b.let_go();
    std::string parse_b;
    build::parse(parse_b, "", "SELECT 'b'");
    b.leased(s, out);
    b.parse_unnamed(client_message(parse_b), Conversation::Binding::before);
    replies(b, {std::string("1\0\0\0\4", 5)});
    b.let_go();
    out.clear();
    a.leased(s, out);
    EXPECT_TRUE(a.unnamed_ready());  // its own, prepared again: b's is on the connection
    EXPECT_NE(out.find("SELECT 'a'"), std::string::npos);
}

TEST(Conversation, ARefusalTakesThePlaceOfTheSubstitutesError) {
    Leased l;
    auto& [c, s, out] = l;
    std::string query;
    build::query(query, "SELECT set_config('app.practice', '2', false)");
    c.substitute(client_message(query), {"ERROR", "42501", "refused by pgtenant"});
    auto to_client = replies(c, {error("42P01"), ready('I')});
    auto e = protocol::decode_error_fields(first_body(to_client));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->sqlstate(), "42501");
    EXPECT_EQ(to_client.substr(to_client.size() - 6), ready('I'));
    // In a failed transaction the server's 25P02 is the client's answer, as on PostgreSQL.
    c.substitute(client_message(query), {"ERROR", "42501", "refused by pgtenant"});
    to_client = replies(c, {error("25P02"), ready('E')});
    e = protocol::decode_error_fields(first_body(to_client));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->sqlstate(), "25P02");
}

// A Bind of the client's statement on a connection that lacks it: prepared there first, and
// when the client knows its columns, the serve loop must learn the new copy's before the Bind
// goes on; changed columns fail it as PostgreSQL would (0A000), the same ones let it through.
TEST(Conversation, ABindOnAConnectionThatLacksTheStatementWaitsForItsShape) {
    Conversation c;
    c.start({}, false, 1);
    protocol::guard::StatementGuard classifier;
    const std::string setting = "app.current_practice_id";
    Conversation::Policy policy{setting, false, classifier};
    const auto& st = c.statements().add("q", "SELECT 1", {});
    c.statements().learn_shape("q", st.id, 42);
    for (const protocol::RowShape now : {protocol::RowShape{42}, protocol::RowShape{7}}) {
        ServerState s;
        std::string out;
        c.leased(s, out);
        std::string bind;
        build::bind(bind, "q", {});
        const auto m = client_message(bind);
        std::string local;
        auto d = c.on_client_message(m, policy, local);
        auto f = c.forward(m, d);
        ASSERT_EQ(f.kind, Conversation::Forwarded::Kind::shape_check);
        EXPECT_NE(out.find("SELECT 1"), std::string::npos);  // the Parse, then a Describe
        Conversation::ShapeCheck check;
        check.shape = now;
        out.clear();
        f = c.finish_use(m, check);
        if (now == 42) {
            EXPECT_EQ(f.kind, Conversation::Forwarded::Kind::sent);
            EXPECT_EQ(out[0], 'B');
        } else {
            EXPECT_EQ(f.kind, Conversation::Forwarded::Kind::refused);
            ASSERT_TRUE(f.refusal);
            EXPECT_EQ(f.refusal->message, "cached plan must not change result type");
            EXPECT_EQ(f.refusal->rule, "cached_plan_changed");
        }
        c.let_go();
    }
}

// The client's Close of its statement: forgotten by the client, its server copy left for
// others, CloseComplete from the server all the same.
TEST(Conversation, ACloseForgetsTheClientsStatementOnly) {
    Leased l;
    auto& [c, s, out] = l;
    c.statements().add("q", "SELECT 1", {});
    std::string close;
    build::close(close, 'S', "q");
    const auto m = client_message(close);
    EXPECT_EQ(c.forward(m, {}).kind, Conversation::Forwarded::Kind::sent);
    EXPECT_EQ(c.statements().find("q"), nullptr);
    std::string expected;
    build::close(expected, 'S', kNoneStatement);
    EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace pgtenant::proxy
