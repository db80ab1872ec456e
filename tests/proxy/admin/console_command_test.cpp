#include "proxy/admin/console_command.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy::admin {
namespace {

Command ok(std::string_view text) {
    auto r = parse_command(text);
    EXPECT_TRUE(std::holds_alternative<Command>(r)) << text;
    return std::holds_alternative<Command>(r) ? std::get<Command>(r) : Command{};
}

std::string error_state(std::string_view text) {
    auto r = parse_command(text);
    return std::holds_alternative<CommandError>(r) ? std::get<CommandError>(r).sqlstate : "";
}

TEST(ConsoleCommand, ShowSubjectsAnyCase) {
    EXPECT_EQ(ok("SHOW POOLS").subject, "POOLS");
    EXPECT_EQ(ok("  show\tstats_totals ").subject, "STATS_TOTALS");
    EXPECT_EQ(ok("Show Practices").subject, "PRACTICES");
    for (const auto& s : show_subjects()) EXPECT_EQ(ok("SHOW " + s).subject, s);
}

TEST(ConsoleCommand, PauseResumeKillTakeADatabaseOrAPractice) {
    auto c = ok("pause");
    EXPECT_EQ(c.kind, Command::Kind::pause);
    EXPECT_TRUE(c.database.empty() && c.practice.empty());
    c = ok("KILL postgres");
    EXPECT_EQ(c.kind, Command::Kind::kill);
    EXPECT_EQ(c.database, "postgres");
    c = ok("RESUME practice '11111111-AAAA-1111-1111-111111111111'");
    EXPECT_EQ(c.kind, Command::Kind::resume);
    EXPECT_EQ(c.practice, "11111111-aaaa-1111-1111-111111111111");  // canonical
    c = ok("PAUSE PRACTICE 22222222-2222-2222-2222-222222222222");
    EXPECT_EQ(c.practice, "22222222-2222-2222-2222-222222222222");
    EXPECT_EQ(ok("reload").kind, Command::Kind::reload);
    EXPECT_EQ(ok("SHUTDOWN").kind, Command::Kind::shutdown);
}

TEST(ConsoleCommand, MistakesAreErrorsWithTheirSqlstate) {
    EXPECT_EQ(error_state("SELECT 1"), "42601");
    EXPECT_EQ(error_state("SHOW"), "42601");
    EXPECT_EQ(error_state("SHOW POOLS EXTRA"), "42601");
    EXPECT_EQ(error_state("SHOW users"), "42601");
    EXPECT_EQ(error_state("PAUSE PRACTICE 'x'"), "22023");
    EXPECT_EQ(error_state("PAUSE PRACTICE '11111111-1111-1111-1111-11111111111g'"), "22023");
    EXPECT_EQ(error_state("PAUSE a b"), "42601");
    EXPECT_EQ(error_state("RELOAD now"), "42601");
    EXPECT_EQ(error_state("SHOW 'open"), "42601");
    EXPECT_EQ(error_state("   "), "42601");
}

TEST(ConsoleCommand, SplitAtSemicolonsOutsideQuotes) {
    EXPECT_EQ(split_commands("SHOW POOLS; SHOW STATS;"),
              (std::vector<std::string>{"SHOW POOLS", " SHOW STATS"}));
    EXPECT_EQ(split_commands("PAUSE PRACTICE 'a;b'; RESUME"),
              (std::vector<std::string>{"PAUSE PRACTICE 'a;b'", " RESUME"}));
    EXPECT_TRUE(split_commands(" ; ;\n").empty());
}

}  // namespace
}  // namespace pgtenant::proxy::admin
