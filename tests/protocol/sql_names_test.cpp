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

TEST(SkipBlanks, SpacesAndCommentsUpToTheNextToken) {
    const auto npos = std::string_view::npos;
    EXPECT_EQ(skip_blanks("", 0), 0u);
    EXPECT_EQ(skip_blanks("x", 0), 0u);
    EXPECT_EQ(skip_blanks(" \t\n\r\f\vx", 0), 6u);
    EXPECT_EQ(skip_blanks("a  b", 1), 3u);
    EXPECT_EQ(skip_blanks("-- to the end", 0), 13u);
    EXPECT_EQ(skip_blanks("--\nx", 0), 3u);
    EXPECT_EQ(skip_blanks("/* a /* nested */ one */x", 0), 24u);
    EXPECT_EQ(skip_blanks("/**/x", 0), 4u);
    // A lone '-', '/' or '*' is a token, also as the last byte.
    EXPECT_EQ(skip_blanks("- 1", 0), 0u);
    EXPECT_EQ(skip_blanks(" -", 0), 1u);
    EXPECT_EQ(skip_blanks(" /", 0), 1u);
    EXPECT_EQ(skip_blanks("*/", 0), 0u);
    // A comment never closed: nothing can follow.
    EXPECT_EQ(skip_blanks("/* open", 0), npos);
    EXPECT_EQ(skip_blanks("/* /* */", 0), npos);
    EXPECT_EQ(skip_blanks("/*", 0), npos);
    EXPECT_EQ(skip_blanks("/*/", 0), npos);
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
