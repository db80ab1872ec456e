// A client sending megabyte statements the guard must parse does not stall the other clients of
// its worker (issue 19 item 4): the parse runs aside, on a thread of its own, while the worker's
// event loop serves everyone else.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "protocol/guard/guard.h"
#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const auto* const kEnv = register_integration_env([] {
    PgtenantOptions o;
    o.workers = 1;  // both clients on the one event loop
    return o;
}());

// Nested expressions, with a word that makes the guard parse the text.
std::string long_statement(std::size_t terms) {
    std::string sql = "SELECT 1";
    sql.reserve(terms * 4 + 64);
    for (std::size_t i = 0; i < terms; ++i) sql += " + 1";
    return sql + " -- reset";
}

class LongStatementTest : public ProxyTest {};

TEST_F(LongStatementTest, AnotherClientsLatencyIsUnaffected) {
    // A text whose parse takes the guard a while on this machine (it grows until it does).
    std::string sql;
    double parse_ms = 0;
    for (std::size_t terms = 50'000; terms <= 250'000 && parse_ms < 60; terms *= 2) {
        sql = long_statement(terms);
        const auto t0 = Clock::now();
        const auto facts = protocol::guard::parse_facts(sql);
        parse_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        ASSERT_FALSE(facts.parse_error) << sql.size() << " bytes";
    }
    ASSERT_GE(parse_ms, 30) << "the long statement parses too fast to show a stall";

    auto quiet = env().connect_as(demo::kAlice);
    auto loud = env().connect_as(demo::kBob);
    std::atomic<bool> done{false};
    std::atomic<int> sent{0};
    std::thread sender([&] {
        for (int i = 0; i < 6; ++i) {
            run(loud.get(), sql);  // PostgreSQL may refuse it (stack depth): only the guard matters
            ++sent;
        }
        done = true;
    });
    std::vector<double> ms;
    while (!done) {
        const auto t0 = Clock::now();
        ASSERT_EQ(query(quiet.get(), "SELECT 1").at(0).at(0), "1");
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    sender.join();
    ASSERT_EQ(sent.load(), 6);
    std::sort(ms.begin(), ms.end());
    ASSERT_GE(ms.size(), 10u);
    const double worst = ms.back();
    const double p99 = ms[ms.size() * 99 / 100];
    std::cerr << "long statement: " << sql.size() << " bytes, guard parse " << parse_ms
              << " ms; the other client: " << ms.size() << " queries, p99 " << p99 << " ms, worst "
              << worst << " ms\n";
    // Inline, each of the six parses stalled the loop for parse_ms: six of the quiet client's
    // queries waited that long. Aside, it waits for the machine, not for the parse (a busy
    // machine may still delay one or two).
    const auto slow =
        std::count_if(ms.begin(), ms.end(), [&](double m) { return m > parse_ms * 0.6; });
    EXPECT_LE(slow, 2) << "worst " << worst << " ms, p99 " << p99 << " ms, parse " << parse_ms
                       << " ms, " << ms.size() << " queries";
    // And the guard still judged the long text: a refused setting inside one is refused.
    auto refused =
        run(loud.get(), long_statement(60'000) + "\n; SET app.current_practice_id = 'x'");
    EXPECT_EQ(refused.sqlstate, "42501") << refused.error;
}

// The quiet client's queries, while the loud one sends `texts`: how many took longer than `ms`.
long slow_queries_while(PGconn* quiet, PGconn* loud, const std::vector<std::string>& texts,
                        double slower_than_ms, std::size_t& queries) {
    std::atomic<bool> done{false};
    std::thread sender([&] {
        for (const auto& text : texts) run(loud, text);
        done = true;
    });
    long slow = 0;
    queries = 0;
    while (!done) {
        const auto t0 = Clock::now();
        EXPECT_EQ(query(quiet, "SELECT 1").at(0).at(0), "1");
        slow +=
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count() > slower_than_ms;
        ++queries;
    }
    sender.join();
    return slow;
}

TEST_F(LongStatementTest, TextsJustOverTheCacheSizeAreParsedAsideToo) {
    // 8 to 16 KiB: over the guard's cache size, but whole in one receive buffer. Each takes the
    // guard milliseconds to parse; each is new (the number at its end), so none is cached.
    const std::string base = long_statement(3'500);
    ASSERT_GT(base.size(), protocol::guard::kCachedTextBytes);
    ASSERT_LT(base.size() + 64, 16u * 1024);
    const auto t0 = Clock::now();
    ASSERT_FALSE(protocol::guard::parse_facts(base).parse_error);
    const double parse_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

    // The same texts without the comment's keyword are not parsed at all: PostgreSQL's work
    // and the machine's noise alone, to compare with.
    constexpr int kTexts = 40;
    std::vector<std::string> parsed, unparsed;
    const std::string bare = base.substr(0, base.find(" --"));
    for (int i = 0; i < kTexts; ++i) {
        parsed.push_back(base + " " + std::to_string(i));
        unparsed.push_back(bare + " + " + std::to_string(i));
    }
    ASSERT_TRUE(protocol::guard::may_need_parse(parsed[0]));
    ASSERT_FALSE(protocol::guard::StatementGuard::may_parse(unparsed[0]));

    auto quiet = env().connect_as(demo::kAlice);
    auto loud = env().connect_as(demo::kBob);
    std::size_t n_parsed = 0, n_unparsed = 0;
    const long slow_unparsed =
        slow_queries_while(quiet.get(), loud.get(), unparsed, parse_ms * 0.6, n_unparsed);
    const long slow_parsed =
        slow_queries_while(quiet.get(), loud.get(), parsed, parse_ms * 0.6, n_parsed);
    std::cerr << base.size() << "-byte texts, guard parse " << parse_ms
              << " ms; the other client's queries slower than " << parse_ms * 0.6
              << " ms: " << slow_parsed << " of " << n_parsed << " beside texts the guard parses, "
              << slow_unparsed << " of " << n_unparsed << " beside the same unparsed\n";
    // Parsed on the event loop, each of the 40 parses held up one of the quiet client's queries.
    EXPECT_LE(slow_parsed, slow_unparsed + kTexts / 2);
}

}  // namespace
}  // namespace pgtenant::testing
