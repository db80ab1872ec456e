#include "protocol/classify.h"

#include <gtest/gtest.h>

#include <string>

namespace pgtenant::protocol {
namespace {

SettingWrites writes(const char* sql) {
    StatementClassifier c(0);
    return c.classify(sql).settings;
}

TEST(SettingsScan, ReservedNamesInEverySpelling) {
    for (const char* sql : {"SET app.current_practice_id = 'x'", "set \"App\".\"Current_Practice_Id\" TO 'x'",
                            "SET /* c */ LOCAL app.current_practice_id = 'x'", "RESET app.current_practice_id",
                            "SELECT 1 FROM t WHERE pg_catalog.set_config('app.current_practice_id', 'x', true) IS NULL",
                            "ALTER ROLE r SET app.current_practice_id = 'x'"}) {
        SCOPED_TRACE(sql);
        auto w = writes(sql);
        ASSERT_EQ(w.names.size(), 1u);
        EXPECT_EQ(w.names[0], "app.current_practice_id");
    }
}

TEST(SettingsScan, ComputedSetConfigNamesAreFlagged) {
    EXPECT_TRUE(writes("SELECT set_config($1, 'x', false)").computed_name);
    EXPECT_TRUE(writes("SELECT set_config('app.' || 'x', 'y', true)").computed_name);
    EXPECT_TRUE(writes("SELECT set_config(U&\"\\0061pp\", 'y', true)").computed_name);
    EXPECT_FALSE(writes("SELECT set_config('search_path', $1, false)").computed_name);
}

TEST(SettingsScan, SessionSetsCarryTheirValues) {
    auto w = writes("SET search_path = a, \"B c\", public; SET statement_timeout TO 0; SET TimeZone TO DEFAULT; "
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

TEST(SettingsScan, SqlPreparedStatementsAreFlagged) {
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
TEST(SettingsScan, JsonStringsAreReadToTheirRealEnd) {
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

// Found by settings_scan_fuzz: a tree cut off right after the last SET argument made the scan
// read past the end (std::out_of_range). libpg_query never cuts its output, but the scan must
// not depend on that.
TEST(SettingsScan, TruncatedTreeIsReadWithinBounds) {
    const std::string tree =
        "{\"stmts\":[{\"stmt\":{\"VariableSetStmt\":{\"kind\":\"VAR_SET_VALUE\",\"name\":"
        "\"role\",\"args\":[{\"A_Const\":{\"sval\":{\"sval\":\"admin\"},\"location\":9}}";
    SettingWrites w;
    ASSERT_NO_THROW(w = scan_setting_writes(tree));
    ASSERT_EQ(w.names.size(), 1u);
    EXPECT_EQ(w.names[0], "role");
}

}  // namespace
}  // namespace pgtenant::protocol
