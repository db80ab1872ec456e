#include "proxy/statements.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy {
namespace {

TEST(ServerStatementName, DependsOnTextAndTypesOnly) {
    auto a = server_statement_name("SELECT $1", {23});
    EXPECT_EQ(a, server_statement_name("SELECT $1", {23}));
    EXPECT_NE(a, server_statement_name("SELECT $1", {25}));
    EXPECT_NE(a, server_statement_name("SELECT $1", {}));
    EXPECT_NE(a, server_statement_name("SELECT $2", {23}));
    EXPECT_TRUE(a.starts_with("pgt_"));
    EXPECT_LE(a.size(), 63u);  // fits a PostgreSQL identifier
}

TEST(ClientStatements, NamesAreTheClientsOwn) {
    ClientStatements alice, bob;
    const auto& s = alice.add("s1", "SELECT 1", {});
    bob.add("s1", "SELECT 2", {});
    ASSERT_NE(alice.find("s1"), nullptr);
    EXPECT_EQ(alice.find("s1")->server_name, s.server_name);
    EXPECT_NE(alice.find("s1")->server_name, bob.find("s1")->server_name);
    alice.remove("s1");
    EXPECT_EQ(alice.find("s1"), nullptr);
    EXPECT_NE(bob.find("s1"), nullptr);
    bob.clear();
    EXPECT_EQ(bob.find("s1"), nullptr);
}

using Names = std::vector<std::string>;

// Records `name`; returns what must be closed on the server first.
Names add(ServerStatements& s, const std::string& name) {
    Names close_first;
    s.add(name, close_first);
    return close_first;
}

TEST(ServerStatements, EvictsLeastRecentlyUsed) {
    ServerStatements s(2);
    EXPECT_EQ(add(s, "a"), Names{});
    EXPECT_EQ(add(s, "b"), Names{});
    EXPECT_TRUE(s.has("a"));  // a is now the most recent
    EXPECT_EQ(add(s, "c"), Names{"b"});
    EXPECT_FALSE(s.has("b"));
    s.erase("a");
    EXPECT_FALSE(s.has("a"));
    EXPECT_EQ(s.size(), 1u);
    s.clear();
    EXPECT_EQ(s.size(), 0u);
}

// Preparing a statement the connection already has replaces the copy: the old one is closed
// first, and its shape is forgotten until the new one is described.
TEST(ServerStatements, PreparingAgainReplacesTheCopy) {
    ServerStatements s(2);
    add(s, "a");
    s.set_shape("a", 42);
    EXPECT_EQ(s.shape("a"), 42u);
    EXPECT_EQ(add(s, "a"), Names{"a"});
    EXPECT_TRUE(s.has("a"));
    EXPECT_FALSE(s.shape("a"));
    EXPECT_EQ(s.size(), 1u);
}

// After the server failed a copy with 0A000 it stays on the server, unusable: the next use
// prepares it again and closes the broken one first.
TEST(ServerStatements, BrokenCopiesAreClosedBeforeTheyArePreparedAgain) {
    ServerStatements s;
    add(s, "a");
    s.set_shape("a", 1);
    s.mark_broken("a");
    EXPECT_FALSE(s.has("a"));
    EXPECT_EQ(s.size(), 1u);  // still there, holding its place
    EXPECT_EQ(add(s, "a"), Names{"a"});
    EXPECT_TRUE(s.has("a"));
    // Not known to be there, but maybe (its Close was skipped): closed before a Parse too.
    s.mark_broken("skipped close");
    EXPECT_EQ(s.size(), 2u);
    EXPECT_FALSE(s.has("skipped close"));
    EXPECT_FALSE(s.shape("skipped close"));
    EXPECT_EQ(add(s, "skipped close"), Names{"skipped close"});
    // After a client's DEALLOCATE ALL, which may or may not have run: all of them.
    s.mark_all_broken();
    EXPECT_FALSE(s.has("a"));
    EXPECT_EQ(add(s, "a"), Names{"a"});
}

TEST(ClientStatements, ShapeIsLearnedOnceAndOnlyForTheSameStatement) {
    ClientStatements c;
    const uint64_t first = c.add("s1", "SELECT 1", {}).id;
    c.learn_shape("s1", first, 5);
    c.learn_shape("s1", first, 6);  // the shape of its preparation stays
    EXPECT_EQ(c.find("s1")->shape, 5u);
    // Closed and prepared again under the same name: a late answer about the first one
    // changes nothing.
    c.remove("s1");
    const uint64_t second = c.add("s1", "SELECT 1", {}).id;
    EXPECT_NE(first, second);
    c.learn_shape("s1", first, 7);
    EXPECT_FALSE(c.find("s1")->shape);
    c.remove("s1", first);
    EXPECT_NE(c.find("s1"), nullptr);
    c.remove("s1", second);
    EXPECT_EQ(c.find("s1"), nullptr);
}

}  // namespace
}  // namespace pgtenant::proxy
