// What a statement may leave in the server session (Facts::effects): each kind the practice
// switch undoes, and everything the guard cannot vouch for.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "protocol/guard/guard.h"
#include "protocol/guard/prefilter.h"

namespace pgtenant::protocol::guard {
namespace {

struct Case {
    const char* sql;
    uint8_t effects;
};

const Case kCases[] = {
    // Nothing left behind.
    {"SELECT abalance FROM pgbench_accounts WHERE aid = $1;", 0},
    {"SELECT count(*) FROM patients", 0},
    {"select lower(name), now(), pg_catalog.upper(name) from patients", 0},
    {"UPDATE patients SET name = name || 'x' WHERE id = $1", 0},
    {"DELETE FROM meal_logs WHERE logged_at < now() - interval '1 day'", 0},
    {"BEGIN", 0},
    {"COMMIT", 0},
    {"SET statement_timeout = '5s'", 0},  // followed by pgtenant's settings
    {"SELECT set_config('application_name', 'x', false)", 0},
    {"SHOW search_path", 0},
    {"EXPLAIN SELECT * FROM patients", 0},
    {"PREPARE q AS SELECT 1", 0},  // alone: kept under pgtenant's name
    {"SELECT currval('s'), lastval()", 0},
    {"NOTIFY ch, 'x'", 0},
    {"LOCK TABLE patients IN SHARE MODE", 0},
    {"UNLISTEN *", 0},
    // What the switch undoes by name.
    {"LISTEN ch", kListen},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", kCursors},
    {"SELECT nextval('s')", kSequences},
    {"SELECT pg_catalog.setval('s', 5)", kSequences},
    {"INSERT INTO t VALUES (1)", kSequences},
    {"WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", kSequences},
    {"MERGE INTO t USING s ON t.a = s.a WHEN NOT MATCHED THEN INSERT VALUES (s.a)", kSequences},
    {"SELECT 1; PREPARE q AS SELECT 2", kStatements},
    // What it cannot vouch for.
    {"SELECT my_function()", kAnything},
    {"SELECT public.lower('x')", kAnything},
    {"SELECT pg_temp.f()", kAnything},
    {"SELECT pg_advisory_lock(1)", kAnything},
    {"SELECT pg_advisory_xact_lock(1)", kAnything},
    {"SELECT setseed(0.5)", kAnything},
    {"SELECT * FROM patients WHERE id = my_id()", kAnything},
    {"EXECUTE q", kAnything},
    {"EXPLAIN ANALYZE SELECT 1", kAnything},
    {"DO $$ BEGIN PERFORM 1; END $$", kAnything},
    {"CALL p()", kAnything},
    {"CREATE TEMP TABLE t (a int)", kAnything},
    {"SELECT * INTO TEMP t FROM patients", kAnything},
    {"CREATE TABLE t AS SELECT 1", kAnything},
    {"COPY patients FROM STDIN", kAnything},
    {"SET ROLE other", kAnything},
    {"SET SESSION AUTHORIZATION other", kAnything},
    {"SELECT 1; SELECT f()", kAnything},
    {"LOAD 'x'", kAnything},
    {"SELECT FROM WHERE", kAnything},  // does not parse
};

TEST(EffectsTest, EachStatement) {
    StatementGuard guard(0);
    for (const auto& c : kCases) {
        EXPECT_EQ(static_cast<int>(guard.facts(c.sql, true).effects), static_cast<int>(c.effects))
            << c.sql;
    }
}

// Not parsed (a simple Query the pre-check lets through): harmless only where the text itself
// vouches for it.
TEST(EffectsTest, UnparsedTextsVouchOrCountAsAnything) {
    StatementGuard guard(0);
    EXPECT_EQ(guard.facts("SELECT name FROM patients WHERE id = 7").effects, 0);
    EXPECT_EQ(guard.facts("SELECT count(*) FROM patients").effects, 0);
    EXPECT_EQ(guard.facts("SELECT my_function()").effects, kAnything);
    EXPECT_EQ(guard.facts("LISTEN ch").effects, kAnything);
    EXPECT_EQ(guard.facts("LISTEN ch", true).effects, kListen);
}

// The cached answer is the parsed one.
TEST(EffectsTest, CachedAlike) {
    StatementGuard guard;
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(guard.facts("SELECT pg_advisory_lock(1)", true).effects, kAnything);
        EXPECT_EQ(guard.facts("LISTEN ch", true).effects, kListen);
    }
}

TEST(EffectsTest, VouchedWithoutParse) {
    for (const char* sql :
         {"SELECT 1", "SELECT 1;", "select a from t where b = $1 ;  -- done\n",
          "/* c */ UPDATE t SET a = 1", "select pinto, into_x, intox from t", "BEGIN", "end",
          "SHOW x", "VALUES ('a')", "SELECT count(*) FROM patients",
          "select lower(name), pg_catalog.upper(x) from t where id in (1, 2)",
          "SELECT x::varchar(10), (a + b) * 2 FROM t", "SELECT 'it''s (not) a call'",
          "SELECT * FROM t WHERE id = ANY ($1) AND EXISTS (SELECT 1 FROM u)",
          "select count (*), a from t where b in (select c from u)",
          "UPDATE t SET a = 2 WHERE id = $12"}) {
        EXPECT_TRUE(vouched_without_parse(sql)) << sql;
    }
    for (const char* sql : {"",
                            "   ",
                            "SELECT f(1)",
                            "SELECT my_func (1)",
                            "SELECT my_func/**/(1)",
                            "SELECT public.lower('x')",
                            "SELECT pg_temp.lower('x')",
                            "SELECT a.b.c()",
                            "SELECT \"lower\"(x)",
                            "SELECT E'\\x'",
                            "SELECT $$x$$",
                            "SELECT $q$x$q$",
                            "SELECT 'unterminated",
                            "SELECT 1; SELECT 2",
                            "SELECT 1;;SELECT 2",
                            "SELECT a INTO b FROM c",
                            "select a into\tb from c",
                            "INSERT INTO t VALUES ($1)",
                            "LISTEN x",
                            "DECLARE c CURSOR FOR SELECT 1",
                            "WITH x AS (SELECT 1) SELECT 1",
                            "DO $$ $$",
                            "CREATE TABLE t ()",
                            "COPY t FROM STDIN",
                            "/* unterminated",
                            "SELECT 1 /* unterminated",
                            "EXECUTE q",
                            "PREPARE q AS SELECT 1",
                            "TABLE t; LISTEN x",
                            "SELECT pg_advisory_lock(1)",
                            "SELECT nextval('s')"}) {
        EXPECT_FALSE(vouched_without_parse(sql)) << sql;
    }
}

// Whatever the scan vouches for, PostgreSQL's grammar agrees leaves nothing (or rejects).
TEST(EffectsTest, TheScanNeverVouchesForWhatTheGrammarDoesNot) {
    const char* tokens[] = {"SELECT",
                            "UPDATE t SET a = 1",
                            "count",
                            "(",
                            ")",
                            "*",
                            "my_func",
                            "lower",
                            "pg_catalog",
                            ".",
                            "public",
                            "'x'",
                            "$1",
                            ";",
                            "INTO",
                            "FROM",
                            "t",
                            ",",
                            "nextval",
                            "LISTEN",
                            "in",
                            "values",
                            "\"q\"",
                            "--c\n",
                            "/*c*/",
                            " ",
                            "pg_advisory_lock",
                            "E'\\x'",
                            "setval",
                            "pg_temp",
                            "DO",
                            "+",
                            "::",
                            "varchar",
                            "1",
                            "2.5",
                            "-",
                            "/",
                            "\t",
                            "$$",
                            "WHERE",
                            "a",
                            "=",
                            "AND",
                            "exists",
                            "filter",
                            "over",
                            "where",
                            "now",
                            "ROW",
                            "cast",
                            "AS",
                            "int"};
    std::mt19937 rng(19);
    StatementGuard guard(0);
    int vouched = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string sql = rng() % 2 ? "SELECT " : "UPDATE t SET a = ";
        const int n = 1 + static_cast<int>(rng() % 10);
        for (int k = 0; k < n; ++k) {
            sql += tokens[rng() % std::size(tokens)];
            sql += rng() % 3 ? " " : "";
        }
        if (!vouched_without_parse(sql)) continue;
        ++vouched;
        const Facts f = guard.facts(sql, true);
        EXPECT_TRUE(f.parse_error || f.effects == 0) << sql;
    }
    EXPECT_GT(vouched, 1000);  // the property was tried, not skipped
}

}  // namespace
}  // namespace pgtenant::protocol::guard
