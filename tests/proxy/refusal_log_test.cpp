// The one log line of an error pgtenant answers a client with (proxy/refusal_log.cpp): who,
// the rule, the SQLSTATE and the message, at warning level where an operator may have to act.
#include "proxy/refusal_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace pgtenant::proxy {
namespace {

class RefusalLog : public ::testing::Test {
  protected:
    RefusalLog() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("refusal_log_test", sink);
        logger->set_pattern("%l %v");
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~RefusalLog() override { spdlog::set_default_logger(previous_); }

    std::string logged(const protocol::Error& e, std::string_view context = {}) {
        out_.str("");
        log_refusal("[c7 alice@a0000000]", e, context);
        return out_.str();
    }

    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(RefusalLog, OneLineWithRuleAndSqlstate) {
    namespace errors = protocol::errors;
    const auto line = logged(errors::refused_by_policy(errors::Rule{"explain_analyze"},
                                                       "EXPLAIN ANALYZE is not allowed"));
    EXPECT_EQ(line,
              "info [c7 alice@a0000000] refused: rule=explain_analyze sqlstate=42501: pgtenant "
              "refused this: EXPLAIN ANALYZE is not allowed\n");
}

TEST_F(RefusalLog, TroubleIsAWarning) {
    namespace errors = protocol::errors;
    EXPECT_EQ(logged(errors::pool_wait_timeout(5000)).rfind("warning ", 0), 0u);
    EXPECT_EQ(logged(errors::protocol_violation("bad length")).rfind("warning ", 0), 0u);
    EXPECT_EQ(logged(errors::statement_missing("s1")).rfind("info ", 0), 0u);
    const auto lost = logged(errors::server_connection_lost("EOF"), "server connection 3");
    EXPECT_NE(lost.find("rule=server_connection_lost sqlstate=08006"), std::string::npos);
    EXPECT_NE(lost.find("(server connection 3)\n"), std::string::npos);
}

// A flood of one rule is logged a few lines a second; the rest is counted, and the count is
// told with the rule's next line. Other rules are not held back.
TEST(RefusalThrottleTest, FloodsOfOneRuleAreCounted) {
    RefusalThrottle t;
    const auto t0 = RefusalThrottle::Clock::now();
    for (int i = 0; i < RefusalThrottle::kPerSecond; ++i)
        EXPECT_EQ(t.admit("cannot_connect", t0), 0u);
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(t.admit("cannot_connect", t0));
    EXPECT_EQ(t.admit("explain_analyze", t0), 0u);
    const auto later = t0 + std::chrono::milliseconds(999);
    EXPECT_FALSE(t.admit("cannot_connect", later));
    const auto next = t0 + std::chrono::seconds(1);
    EXPECT_EQ(t.admit("cannot_connect", next), 101u);
    EXPECT_EQ(t.admit("cannot_connect", next), 0u);
}

TEST_F(RefusalLog, TheCountOfUnloggedErrorsComesWithTheNextLine) {
    namespace errors = protocol::errors;
    for (int i = 0; i < RefusalThrottle::kPerSecond; ++i) {
        EXPECT_FALSE(logged(errors::shutting_down()).empty());
    }
    EXPECT_EQ(logged(errors::shutting_down()), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(1050));
    const auto line = logged(errors::shutting_down());
    EXPECT_EQ(line.rfind("warning 1 more errors with rule=shutting_down were not logged", 0), 0u)
        << line;
}

}  // namespace
}  // namespace pgtenant::proxy
