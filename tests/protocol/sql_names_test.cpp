#include "protocol/sql_names.h"

#include <gtest/gtest.h>

#include <string>

namespace pgtenant::protocol {
namespace {

// The name's text, or "<none>".
std::string name_in(std::string_view sql, std::string_view keyword) {
    auto span = statement_name_after(sql, keyword);
    return span ? std::string(sql.substr(span->offset, span->length)) : "<none>";
}

TEST(StatementNameAfter, PlainAndQuotedNames) {
    EXPECT_EQ(name_in("PREPARE q1 AS SELECT 1", "prepare"), "q1");
    EXPECT_EQ(name_in("prepare Q_1$x(int) AS SELECT $1", "prepare"), "Q_1$x");
    EXPECT_EQ(name_in("EXECUTE q1", "execute"), "q1");
    EXPECT_EQ(name_in("execute q1(1, 'a')", "execute"), "q1");
    EXPECT_EQ(name_in("EXECUTE \"My \"\"q\"\"\" (1)", "execute"), "\"My \"\"q\"\"\"");
    EXPECT_EQ(name_in("EXECUTE \xc3\xa9t\xc3\xa9", "execute"), "\xc3\xa9t\xc3\xa9");
}

TEST(StatementNameAfter, WhitespaceAndCommentsAnywhereBeforeTheName) {
    EXPECT_EQ(name_in("  \n\t-- why\n/* a /* nested */ comment */EXECUTE/**/-- x\n q", "execute"),
              "q");
    EXPECT_EQ(name_in("PREPARE\n\"q\"AS SELECT 1", "prepare"), "\"q\"");
}

TEST(StatementNameAfter, OtherShapesHaveNone) {
    EXPECT_EQ(name_in("SELECT 1", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTED q", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTE", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTE /* open", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTE \"open", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTE U&\"q\"", "execute"), "<none>");
    EXPECT_EQ(name_in("EXECUTE (1)", "execute"), "<none>");
    EXPECT_EQ(name_in("PREPARE q AS SELECT 1", "execute"), "<none>");
}

}  // namespace
}  // namespace pgtenant::protocol
