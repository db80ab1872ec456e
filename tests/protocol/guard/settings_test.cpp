#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/guard/guard.h"
#include "protocol/guard/tree_reader.h"

namespace pgtenant::protocol::guard {
namespace {

SettingWrites writes(const char* sql) {
    StatementGuard g(0);
    return g.facts(sql).settings;
}

TEST(GuardSettings, ReservedNamesInEverySpelling) {
    for (const char* sql :
         {"SET app.current_practice_id = 'x'", "set \"App\".\"Current_Practice_Id\" TO 'x'",
          "SET /* c */ LOCAL app.current_practice_id = 'x'", "RESET app.current_practice_id",
          "SELECT 1 FROM t WHERE pg_catalog.set_config('app.current_practice_id', 'x', true) IS "
          "NULL",
          "ALTER ROLE r SET app.current_practice_id = 'x'"}) {
        SCOPED_TRACE(sql);
        auto w = writes(sql);
        ASSERT_EQ(w.names.size(), 1u);
        EXPECT_EQ(w.names[0], "app.current_practice_id");
    }
}

TEST(GuardSettings, ComputedSetConfigNamesAreFlagged) {
    EXPECT_TRUE(writes("SELECT set_config($1, 'x', false)").computed_name);
    EXPECT_TRUE(writes("SELECT set_config('app.' || 'x', 'y', true)").computed_name);
    EXPECT_TRUE(writes("SELECT set_config(U&\"\\0061pp\", 'y', true)").computed_name);
    EXPECT_FALSE(writes("SELECT set_config('search_path', $1, false)").computed_name);
}

TEST(GuardSettings, SessionSetsCarryTheirValues) {
    auto w = writes(
        "SET search_path = a, \"B c\", public; SET statement_timeout TO 0; SET TimeZone TO "
        "DEFAULT; "
        "RESET lock_timeout; SET LOCAL work_mem = '4MB'; SET application_name = 'it''s'");
    ASSERT_EQ(w.session_sets.size(), 5u);
    EXPECT_EQ(w.session_sets[0].name, "search_path");
    EXPECT_EQ(*w.session_sets[0].value, "a, \"B c\", public");
    EXPECT_EQ(*w.session_sets[1].value, "0");
    EXPECT_FALSE(w.session_sets[2].value);
    EXPECT_EQ(w.session_sets[3].name, "lock_timeout");
    EXPECT_EQ(*w.session_sets[4].value, "it's");
    auto odd = writes("SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE");
    ASSERT_EQ(odd.session_sets.size(), 1u);
    EXPECT_FALSE(odd.session_sets[0].understood);
}

TEST(GuardSettings, SqlPreparedStatementsAreFlagged) {
    EXPECT_TRUE(writes("PREPARE p AS SELECT 1").sql_prepared);
    EXPECT_TRUE(writes("EXPLAIN EXECUTE p").sql_prepared);
    EXPECT_TRUE(writes("DEALLOCATE p").sql_prepared);
    EXPECT_FALSE(writes("DEALLOCATE ALL").sql_prepared);
    EXPECT_FALSE(writes("SELECT 'prepare execute'").sql_prepared);
}

// Found by classify_fuzz (its walk of the parse tree disagreed with the scan): the scan looked
// for the end of a JSON string or element with a plain search, which the string's own text can
// fool. A SET LOCAL whose value held "}}" was taken for a session SET (and carried to later
// transactions with a wrong value), a quoted name ending in a backslash lost its value, escaped
// characters in values were kept as their letters, and a schema name holding "}}" hid the
// set_config() that followed it.
TEST(GuardSettings, JsonStringsAreReadToTheirRealEnd) {
    EXPECT_TRUE(
        writes("SET LOCAL statement_timeout = '\"}}],\"is_local\":\"5s'").session_sets.empty());

    auto name = writes("SET \"x.a\\\" = 1");
    ASSERT_EQ(name.session_sets.size(), 1u);
    EXPECT_EQ(name.session_sets[0].name, "x.a\\");
    EXPECT_EQ(name.session_sets[0].value, "1");

    auto value = writes("SET application_name = E'a\\nb\\t\"c\\\\'");
    ASSERT_EQ(value.session_sets.size(), 1u);
    EXPECT_EQ(value.session_sets[0].value, "a\nb\t\"c\\");

    auto qualified = writes("SELECT \"a}}\".set_config('app.x', '1', false)");
    ASSERT_EQ(qualified.names.size(), 1u);
    EXPECT_EQ(qualified.names[0], "app.x");
}

// Found by settings_scan_fuzz, when settings were found by byte patterns in the JSON: a tree
// cut off right after the last SET argument made that scan read past the end. The tree reader
// parses the JSON: a cut tree is unreadable as a whole (parse_error), never half read.
TEST(GuardSettings, TruncatedTreeIsReadWithinBounds) {
    const std::string tree =
        "{\"stmts\":[{\"stmt\":{\"VariableSetStmt\":{\"kind\":\"VAR_SET_VALUE\",\"name\":"
        "\"role\",\"args\":[{\"A_Const\":{\"sval\":{\"sval\":\"admin\"},\"location\":9}}";
    Facts f;
    ASSERT_NO_THROW(f = read_tree(tree));
    EXPECT_TRUE(f.parse_error);
    EXPECT_TRUE(f.settings.names.empty());
    EXPECT_FALSE(read_tree(tree + "]}}}]}").parse_error);
    ASSERT_EQ(read_tree(tree + "]}}}]}").settings.names.size(), 1u);
    EXPECT_EQ(read_tree(tree + "]}}}]}").settings.names[0], "role");
}

// Fields are found by their place in the tree, not by their order in the text.
TEST(GuardSettings, FieldOrderDoesNotMatter) {
    auto set = read_tree(
        "{\"stmts\":[{\"stmt\":{\"VariableSetStmt\":{\"is_local\":false,\"args\":[{\"A_Const\":"
        "{\"location\":9,\"sval\":{\"sval\":\"UTC\"}}}],\"name\":\"TimeZone\",\"kind\":"
        "\"VAR_SET_VALUE\"}}}]}");
    ASSERT_EQ(set.settings.names.size(), 1u);
    EXPECT_EQ(set.settings.names[0], "timezone");
    ASSERT_EQ(set.settings.session_sets.size(), 1u);
    EXPECT_EQ(set.settings.session_sets[0].value, "UTC");
    EXPECT_TRUE(set.snapshot_free);
    auto call = read_tree(
        "{\"stmts\":[{\"stmt\":{\"SelectStmt\":{\"targetList\":[{\"ResTarget\":{\"val\":"
        "{\"FuncCall\":{\"args\":[{\"A_Const\":{\"sval\":{\"sval\":\"App.X\"}}},{\"A_Const\":"
        "{\"sval\":{\"sval\":\"1\"}}}],\"funcname\":[{\"String\":{\"sval\":\"set_config\"}}]}}}}]"
        "}}}]}");
    ASSERT_EQ(call.settings.names.size(), 1u);
    EXPECT_EQ(call.settings.names[0], "app.x");
    EXPECT_FALSE(call.settings.computed_name);
}

// Nested calls: each set_config() is judged by its own first argument.
TEST(GuardSettings, NestedSetConfigCalls) {
    auto w = writes("SELECT set_config(set_config('app.inner', 'x', true), 'y', true)");
    ASSERT_EQ(w.names.size(), 1u);
    EXPECT_EQ(w.names[0], "app.inner");
    EXPECT_TRUE(w.computed_name);  // the outer one's name is the inner call's result
    auto deep = writes(
        "SELECT 1 FROM t WHERE f(g(h(set_config('search_path', 'x', false)))) "
        "AND set_config('work_mem', '1MB', true) IS NOT NULL");
    EXPECT_EQ(deep.names, (std::vector<std::string>{"search_path", "work_mem"}));
    EXPECT_FALSE(deep.computed_name);
}

// A SET LOCAL is not the session's, whatever its value looks like.
TEST(GuardSettings, SetLocalWithAnyValueIsNotASessionSet) {
    auto w = writes("SET LOCAL TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE");
    EXPECT_TRUE(w.session_sets.empty());
    ASSERT_EQ(w.names.size(), 1u);
    EXPECT_EQ(w.names[0], "timezone");
}

}  // namespace
}  // namespace pgtenant::protocol::guard
