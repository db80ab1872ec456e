// What becomes of a client message (proxy/session/conversation_decide.cpp): the statement
// guard's refusals with their SQLSTATEs, where the practice binding goes, and what pgtenant
// answers itself. No sockets, no server.
#include <gtest/gtest.h>

#include <string>

#include "protocol/builders.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/session/conversation.h"

namespace pgtenant::proxy {
namespace {

namespace build = protocol::build;
using Binding = Conversation::Binding;
using Kind = Conversation::SqlPrepared::Kind;

class Decide : public ::testing::Test {
  protected:
    Decide() { c_.start({{"timezone", "Asia/Tokyo"}}, false, 1); }

    Conversation::Decision query(const std::string& sql) {
        std::string msg;
        build::query(msg, sql);
        return decide(msg);
    }
    Conversation::Decision parse(const std::string& name, const std::string& sql) {
        std::string msg;
        build::parse(msg, name, sql);
        return decide(msg);
    }
    Conversation::Decision decide(const std::string& msg) {
        auto m = protocol::decode_client_message(msg);
        EXPECT_TRUE(m);
        local_.clear();
        return c_.on_client_message(*m, policy_, local_);
    }
    static std::string sqlstate(const Conversation::Decision& d) {
        return d.refusal ? d.refusal->sqlstate : "";
    }

    const std::string tenant_setting_ = "app.current_practice_id";
    protocol::guard::StatementGuard classifier_;
    Conversation::Policy policy_{tenant_setting_, false, classifier_};
    Conversation c_;
    std::string local_;
};

TEST_F(Decide, TheTenantSettingIsReserved) {
    EXPECT_EQ(sqlstate(query("SET app.current_practice_id = '2'")), "42501");
    EXPECT_EQ(sqlstate(query("SELECT set_config('app.current_practice_id', '2', false)")), "42501");
    EXPECT_EQ(sqlstate(parse("", "SELECT set_config('app.current_practice_id', $1, true)")),
              "42501");
    EXPECT_EQ(sqlstate(query("ALTER ROLE CURRENT_USER SET work_mem = '1MB'")), "42501");
    // A name that is not a string constant cannot be checked.
    EXPECT_EQ(sqlstate(query("SELECT set_config($$work_mem$$ || '', '1MB', false)")), "42501");
    EXPECT_EQ(sqlstate(query("SELECT set_config(current_user, '1MB', false)")), "42501");
}

TEST_F(Decide, TheFastPathIsRefused) {
    std::string msg;
    protocol::MessageWriter(msg).begin('F').int32(1234).int16(0).int16(0).int16(0).end();
    EXPECT_EQ(sqlstate(decide(msg)), "42501");
}

TEST_F(Decide, TheBindingGoesInFrontOfWhatTakesASnapshot) {
    auto d = query("SELECT 1");
    EXPECT_FALSE(d.refusal);
    EXPECT_EQ(d.binding, Binding::before);
    EXPECT_EQ(query("BEGIN").binding, Binding::deferred);
    EXPECT_EQ(query("SET TimeZone = 'UTC'").binding, Binding::deferred);
}

TEST_F(Decide, SettingsWrittenAreReported) {
    auto d = query("SET TimeZone = 'UTC'; SET LOCAL work_mem = '1MB'");
    ASSERT_EQ(d.writes.session_sets.size(), 1u);
    EXPECT_EQ(d.writes.session_sets[0].name, "timezone");
}

TEST_F(Decide, MaintenanceCommandsOnlyWhereAllowed) {
    EXPECT_EQ(sqlstate(query("VACUUM")), "42501");
    Conversation::Policy allowed{tenant_setting_, true, classifier_};
    std::string msg;
    build::query(msg, "VACUUM");
    auto d = c_.on_client_message(*protocol::decode_client_message(msg), allowed, local_);
    EXPECT_FALSE(d.refusal);
    EXPECT_EQ(d.binding, Binding::never);  // outside a pipeline: nothing in front of it
}

TEST_F(Decide, ExplainAnalyzeOnlyWhereAllowed) {
    for (const char* sql :
         {"EXPLAIN ANALYZE SELECT 1", "explain analyse select 1", "EXPLAIN (ANALYZE) SELECT 1",
          "EXPLAIN (analyze true, buffers) SELECT 1", "EXPLAIN (ANALYZE on) SELECT 1",
          "EXPLAIN (ANALYZE 1) SELECT 1", "SELECT 1; EXPLAIN ANALYZE SELECT 2"}) {
        SCOPED_TRACE(sql);
        auto refused = query(sql);
        ASSERT_TRUE(refused.refusal);
        EXPECT_EQ(refused.refusal->sqlstate, "42501");
        EXPECT_NE(refused.refusal->hint.find("tenant.allow_explain_analyze"), std::string::npos);
        EXPECT_EQ(sqlstate(parse("", sql)), "42501");
    }
    for (const char* sql :
         {"EXPLAIN SELECT 1", "EXPLAIN (ANALYZE false) SELECT 1",
          "EXPLAIN (ANALYZE off, COSTS off) SELECT 1", "EXPLAIN (ANALYZE 0) SELECT 1"}) {
        EXPECT_EQ(sqlstate(query(sql)), "") << sql;
    }
    Conversation::Policy allowed{tenant_setting_, false, classifier_, true};
    std::string msg;
    build::query(msg, "EXPLAIN ANALYZE SELECT 1");
    auto d = c_.on_client_message(*protocol::decode_client_message(msg), allowed, local_);
    EXPECT_FALSE(d.refusal);
    EXPECT_EQ(d.binding, Binding::before);
}

TEST_F(Decide, DeallocateOfTheClientsStatementIsAnsweredHere) {
    c_.statements().add("s1", "SELECT 1", {});
    auto d = query("DEALLOCATE s1");
    EXPECT_FALSE(d.refusal);
    EXPECT_EQ(c_.statements().find("s1"), nullptr);
    std::string expected;
    build::command_complete(expected, "DEALLOCATE");
    build::ready_for_query(expected, 'I');
    EXPECT_EQ(local_, expected);
    EXPECT_EQ(sqlstate(query("DEALLOCATE s1")), "26000");  // gone now, as on PostgreSQL
}

TEST_F(Decide, DiscardAllOnItsOwnResetsTheSessionHere) {
    c_.statements().add("s1", "SELECT 1", {});
    HeldSettings held;
    c_.settings().reported("timezone", "UTC", held);
    auto d = query("DISCARD ALL");
    EXPECT_FALSE(d.refusal);
    EXPECT_EQ(c_.statements().find("s1"), nullptr);
    EXPECT_EQ(c_.settings().values().at("timezone"), "Asia/Tokyo");  // the startup value
    EXPECT_NE(local_.find("DISCARD ALL"), std::string::npos);
    // Anywhere else the server runs it (and refuses it where PostgreSQL does).
    auto pipelined = parse("", "DISCARD ALL");
    EXPECT_TRUE(pipelined.discards_statements);
    EXPECT_TRUE(pipelined.writes.reset_all);
    EXPECT_EQ(pipelined.binding, Binding::never);
}

TEST_F(Decide, SqlLevelPrepareAndExecuteOnTheirOwn) {
    auto prepare = query("PREPARE q (int) AS SELECT $1");
    EXPECT_FALSE(prepare.refusal);
    EXPECT_EQ(prepare.sql_prepared.kind, Kind::prepare);
    EXPECT_EQ(prepare.sql_prepared.name, "q");
    EXPECT_EQ(sqlstate(query("EXECUTE q (1)")), "26000");  // not prepared yet
    EXPECT_EQ(sqlstate(query("PREPARE q AS SELECT 1; SELECT 2")), "0A000");
    EXPECT_EQ(sqlstate(parse("", "EXECUTE q (1)")), "0A000");
    EXPECT_EQ(sqlstate(query("PREPARE U&\"q\" AS SELECT 1")), "0A000");
}

TEST_F(Decide, ASimpleQueryEndsTheUnnamedStatement) {
    ServerState s;
    std::string out;
    c_.leased(s, out);
    std::string msg;
    build::parse(msg, "", "SELECT 1");
    c_.parse_unnamed(*protocol::decode_client_message(msg), Binding::before);
    ASSERT_TRUE(c_.unnamed_binding());
    query("SELECT 2");
    EXPECT_FALSE(c_.unnamed_binding());
}

}  // namespace
}  // namespace pgtenant::proxy
