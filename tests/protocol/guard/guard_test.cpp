#include "protocol/guard/guard.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

namespace pgtenant::protocol::guard {
namespace {

struct Case {
    const char* sql;
    const char* command;
};

// Each statement kind in several spellings: case, leading comments and whitespace.
const Case kNotInPipeline[] = {
    {"VACUUM", "VACUUM"},
    {"vacuum t", "VACUUM"},
    {"  /* maintenance */ VaCuUm (ANALYZE, VERBOSE) t", "VACUUM"},
    {"-- nightly\nVACUUM FULL public.t", "VACUUM"},
    {"CREATE DATABASE x", "CREATE DATABASE"},
    {"create database \"X\" template template0", "CREATE DATABASE"},
    {"DROP DATABASE IF EXISTS x", "DROP DATABASE"},
    {"drop database x with (force)", "DROP DATABASE"},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"},
    {"create unique index concurrently if not exists i on t using btree (a) where a > 0",
     "CREATE INDEX CONCURRENTLY"},
    {"DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"},
    {"\n\tdrop index concurrently if exists i", "DROP INDEX CONCURRENTLY"},
    {"REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY"},
    {"reindex index concurrently i", "REINDEX CONCURRENTLY"},
    {"REINDEX (VERBOSE, CONCURRENTLY true) TABLE t", "REINDEX CONCURRENTLY"},
    {"REINDEX DATABASE d", "REINDEX DATABASE"},
    {"reindex system d", "REINDEX SYSTEM"},
    {"REINDEX SCHEMA s", "REINDEX SCHEMA"},
    {"ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"},
    {"alter system reset all", "ALTER SYSTEM"},
    {"CREATE TABLESPACE ts LOCATION '/srv/ts'", "CREATE TABLESPACE"},
    {"drop tablespace if exists ts", "DROP TABLESPACE"},
    {"CLUSTER", "CLUSTER"},
    {"cluster verbose", "CLUSTER"},
    {"CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", "CREATE SUBSCRIPTION"},
    {"alter subscription s refresh publication", "ALTER SUBSCRIPTION"},
    {"DROP SUBSCRIPTION s", "DROP SUBSCRIPTION"},
    {"ALTER DATABASE d SET TABLESPACE ts", "ALTER DATABASE SET TABLESPACE"},
    {"COMMIT PREPARED 'tx1'", "COMMIT PREPARED"},
    {"rollback prepared 'tx1'", "ROLLBACK PREPARED"},
    {"ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "ALTER TABLE DETACH PARTITION CONCURRENTLY"},
};

TEST(GuardFacts, NotInPipelineStatements) {
    StatementGuard guard;
    for (const auto& c : kNotInPipeline) {
        EXPECT_TRUE(may_need_parse(c.sql)) << c.sql;
        Facts r = guard.facts(c.sql);
        EXPECT_TRUE(r.not_in_pipeline) << c.sql;
        EXPECT_EQ(r.command, c.command) << c.sql;
        EXPECT_EQ(r.statement_count, 1) << c.sql;
        EXPECT_FALSE(r.parse_error) << c.sql;
        EXPECT_FALSE(r.discard_all || r.deallocate_all) << c.sql;
    }
}

TEST(GuardFacts, DiscardAndDeallocateAll) {
    StatementGuard guard;
    for (const char* sql : {"DISCARD ALL", "discard all;", "/* reset */ Discard All"}) {
        Facts r = guard.facts(sql);
        EXPECT_TRUE(r.discard_all) << sql;
        EXPECT_FALSE(r.deallocate_all || r.not_in_pipeline) << sql;
        EXPECT_EQ(r.command, "DISCARD ALL") << sql;
    }
    for (const char* sql : {"DEALLOCATE ALL", "deallocate prepare all", "  DEALLOCATE   ALL ;"}) {
        Facts r = guard.facts(sql);
        EXPECT_TRUE(r.deallocate_all) << sql;
        EXPECT_FALSE(r.discard_all || r.not_in_pipeline) << sql;
        EXPECT_EQ(r.command, "DEALLOCATE ALL") << sql;
    }
}

TEST(GuardFacts, OrdinaryStatementsNotFlagged) {
    StatementGuard guard;
    const char* ordinary[] = {
        "SELECT * FROM t WHERE id = $1",
        "SELECT 'vacuum'",
        "select current_database(), 'create database x' as \"DROP DATABASE\"",
        "CREATE INDEX i ON t (a)",
        "DROP INDEX i",
        "ANALYZE t",
        "analyse verbose t",
        "REINDEX TABLE t",
        "REINDEX (CONCURRENTLY false) TABLE t",
        "REINDEX (CONCURRENTLY 0) INDEX i",
        "CLUSTER t USING i",
        "DISCARD TEMP",
        "DISCARD PLANS",
        "DEALLOCATE stmt1",
        "DEALLOCATE PREPARE stmt1",
        "ALTER DATABASE d SET work_mem = '1MB'",
        "PREPARE TRANSACTION 'tx1'",
        "COMMIT",
        "ALTER TABLE p DETACH PARTITION c",
        "SELECT * FROM pg_catalog.pg_tablespace -- vacuum later",
        "",
        ";",
        "-- only a comment",
    };
    for (const char* sql : ordinary) {
        Facts r = guard.facts(sql);
        EXPECT_FALSE(r.not_in_pipeline || r.discard_all || r.deallocate_all || r.parse_error)
            << sql;
        EXPECT_EQ(r.command, "") << sql;
    }
    EXPECT_FALSE(may_need_parse("SELECT * FROM t WHERE id = $1"));
    EXPECT_FALSE(may_need_parse("insert into orders (a, b) values ($1, $2)"));
    EXPECT_EQ(guard.facts("SELECT * FROM t WHERE id = $1").statement_count, 0);
    EXPECT_TRUE(may_need_parse("SELECT 'vacuum'"));
    EXPECT_EQ(guard.facts("SELECT 'vacuum'").statement_count, 1);
}

std::string ascii_lower(std::string s) {
    for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
    return s;
}

// `check` against `reference` on 50,000 random texts of up to `max_len` bytes of `alphabet`.
template <typename Check, typename Reference>
void expect_same_on_random_texts(Check check, Reference reference, std::string_view alphabet,
                                 std::size_t max_len, unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 50000; ++i) {
        std::string text(rng() % (max_len + 1), ' ');
        for (char& c : text) c = alphabet[rng() % alphabet.size()];
        ASSERT_EQ(check(text), reference(text)) << text;
    }
}

// The pre-check is the obvious search (any prefilter word, in any ASCII case, anywhere), done
// quickly: compared with that search on every word at every offset and on random texts made of
// the words' letters, case changes and non-ASCII bytes.
TEST(GuardFacts, PrecheckFindsEveryWordAnywhere) {
    auto upper = [](std::string s) {
        for (char& c : s) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c & ~0x20) : c;
        return s;
    };
    auto reference = [&](std::string_view sql) {
        const std::string text = ascii_lower(std::string(sql));
        for (std::string_view w : prefilter_words()) {
            if (text.find(w) != std::string::npos) return true;
        }
        return false;
    };
    ASSERT_FALSE(prefilter_words().empty());
    for (std::string_view w : prefilter_words()) {
        for (const std::string& word : {std::string(w), upper(std::string(w))}) {
            for (std::size_t pad = 0; pad < 3; ++pad) {
                const std::string before(pad, 'x');
                EXPECT_TRUE(may_need_parse(before + word)) << before + word;
                EXPECT_TRUE(may_need_parse(before + word + "y"));
                EXPECT_FALSE(may_need_parse(before + word.substr(1))) << before + word.substr(1);
                EXPECT_FALSE(may_need_parse(before + word.substr(0, word.size() - 1)));
            }
        }
    }
    expect_same_on_random_texts(may_need_parse, reference,
                                "vacuumdbsetprxiEXSTURCLN& _\xc3\xa9\x80", 13, 1234);
}

// may_begin_block says whether a text may open a transaction block: BEGIN or START anywhere, in
// any case (yes inside a string or a longer word too; never no when either is there).
TEST(GuardFacts, BlockPrecheckFindsBeginAndStartAnywhere) {
    for (const char* sql :
         {"BEGIN", "begin", "BeGiN ISOLATION LEVEL SERIALIZABLE", "start transaction",
          "SELECT 1; START TRANSACTION", "x/**/sTaRt", "SELECT 'begin'", "restart"}) {
        EXPECT_TRUE(may_begin_block(sql)) << sql;
    }
    for (const char* sql : {"", "b", "BEGI", "egin", "SELECT 1", "star t", "STAR", "be gin",
                            "SELECT abalance FROM pgbench_accounts WHERE aid = 1"}) {
        EXPECT_FALSE(may_begin_block(sql)) << sql;
    }
    auto reference = [](std::string_view sql) {
        const std::string text = ascii_lower(std::string(sql));
        return text.find("begin") != std::string::npos || text.find("start") != std::string::npos;
    };
    expect_same_on_random_texts(may_begin_block, reference, "beginstarBEGINSTAR; x\xc3\xa9", 11,
                                4321);
}

// The one-pass scan the guard runs answers both pre-checks exactly as each does alone, and the
// facts carry its BEGIN/START answer whether the text was parsed or not.
TEST(GuardFacts, OnePassScanAnswersBothPrechecks) {
    auto both = [](std::string_view sql) {
        const TextWords w = text_words(sql);
        return std::pair{w.need_parse, w.may_begin};
    };
    auto reference = [](std::string_view sql) {
        return std::pair{may_need_parse(sql), may_begin_block(sql)};
    };
    expect_same_on_random_texts(both, reference, "beginstarsetvacumBEGINSTAR; x\xc3\xa9", 14, 99);

    StatementGuard guard;
    for (const char* sql : {"BEGIN", "START TRANSACTION; SET x.y = 1", "SELECT 'start'",
                            "begin; VACUUM t", "select * from restarts where id = 1"}) {
        EXPECT_TRUE(guard.facts(sql).may_begin) << sql;
        EXPECT_TRUE(guard.facts(sql, true).may_begin) << sql;
    }
    for (const char* sql : {"SELECT 1", "SET x.y = 1", "UPDATE t SET a = 1", "VACUUM t"}) {
        EXPECT_FALSE(guard.facts(sql).may_begin) << sql;
        EXPECT_FALSE(guard.facts(sql, true).may_begin) << sql;
    }
}

TEST(GuardFacts, MultiStatementQueries) {
    StatementGuard guard;
    Facts r = guard.facts("SELECT 1; VACUUM t; SELECT 2");
    EXPECT_TRUE(r.not_in_pipeline);
    EXPECT_EQ(r.command, "VACUUM");
    EXPECT_EQ(r.statement_count, 3);

    r = guard.facts("DISCARD ALL; CREATE DATABASE d; DEALLOCATE ALL");
    EXPECT_TRUE(r.discard_all && r.deallocate_all && r.not_in_pipeline);
    EXPECT_EQ(r.command, "DISCARD ALL");  // the first flagged statement
    EXPECT_EQ(r.statement_count, 3);

    r = guard.facts("select 'vacuum'; analyze t; create index i on t(a);");
    EXPECT_FALSE(r.not_in_pipeline || r.discard_all || r.deallocate_all);
    EXPECT_EQ(r.statement_count, 3);
}

TEST(GuardFacts, ExplainWithAnalyze) {
    StatementGuard guard;
    for (const char* sql :
         {"EXPLAIN ANALYZE SELECT * FROM t WHERE label = 'x'", "explain analyse select 1",
          "EXPLAIN ANALYZE VERBOSE SELECT 1", "EXPLAIN (ANALYZE) SELECT 1",
          "Explain (Analyse) select 1", "EXPLAIN (analyze true, buffers) SELECT 1",
          "EXPLAIN (ANALYZE on) SELECT 1", "EXPLAIN (ANALYZE 1) SELECT 1",
          "EXPLAIN (ANALYZE 'yes') SELECT 1", "EXPLAIN (FORMAT JSON, ANALYZE) SELECT 1",
          "EXPLAIN ANALYZE EXECUTE s", "EXPLAIN ANALYZE UPDATE t SET a = 1",
          "/* plan */ EXPLAIN (ANALYZE TRUE) SELECT 1",
          "SELECT 1; EXPLAIN ANALYZE SELECT 2; SELECT 3"}) {
        EXPECT_TRUE(may_need_parse(sql)) << sql;
        Facts r = guard.facts(sql);
        EXPECT_TRUE(r.explain_analyze) << sql;
        EXPECT_FALSE(r.not_in_pipeline) << sql;
    }
    for (const char* sql :
         {"EXPLAIN SELECT 1", "EXPLAIN VERBOSE SELECT 1", "EXPLAIN (ANALYZE false) SELECT 1",
          "EXPLAIN (ANALYZE off) SELECT 1", "EXPLAIN (ANALYZE 0) SELECT 1",
          "EXPLAIN (COSTS off) SELECT 1", "ANALYZE t", "SELECT 'explain analyze select 1'",
          "SELECT analyze FROM t"}) {
        EXPECT_FALSE(guard.facts(sql, true).explain_analyze) << sql;
    }
}

TEST(GuardFacts, ParseErrorSetsOnlyParseError) {
    StatementGuard guard;
    for (const char* sql : {"VACUUM ((", "SELECT 1; VACUUM (", "create database"}) {
        Facts r = guard.facts(sql);
        EXPECT_TRUE(r.parse_error) << sql;
        EXPECT_FALSE(r.not_in_pipeline || r.discard_all || r.deallocate_all) << sql;
        EXPECT_EQ(r.command, "") << sql;
    }
}

TEST(GuardFacts, GarbageInput) {
    StatementGuard guard;
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
        std::string s(rng() % 200, '\0');
        for (auto& c : s) c = static_cast<char>(rng());
        if (i % 2 == 0) s.insert(rng() % (s.size() + 1), i % 4 == 0 ? "VACUUM " : " database ");
        guard.facts(s);  // must not crash, leak or hang
    }
    std::string with_nul("VACUUM t\0; SELECT 1", 19);
    EXPECT_TRUE(guard.facts(with_nul).parse_error);
    std::string nul_first("\0DISCARD ALL", 12);
    EXPECT_FALSE(guard.facts(nul_first).discard_all);
}

// Found by classify_fuzz: a byte that is not UTF-8 anywhere in the text (valid in a client
// encoding such as LATIN1, which the server converts) made the parse tree unreadable, so the
// whole text was reported unclassified and a SET of a reserved name went past the guard.
TEST(GuardFacts, NonUtf8BytesDoNotHideStatements) {
    StatementGuard guard(0);
    auto set = guard.facts("SET app.current_practice_id = 'x'; SELECT 'caf\xe9'");
    EXPECT_FALSE(set.parse_error);
    ASSERT_EQ(set.settings.names.size(), 1u);
    EXPECT_EQ(set.settings.names[0], "app.current_practice_id");
    auto vacuum = guard.facts("VACUUM \"t\x96\"");
    EXPECT_FALSE(vacuum.parse_error);
    EXPECT_TRUE(vacuum.not_in_pipeline);
    EXPECT_EQ(vacuum.command, "VACUUM");
}

TEST(GuardFacts, LargeQueries) {
    StatementGuard guard;
    std::string big = "SELECT '" + std::string(1'000'000, 'x') + "'";
    EXPECT_FALSE(may_need_parse(big));
    EXPECT_EQ(guard.facts(big).statement_count, 0);

    std::string with_keyword = "SELECT 'database " + std::string(1'000'000, 'x') + "'";
    Facts r = guard.facts(with_keyword);
    EXPECT_FALSE(r.parse_error || r.not_in_pipeline);
    EXPECT_EQ(r.statement_count, 1);

    r = guard.facts("/* " + std::string(1'000'000, 'y') + " */ VACUUM t");
    EXPECT_TRUE(r.not_in_pipeline);
    EXPECT_EQ(r.command, "VACUUM");

    // Beyond 1 MiB a text with a keyword is not parsed (bounded memory): reported unclassified.
    r = guard.facts("VACUUM t; SELECT '" + std::string(2'000'000, 'z') + "'");
    EXPECT_TRUE(r.parse_error);
    EXPECT_FALSE(r.not_in_pipeline);
}

TEST(GuardFacts, DeeplyNestedQueriesDoNotOverflowTheStack) {
    // libpg_query renders its tree recursively; these would crash a parse on an 8 MiB stack.
    StatementGuard guard;
    std::string chain = "SELECT 'vacuum' WHERE 1";
    for (int i = 0; i < 150'000; ++i) chain += "+1";
    Facts r = guard.facts(chain + "; DISCARD ALL");
    EXPECT_TRUE(r.discard_all);
    EXPECT_EQ(r.statement_count, 2);

    std::string parens =
        "VACUUM; SELECT " + std::string(100'000, '(') + "1" + std::string(100'000, ')');
    EXPECT_TRUE(guard.facts(parens).parse_error);  // the grammar's own depth limit
}

TEST(GuardFacts, CacheHitsReturnIdenticalResults) {
    StatementGuard guard(2);
    const char* texts[] = {"VACUUM t", "DISCARD ALL", "SELECT 'vacuum'", "VACUUM t", "DISCARD ALL"};
    for (int round = 0; round < 3; ++round) {
        for (const char* sql : texts) {
            Facts first = guard.facts(sql);
            Facts again = guard.facts(sql);
            EXPECT_EQ(first.not_in_pipeline, again.not_in_pipeline);
            EXPECT_EQ(first.discard_all, again.discard_all);
            EXPECT_EQ(first.deallocate_all, again.deallocate_all);
            EXPECT_EQ(first.parse_error, again.parse_error);
            EXPECT_EQ(first.statement_count, again.statement_count);
            EXPECT_EQ(first.command, again.command);
        }
    }
    StatementGuard uncached(0);
    EXPECT_TRUE(uncached.facts("VACUUM").not_in_pipeline);
    EXPECT_TRUE(uncached.facts("VACUUM").not_in_pipeline);
}

TEST(GuardFacts, ConcurrentUse) {
    StatementGuard guard(16);  // small, so threads also evict each other's entries
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i) {
                std::string n = std::to_string((i * 7 + t) % 40);
                Facts v = guard.facts("VACUUM t" + n);
                Facts s = guard.facts("SELECT 'vacuum " + n + "'");
                Facts d = guard.facts("DEALLOCATE ALL; SELECT " + n);
                if (!v.not_in_pipeline || v.command != "VACUUM") ++failures[t];
                if (s.not_in_pipeline || s.statement_count != 1) ++failures[t];
                if (!d.deallocate_all || d.statement_count != 2) ++failures[t];
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

// Statements that take no snapshot may open a transaction ahead of its binding, so that
// BEGIN ISOLATION LEVEL / SET TRANSACTION still work (issue 15).
TEST(GuardFacts, SnapshotFreeStatements) {
    StatementGuard c;
    for (const char* sql :
         {"BEGIN", "begin isolation level repeatable read", "START TRANSACTION READ ONLY",
          "  /* x */ BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
          "SET LOCAL work_mem = 64", "-- c\nSET TimeZone = 'UTC'", "RESET ALL", "SHOW TimeZone",
          "COMMIT", "END", "abort", "ROLLBACK", "COMMIT AND CHAIN",
          "set session characteristics as transaction isolation level serializable",
          "/* a /* nested */ comment */ BEGIN ISOLATION LEVEL SERIALIZABLE", "; ;BEGIN"}) {
        ASSERT_TRUE(may_be_snapshot_free(sql)) << sql;
        EXPECT_TRUE(c.facts(sql, true).snapshot_free) << sql;
    }
    // A binding inside a savepoint would end when it is rolled back to.
    for (const char* sql : {"BEGIN; SELECT 1", "SET x.y = 1; SELECT 1", "SELECT 1", "begin_work()",
                            "START", "SHOW x; VACUUM", "BEGIN; SAVEPOINT a",
                            "ROLLBACK TO SAVEPOINT a", "RELEASE a", "SAVEPOINT a"}) {
        EXPECT_FALSE(c.facts(sql, may_be_snapshot_free(sql)).snapshot_free) << sql;
    }
    for (const char* sql : {"SELECT 1", "  (SELECT 1)", "INSERT INTO t VALUES (1)", "", "/* x",
                            "-- only a comment", "WITH x AS (SELECT 1) SELECT * FROM x"}) {
        EXPECT_FALSE(may_be_snapshot_free(sql)) << sql;
    }
}

TEST(GuardFacts, DeallocateOfANamedStatement) {
    StatementGuard c;
    EXPECT_EQ(c.facts("DEALLOCATE _pg3_0").deallocate_name, "_pg3_0");
    EXPECT_EQ(c.facts("deallocate prepare \"S_1\"").deallocate_name, "S_1");
    EXPECT_EQ(c.facts("DEALLOCATE ALL").deallocate_name, "");
    EXPECT_EQ(c.facts("DEALLOCATE a; SELECT 1").deallocate_name, "");
    EXPECT_EQ(c.facts("PREPARE a AS SELECT 1").deallocate_name, "");
}

TEST(GuardFacts, SqlLevelPrepareAndExecuteAlone) {
    StatementGuard c;
    EXPECT_EQ(c.facts("PREPARE q (int) AS SELECT $1").prepare_name, "q");
    EXPECT_EQ(c.facts("prepare \"My Q\" AS SELECT 1").prepare_name, "My Q");
    EXPECT_EQ(c.facts("EXECUTE Q (1, 'a')").execute_name, "q");
    EXPECT_EQ(c.facts("EXECUTE q; SELECT 1").execute_name, "");
    EXPECT_EQ(c.facts("PREPARE q AS SELECT 1; EXECUTE q").prepare_name, "");
    EXPECT_EQ(c.facts("EXPLAIN EXECUTE q").execute_name, "");
    EXPECT_EQ(c.facts("CREATE TABLE t AS EXECUTE q").execute_name, "");
    EXPECT_EQ(c.facts("SELECT 1 AS name").prepare_name, "");
    EXPECT_TRUE(c.facts("EXPLAIN EXECUTE q").settings.sql_prepared);
}

}  // namespace
}  // namespace pgtenant::protocol::guard
