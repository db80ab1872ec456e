// Protocol-level prepared statements and DDL between their executions, at the wire level
// (issue #4). PostgreSQL fails a prepared statement whose result columns changed since the
// client prepared it with 0A000 "cached plan must not change result type", for as long as they
// differ; pgJDBC, which Binds a described statement without describing it again, relies on it
// to re-prepare. Through pgtenant a client's statement is prepared on whichever of the pool's
// two server connections its transaction lands on, or again after a practice switch reset:
// every case here must look exactly as it does straight to PostgreSQL (checked by hand with
// the same messages against PostgreSQL 15).
//
// Which server connection a transaction lands on is steered by other clients holding the
// other one in an open transaction.
#include <gtest/gtest.h>

#include <functional>

#include "tests/support/integration_env.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

PgtenantOptions two_connections() {
    PgtenantOptions o;
    o.pool_size = 2;
    o.wait_timeout_ms = 3000;
    return o;
}

const auto* const kEnv = register_integration_env(two_connections());

// Appended before a Sync: reports the backend the batch ran on, as its last DataRow.
std::string backend_probe() {
    return wire::parse("", "SELECT pg_backend_pid()") + wire::bind("", "") + wire::execute();
}

int last_backend(const Replies& replies) {
    for (auto it = replies.rbegin(); it != replies.rend(); ++it) {
        auto values = wire::data_row_values(*it);
        if (values.size() == 1) return std::stoi(values[0]);
    }
    ADD_FAILURE() << "no backend pid in the replies " << WireClient::tags(replies);
    return -1;
}

const Replies::value_type* find_tag(const Replies& replies, char tag) {
    for (const auto& r : replies)
        if (r[0] == tag) return &r;
    return nullptr;
}

// The error PostgreSQL raises, field for field as drivers read it.
void expect_cached_plan_error(const Replies& replies, const std::string& expected_tags = "EZ") {
    EXPECT_EQ(WireClient::tags(replies), expected_tags);
    const auto* e = find_tag(replies, 'E');
    ASSERT_NE(e, nullptr);
    auto f = wire::error_fields(*e);
    EXPECT_EQ(f['C'], "0A000");
    EXPECT_EQ(f['M'], "cached plan must not change result type");
    EXPECT_EQ(f['R'], "RevalidateCachedQuery");  // pgJDBC and postgres.js re-prepare on it
}

// A client holding one server connection in an open transaction until destroyed.
struct Holder {
    PgConn conn;
    int pid = -1;
    Holder() = default;
    Holder(Holder&&) = default;
    Holder& operator=(Holder&&) = delete;  // dropping a client mid-transaction discards its backend
    ~Holder() {
        if (conn) run(conn.get(), "COMMIT");
    }
};

// New clients of `login` open transactions until one holds a server connection whose backend
// `wanted`; the others commit. At most the pool's two connections are involved.
Holder hold_backend(const std::string& login, const std::function<bool(int)>& wanted) {
    std::vector<Holder> tried;
    for (int i = 0; i < 2; ++i) {
        Holder h;
        h.conn = integration_env().connect_as(login);
        EXPECT_TRUE(run(h.conn.get(), "BEGIN").ok());
        h.pid = std::stoi(query(h.conn.get(), "SELECT pg_backend_pid()").at(0).at(0));
        if (wanted(h.pid)) return h;
        tried.push_back(std::move(h));
    }
    ADD_FAILURE() << "no server connection with the wanted backend";
    return {};
}

class PoolingDdlTest : public ProxyTest {
  protected:
    // A helper table with one column and one row, readable by the pool role, and an empty log
    // table a batch writes to when it runs.
    void fresh_table(const std::string& name) {
        auto su = env().superuser();
        query(su.get(), "DROP TABLE IF EXISTS " + name + ", " + name + "_log");
        query(su.get(), "CREATE TABLE " + name + " (a int); INSERT INTO " + name + " VALUES (1)");
        query(su.get(), "CREATE TABLE " + name + "_log (x int)");
        query(su.get(), "GRANT SELECT ON " + name + " TO PUBLIC; GRANT INSERT, SELECT ON " + name +
                            "_log TO PUBLIC");
    }
    void ddl(const std::string& sql) {
        auto su = env().superuser();
        query(su.get(), sql);
    }
    int logged(const std::string& name) {
        auto su = env().superuser();
        return std::stoi(query(su.get(), "SELECT count(*) FROM " + name + "_log").at(0).at(0));
    }
};

// pgJDBC's pattern: prepare and describe S_1 once, then Bind/Execute without Describe. After
// ALTER TABLE ... ADD COLUMN the client's next transaction lands on the other server connection,
// where pgtenant must prepare S_1 afresh: the client gets PostgreSQL's 0A000, nothing of its
// batch runs, S_1 keeps failing, and the same text prepared under a new name has the new shape.
TEST_F(PoolingDdlTest, StatementMovedToAnotherConnectionAfterDdlFailsAsOnPostgres) {
    fresh_table("moved");
    const std::string sql = "SELECT * FROM moved";
    WireClient alice(env().connect_as(demo::kAlice));
    auto r = alice.exchange(wire::parse("S_1", sql) + wire::describe('S', "S_1") + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tTZ");
    EXPECT_EQ(wire::row_description_names(r[2]), std::vector<std::string>{"a"});
    r = alice.exchange(wire::bind("", "S_1") + wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "2DC12DCZ");
    const int home = last_backend(r);

    {
        auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid == home; });
        ddl("ALTER TABLE moved ADD COLUMN b text NOT NULL DEFAULT 'new'");
        const std::string side_effect =
            wire::parse("", "INSERT INTO moved_log VALUES (1)") + wire::bind("", "") + wire::execute();
        r = alice.exchange(wire::bind("", "S_1") + wire::execute() + side_effect + wire::sync());
        expect_cached_plan_error(r);
        EXPECT_EQ(logged("moved"), 0) << "the rest of the batch must not run";

        // As on PostgreSQL, for as long as the columns differ: Bind, and Describe (which
        // reports the parameters first).
        expect_cached_plan_error(alice.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync()));
        expect_cached_plan_error(alice.exchange(wire::describe('S', "S_1") + wire::sync()), "tEZ");

        // pgJDBC then closes S_1 and prepares the same text as S_2: the new shape.
        r = alice.exchange(wire::close('S', "S_1") + wire::parse("S_2", sql) + wire::describe('S', "S_2") +
                           wire::bind("", "S_2") + wire::execute() + backend_probe() + wire::sync());
        ASSERT_EQ(WireClient::tags(r), "31tT2DC12DCZ");
        EXPECT_EQ(wire::row_description_names(r[3]), (std::vector<std::string>{"a", "b"}));
        EXPECT_EQ(wire::data_row_values(r[5]), (std::vector<std::string>{"1", "new"}));
        EXPECT_NE(last_backend(r), home);
    }
    // Back on its first connection, where the old copy still sits: the same.
    auto other = hold_backend(demo::kAlice, [&](int pid) { return pid != home; });
    r = alice.exchange(wire::bind("", "S_2") + wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "2DC12DCZ");
    EXPECT_EQ(wire::data_row_values(r[1]), (std::vector<std::string>{"1", "new"}));
    EXPECT_EQ(last_backend(r), home);
}

// Another practice's transaction on the connection resets it (DEALLOCATE ALL among the rest):
// the statement is prepared again there, and the changed columns are noticed the same way.
TEST_F(PoolingDdlTest, StatementPreparedAgainAfterPracticeSwitchFailsAsOnPostgres) {
    fresh_table("switched");
    const std::string sql = "SELECT * FROM switched";
    WireClient alice(env().connect_as(demo::kAlice));
    auto r = alice.exchange(wire::parse("S_1", sql) + wire::describe('S', "S_1") + wire::bind("", "S_1") +
                            wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
    const int home = last_backend(r);
    {
        auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid != home; });
        auto bob = env().connect_as(demo::kBob);
        ASSERT_EQ(query(bob.get(), "SELECT pg_backend_pid()").at(0).at(0), std::to_string(home));
    }
    ddl("ALTER TABLE switched ADD COLUMN b int");
    // Bob's client holds the other connection; alice's transaction lands on home after bob's.
    auto holder = hold_backend(demo::kBob, [&](int pid) { return pid != home; });
    r = alice.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync());
    expect_cached_plan_error(r);
    // A portal's Describe (libpq's PQexecPrepared) changes nothing: the Bind fails first.
    r = alice.exchange(wire::bind("", "S_1") + wire::describe('P', "") + wire::execute() + wire::sync());
    expect_cached_plan_error(r);
    r = alice.exchange(wire::parse("S_2", sql) + wire::bind("", "S_2") + wire::describe('P', "") +
                       wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "12TDC12DCZ");
    EXPECT_EQ(wire::row_description_names(r[2]), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(last_backend(r), home);
}

// The statement stays on its connection and the server itself raises the 0A000. The same text
// prepared again under a new name works there, for this client and for another one that had
// prepared it before the DDL (they share the server's copy).
TEST_F(PoolingDdlTest, ServerRaised0A000ThenTheSameTextPreparesAgain) {
    fresh_table("stays");
    const std::string sql = "SELECT * FROM stays";
    WireClient a1(env().connect_as(demo::kAlice)), a2(env().connect_as(demo::kAlice));
    auto r = a1.exchange(wire::parse("S_1", sql) + wire::describe('S', "S_1") + wire::bind("", "S_1") +
                         wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
    const int home = last_backend(r);
    auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid != home; });
    r = a2.exchange(wire::parse("Q_1", sql) + wire::describe('S', "Q_1") + wire::bind("", "Q_1") +
                    wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
    ASSERT_EQ(last_backend(r), home);

    ddl("ALTER TABLE stays ADD COLUMN b int DEFAULT 7");
    expect_cached_plan_error(a1.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync()));
    expect_cached_plan_error(a2.exchange(wire::bind("", "Q_1") + wire::execute() + wire::sync()));
    for (auto* c : {&a1, &a2}) {
        r = c->exchange(wire::parse("R_2", sql) + wire::describe('S', "R_2") + wire::bind("", "R_2") +
                        wire::execute() + backend_probe() + wire::sync());
        ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
        EXPECT_EQ(wire::data_row_values(r[4]), (std::vector<std::string>{"1", "7"}));
        EXPECT_EQ(last_backend(r), home);
    }
    expect_cached_plan_error(a1.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync()));
}

// A statement prepared after the DDL (on the other connection) lands where a copy prepared
// before it still sits: that copy is prepared again, not used, and the client gets its rows.
TEST_F(PoolingDdlTest, StatementPreparedAfterDdlRunsWhereAnOlderCopySits) {
    fresh_table("older");
    const std::string sql = "SELECT * FROM older";
    WireClient a1(env().connect_as(demo::kAlice)), a2(env().connect_as(demo::kAlice));
    auto r = a1.exchange(wire::parse("S_1", sql) + wire::describe('S', "S_1") + wire::bind("", "S_1") +
                         wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
    const int home = last_backend(r);
    ddl("ALTER TABLE older ADD COLUMN b int DEFAULT 7");
    {
        auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid == home; });
        r = a2.exchange(wire::parse("Q_1", sql) + wire::describe('S', "Q_1") + wire::sync());
        ASSERT_EQ(WireClient::tags(r), "1tTZ");
        EXPECT_EQ(wire::row_description_names(r[2]), (std::vector<std::string>{"a", "b"}));
    }
    auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid != home; });
    r = a2.exchange(wire::bind("", "Q_1") + wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "2DC12DCZ");
    EXPECT_EQ(wire::data_row_values(r[1]), (std::vector<std::string>{"1", "7"}));
    EXPECT_EQ(last_backend(r), home);
    // ... while the client that prepared it before the DDL gets PostgreSQL's error there.
    expect_cached_plan_error(a1.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync()));
}

// A change of collation alone is invisible in a RowDescription, yet PostgreSQL fails the old
// statement with 0A000. Once the server said so on a connection, pgtenant prepares that copy
// afresh: a client that prepared the statement after the change gets its rows there, not an
// error PostgreSQL would never give it.
TEST_F(PoolingDdlTest, CopyTheServerFailedIsPreparedAfreshForOtherClients) {
    auto su = env().superuser();
    query(su.get(), "DROP TABLE IF EXISTS collated; CREATE TABLE collated (c text); "
                    "INSERT INTO collated VALUES ('x'); GRANT SELECT ON collated TO PUBLIC");
    const std::string sql = "SELECT * FROM collated";
    WireClient a1(env().connect_as(demo::kAlice)), a2(env().connect_as(demo::kAlice));
    auto r = a1.exchange(wire::parse("S_1", sql) + wire::describe('S', "S_1") + wire::bind("", "S_1") +
                         wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "1tT2DC12DCZ");
    const int home = last_backend(r);
    ddl("ALTER TABLE collated ALTER COLUMN c TYPE text COLLATE \"C\"");
    {
        auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid == home; });
        ASSERT_EQ(WireClient::tags(a2.exchange(wire::parse("Q_1", sql) + wire::sync())), "1Z");
    }
    auto holder = hold_backend(demo::kAlice, [&](int pid) { return pid != home; });
    expect_cached_plan_error(a1.exchange(wire::bind("", "S_1") + wire::execute() + wire::sync()));
    r = a2.exchange(wire::bind("", "Q_1") + wire::execute() + backend_probe() + wire::sync());
    ASSERT_EQ(WireClient::tags(r), "2DC12DCZ");
    EXPECT_EQ(last_backend(r), home);
}

}  // namespace
}  // namespace pgtenant::testing
