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

TEST(ServerStatements, EvictsLeastRecentlyUsed) {
    ServerStatements s(2);
    EXPECT_FALSE(s.add("a"));
    EXPECT_FALSE(s.add("b"));
    EXPECT_TRUE(s.has("a"));  // a is now the most recent
    auto victim = s.add("c");
    ASSERT_TRUE(victim);
    EXPECT_EQ(*victim, "b");
    EXPECT_FALSE(s.has("b"));
    EXPECT_FALSE(s.add("a"));  // already there: nothing evicted
    s.erase("a");
    EXPECT_FALSE(s.has("a"));
    EXPECT_EQ(s.size(), 1u);
    s.clear();
    EXPECT_EQ(s.size(), 0u);
}

}  // namespace
}  // namespace pgtenant::proxy
