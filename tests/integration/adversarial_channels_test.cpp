// Adversarial suite, part 3 (fixture: adversarial_fixture.h): what a practice could infer or
// read through side channels (EXPLAIN ANALYZE, the log, catalogs and statistics), malformed
// and long input, the fast path, and interleaving on one backend.
#include "tests/integration/adversarial_fixture.h"

namespace pgtenant::testing {
namespace {

const auto* const kEnv = register_integration_env(adversarial_options());

// EXPLAIN ANALYZE reports rows row-level security filtered out after an index scan on a
// non-tenant column: "Rows Removed by Filter: 1" only when another practice has a row with the
// guessed value. Practice logins are refused it (42501) unless tenant.allow_explain_analyze.
class ExplainAnalyzeTest : public AdversarialTest {
  protected:
    void SetUp() override {
        AdversarialTest::SetUp();
        for (const std::string& sql : std::vector<std::string>{
                 "DROP TABLE IF EXISTS public.guess_labels",
                 "CREATE TABLE public.guess_labels (id serial PRIMARY KEY, practice_id uuid NOT "
                 "NULL, label text NOT NULL)",
                 "INSERT INTO public.guess_labels (practice_id, label) SELECT '" + kA +
                     "', 'a-label-' || g FROM generate_series(1, 200) g",
                 "INSERT INTO public.guess_labels (practice_id, label) VALUES ('" + kB +
                     "', 'b-secret-label')",
                 "CREATE INDEX guess_labels_label ON public.guess_labels (label)",
                 "SELECT pgtenant.enable_sealed_policy('public.guess_labels')",
                 "GRANT SELECT ON public.guess_labels TO pgtenant_pool",
                 "ANALYZE public.guess_labels"}) {
            query(su_.get(), sql);
        }
    }
    void TearDown() override {
        AdversarialTest::TearDown();
        run(su_.get(), "DROP TABLE IF EXISTS public.guess_labels");
    }

    static std::string explain(const std::string& label) {
        return "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM "
               "public.guess_labels WHERE label = '" +
               label + "'";
    }
    static std::string plan_text(const QueryResult& r) {
        std::string plan;
        for (const auto& row : r.rows) plan += row.at(0) + "\n";
        return plan;
    }
    // The plan as the pool role gets it directly from PostgreSQL, bound to practice A with a
    // genuine token, with the index forced.
    std::string direct_plan(const std::string& label) {
        auto pool = pool_direct();
        query(pool.get(), "BEGIN");
        query(pool.get(), "SET LOCAL enable_seqscan = off");
        const int32_t pid = std::stoi(query(pool.get(), "SELECT pg_backend_pid()")[0][0]);
        const auto token = auth::make_context_token(key_ring().active(), kA, pid, db_now() + 600);
        query_params(pool.get(), "SELECT set_config('pgtenant.context', $1, true)", {token});
        auto r = run(pool.get(), explain(label));
        run(pool.get(), "ROLLBACK");
        EXPECT_TRUE(r.ok()) << r.error;
        return plan_text(r);
    }
};

TEST_F(ExplainAnalyzeTest, TheChannelIsRealOnPostgreSQL) {
    // What the refusal closes: the same plan differs by whether practice B has the label.
    const std::string hit = direct_plan("b-secret-label");
    const std::string miss = direct_plan("nobody-has-this-label");
    EXPECT_NE(hit.find("Rows Removed by Filter: 1"), std::string::npos) << hit;
    EXPECT_EQ(miss.find("Rows Removed by Filter"), std::string::npos) << miss;
}

TEST_F(ExplainAnalyzeTest, RefusedInEverySpellingAndBothProtocols) {
    const std::string from = " SELECT * FROM public.guess_labels WHERE label = 'b-secret-label'";
    for (const char* head :
         {"EXPLAIN ANALYZE", "EXPLAIN ANALYSE", "explain analyze verbose", "EXPLAIN (ANALYZE)",
          "EXPLAIN (analyze true, costs off)", "EXPLAIN (ANALYZE on)", "EXPLAIN (ANALYZE 1)",
          "EXPLAIN (FORMAT JSON, ANALYSE)"}) {
        const std::string sql = head + from;
        SCOPED_TRACE(sql);
        auto simple = run(alice_.get(), sql);
        EXPECT_EQ(simple.sqlstate, "42501") << simple.error;
        EXPECT_TRUE(simple.rows.empty());
        auto extended = run_params(alice_.get(), sql, {});
        EXPECT_EQ(extended.sqlstate, "42501") << extended.error;
        auto among = run(alice_.get(), "SELECT 1; " + sql + "; SELECT 2");
        EXPECT_EQ(among.sqlstate, "42501") << among.error;
        // Inside a transaction block too, and the block then fails as on any error.
        ASSERT_EQ(sqlstate_of(alice_.get(), "BEGIN"), "");
        EXPECT_EQ(sqlstate_of(alice_.get(), sql), "42501");
        EXPECT_EQ(sqlstate_of(alice_.get(), "SELECT 1"), "25P02");
        run(alice_.get(), "ROLLBACK");
    }
    // Plain EXPLAIN (ANALYZE off) stays allowed: estimates only, no executed row counts.
    for (const char* head : {"EXPLAIN", "EXPLAIN (ANALYZE false)", "EXPLAIN (ANALYZE off)",
                             "EXPLAIN (ANALYZE 0, COSTS off)"}) {
        SCOPED_TRACE(head);
        auto simple = run(alice_.get(), head + from);
        EXPECT_TRUE(simple.ok()) << simple.error;
        EXPECT_FALSE(simple.rows.empty());
        EXPECT_EQ(plan_text(simple).find("Rows Removed"), std::string::npos);
        auto extended = run_params(alice_.get(), head + from, {});
        EXPECT_TRUE(extended.ok()) << extended.error;
    }
    expect_alice_bound();
}

TEST_F(ExplainAnalyzeTest, AllowedByConfigurationAndStillIsolated) {
    // Sealed mode with the shared proxy's key: a second install would replace the key in the
    // database and leave the shared proxy's tokens unverifiable.
    PgtenantOptions options;
    options.pool_size = 1;
    options.tenant_mode = "compat";
    options.extra_toml["tenant"] = {
        "mode = \"sealed\"",
        "key_file = \"" + (env().proxy().dir() / "pgtenant.key").string() + "\"",
        "allow_explain_analyze = true"};
    Pgtenant allowing(env().cluster(), options);
    auto alice = allowing.connect_as(demo::kAlice);
    auto r = run(alice.get(), explain("b-secret-label"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_NE(plan_text(r).find("actual rows="), std::string::npos);  // it ran
    auto extended = run_params(alice.get(), "EXPLAIN (ANALYZE) SELECT * FROM patients", {});
    EXPECT_TRUE(extended.ok()) << extended.error;
    // Row data of B never shows in a plan, even of a query naming B's practice.
    for (const std::string& sql : std::vector<std::string>{
             "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) SELECT * FROM patients",
             "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM patients WHERE practice_id = '" + kB +
                 "'",
             "EXPLAIN ANALYZE UPDATE patients SET name = name WHERE practice_id = '" + kB + "'"}) {
        SCOPED_TRACE(sql);
        ASSERT_EQ(sqlstate_of(alice.get(), "BEGIN"), "");
        auto e = run(alice.get(), sql);
        run(alice.get(), "ROLLBACK");
        ASSERT_TRUE(e.ok()) << e.error;
        const std::string plan = plan_text(e);
        for (const char* marker : {"b0000000-", "Tomas Novak", "Aisha Rahman"}) {
            EXPECT_EQ(plan.find(marker), std::string::npos) << plan;
        }
        if (sql.find("VERBOSE") != std::string::npos) {
            EXPECT_NE(plan.find("actual rows=" + std::to_string(demo::kPatientsA)),
                      std::string::npos)
                << plan;
        }
    }
}

// Every refusal is logged once, with the session, the rule and the SQLSTATE, and never with
// the statement's text or its parameters.
TEST_F(AdversarialTest, EveryRefusalIsLoggedOnceWithoutStatementText) {
    const std::string secret = "s3cret-value-7f1d";
    const std::string marker = "marker-text-c0ffee";
    const auto& proxy = env().proxy();
    // Past the second in which earlier cases' refusals may have used up a rule's lines (the
    // log holds back floods of one rule: proxy/refusal_log.h).
    std::this_thread::sleep_for(1100ms);
    const std::size_t from = proxy.log().size();
    struct Expected {
        std::string rule;
        std::string sqlstate;
        int lines;
    };
    const std::vector<Expected> expected = {
        {"reserved_setting", "42501", 3},      {"explain_analyze", "42501", 2},
        {"maintenance_statement", "42501", 1}, {"sql_prepared", "0A000", 1},
        {"computed_setting_name", "42501", 1}, {"statement_missing", "26000", 1}};
    auto expect_state = [](const QueryResult& r, const char* sqlstate) {
        EXPECT_EQ(r.sqlstate, sqlstate) << r.error;
    };
    expect_state(run(alice_.get(), "SET app.current_practice_id = '" + secret + "' -- " + marker),
                 "42501");
    expect_state(run_params(alice_.get(),
                            "SELECT set_config('app.current_practice_id', $1, false) -- " + marker,
                            {secret}),
                 "42501");
    expect_state(run(alice_.get(), "EXPLAIN ANALYZE SELECT '" + secret + "' -- " + marker),
                 "42501");
    expect_state(
        run_params(alice_.get(), "EXPLAIN (ANALYZE) SELECT $1::text -- " + marker, {secret}),
        "42501");
    expect_state(run(alice_.get(), "VACUUM /* " + marker + " */ patients"), "42501");
    expect_state(run(alice_.get(), "SELECT 1; PREPARE p AS SELECT '" + secret + "' -- " + marker),
                 "0A000");
    expect_state(
        run_params(alice_.get(), "SELECT set_config($1, 'x', false) -- " + marker, {secret}),
        "42501");
    expect_state(run(alice_.get(), "DEALLOCATE never_prepared"), "26000");
    auto startup =
        try_connect(proxy.conninfo(demo::kAlice, proxy.login(demo::kAlice).password,
                                   "options='-c app.current_practice_id=" + secret + "'"));
    EXPECT_EQ(startup.sqlstate, "42501") << startup.message;
    expect_alice_bound();  // the session goes on

    const std::string log = proxy.log().substr(from);
    EXPECT_EQ(log.find(secret), std::string::npos) << log;
    EXPECT_EQ(log.find(marker), std::string::npos) << log;
    for (const auto& e : expected) {
        SCOPED_TRACE(e.rule);
        const std::string needle = "rule=" + e.rule + " sqlstate=" + e.sqlstate;
        int lines = 0;
        for (std::size_t at = log.find(needle); at != std::string::npos;
             at = log.find(needle, at + 1)) {
            ++lines;
            // The session's identity opens the line (the refused login has no practice yet).
            const std::size_t line = log.rfind('\n', at) + 1;
            EXPECT_NE(log.substr(line, at - line).find("[c"), std::string::npos) << log;
        }
        EXPECT_EQ(lines, e.lines) << log;
    }
    EXPECT_NE(log.find("alice@"), std::string::npos) << log;
}

TEST_F(AdversarialTest, CatalogAndStatisticsDoNotExposeBRows) {
    for (const char* sql :
         {"SELECT * FROM pg_stats WHERE tablename IN ('patients', 'meal_logs', 'practices')",
          "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats",
          "SELECT query FROM pg_stat_activity", "SELECT * FROM pg_stat_statements",
          "SELECT pg_catalog.current_setting('pgtenant.context', true)",
          "SELECT * FROM pg_settings WHERE name LIKE 'app.%' OR name LIKE 'pgtenant.%'",
          "SELECT page_items.* FROM heap_page_items(get_raw_page('patients', 0)) page_items",
          "SELECT * FROM pg_largeobject"}) {
        SCOPED_TRACE(sql);
        run(su_.get(), "ANALYZE public.patients, public.meal_logs");
        auto r = run(alice_.get(), sql);
        EXPECT_TRUE(no_b(r));
    }
}

TEST_F(AdversarialTest, LongAndMalformedQueriesKeepIsolation) {
    std::string long_where = "SELECT * FROM patients WHERE ";
    for (int i = 0; i < 20000; ++i) long_where += "name <> 'x" + std::to_string(i) + "' AND ";
    long_where += "true";
    expect_only_a(run(alice_.get(), long_where));
    std::string many = "SELECT 1";
    for (int i = 0; i < 2000; ++i) many += "; SELECT 1";
    many += "; COMMIT; SELECT * FROM patients";
    auto m = run(alice_.get(), many);
    expect_only_a(m);
    EXPECT_TRUE(fails_closed(m));
    for (const std::string& bad : std::vector<std::string>{
             "SELECT * FROM patients WHERE '", "SELECT $$unterminated", "SELECT /* open comment",
             std::string("SELECT 1\0; SET app.current_practice_id = 'x'", 45),
             "SELECT * FROM patients; SET app.current_practice_id = '" + kB + "' /*",
             "SELECT U&'\\", "SET app.current_practice_id = '" + std::string(100000, 'x') + "'",
             "SELECT set_config('pgtenant.context', repeat('v1.', 100000), true)"}) {
        SCOPED_TRACE(bad.substr(0, 80));
        auto r = run(alice_.get(), bad);
        EXPECT_TRUE(no_b(r));
    }
    EXPECT_TRUE(env().proxy().running());
    expect_alice_bound();
    expect_bob_bound();
}

// The legacy FunctionCall message ('F') calls set_config (oid 2078) with no SQL text at all.
std::string function_call(uint32_t oid, const std::vector<std::string>& args) {
    std::string body = wire::be32(oid);
    body += std::string("\0\0", 2);  // no argument format codes: all text
    body += static_cast<char>(args.size() >> 8);
    body += static_cast<char>(args.size() & 0xff);
    for (const auto& a : args) body += wire::be32(static_cast<uint32_t>(a.size())) + a;
    body += std::string("\0\0", 2);  // text result
    return wire::message('F', body);
}

TEST_F(AdversarialTest, FastPathFunctionCallOfSetConfig) {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"app.current_practice_id", kB, "false"},
                                               {"pgtenant.context", forged_b_token(), "false"},
                                               {"pgtenant.context", forged_b_token(), "true"}}) {
        SCOPED_TRACE(args[0] + " local=" + args[2]);
        auto sock = RawSocket::borrow(PQsocket(alice_.get()));
        ASSERT_TRUE(sock.send_all(function_call(2078, args)));
        std::string tags;
        for (;;) {
            auto msg = sock.read_message(10000ms);
            ASSERT_FALSE(msg.empty()) << "no reply to FunctionCall (seen " << tags << ")";
            tags += msg[0];
            if (msg[0] == 'E') {
                EXPECT_EQ(wire::error_fields(msg)['C'], "42501");
            }
            if (msg[0] == 'Z') break;
        }
        EXPECT_EQ(tags, "EZ") << "the fast-path call must be refused, not run";
        auto r = run(alice_.get(), "SELECT * FROM patients");
        expect_only_a(r);
        auto unbound = run(alice_.get(), "SELECT 1; COMMIT; SELECT * FROM patients");
        expect_only_a(unbound);
        EXPECT_TRUE(fails_closed(unbound));
        expect_bob_bound();
    }
    EXPECT_TRUE(env().proxy().running());
    expect_alice_bound();
}

TEST_F(AdversarialTest, InterleavedAliceAndBobOnOneBackend) {
    // Alternating transactions on the shared backend, with attacks between them.
    for (int round = 0; round < 5; ++round) {
        SCOPED_TRACE(round);
        run(bob_.get(), hidden_set("app.current_practice_id", kB, false));
        auto a = run(alice_.get(), "SELECT * FROM patients");
        ASSERT_TRUE(a.ok()) << a.error;
        EXPECT_EQ(static_cast<int>(a.rows.size()), demo::kPatientsA);
        EXPECT_TRUE(all_rows_in_practice(a.rows, 1, kA));
        run(alice_.get(), hidden_set("pgtenant.context", forged_b_token(), false));
        expect_only_a(run(alice_.get(), "COMMIT; SELECT * FROM patients"));
        expect_bob_bound();
    }
}

// A client that pipelines many queries with large results and never reads them must not make
// pgtenant hold those results in memory (nor run ahead of the client): a session waits for its
// writes, so it buffers at most about one reply chunk; every reply still arrives whole and in
// order once the client reads.
TEST_F(AdversarialTest, PipelinedResultsOfANonReadingClientAreNotBuffered) {
    constexpr int kQueries = 300;  // 300 x 64 KiB = 19 MiB of results
    auto conn = env().connect_as(demo::kAlice);
    PGconn* c = conn.get();
    ASSERT_EQ(PQenterPipelineMode(c), 1);
    const long before = rss_kib(env().proxy().pid());
    for (int i = 0; i < kQueries; ++i) {
        const std::string sql = "SELECT " + std::to_string(i) + ", repeat('x', 65536)";
        ASSERT_EQ(PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
        ASSERT_EQ(PQpipelineSync(c), 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const long grown_kib = rss_kib(env().proxy().pid()) - before;
    EXPECT_LT(grown_kib, 6 * 1024)
        << "pgtenant buffered the results of a client that does not read";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int i = 0; i < kQueries; ++i) {
        auto r = to_query_result(next_result(c, deadline));
        ASSERT_TRUE(r.ok()) << i << ": " << r.error;
        ASSERT_EQ(r.rows.size(), 1u) << i;
        ASSERT_EQ(r.rows[0][0], std::to_string(i)) << "replies out of order";
        ASSERT_EQ(r.rows[0][1].size(), 65536u) << i;
        ASSERT_EQ(next_result(c, deadline), nullptr);
        PGresult* sync = next_result(c, deadline);
        ASSERT_NE(sync, nullptr);
        EXPECT_EQ(PQresultStatus(sync), PGRES_PIPELINE_SYNC);
        PQclear(sync);
    }
    ASSERT_EQ(PQexitPipelineMode(c), 1);
    EXPECT_EQ(query(c, "SELECT 1").at(0).at(0), "1");
}

}  // namespace
}  // namespace pgtenant::testing
