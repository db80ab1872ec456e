#include "proxy/admin/audit.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace pgtenant::proxy::admin {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(Audit, OneJsonObjectPerLineWithOnlyTheFieldsGiven) {
    const auto t = std::chrono::sys_days(std::chrono::year(2026) / 12 / 6) + std::chrono::hours(9);
    const std::string line = audit_line({.event = "login_failed",
                                         .login = "al\"ice\n",
                                         .client = "127.0.0.1:5000",
                                         .reason = "auth_failed",
                                         .sqlstate = "28P01",
                                         .session = 7},
                                        t);
    EXPECT_EQ(line,
              "{\"time\":\"2026-12-06T09:00:00.000Z\",\"event\":\"login_failed\",\"session\":7,"
              "\"login\":\"al\\\"ice\\n\",\"client\":\"127.0.0.1:5000\",\"reason\":"
              "\"auth_failed\",\"sqlstate\":\"28P01\"}\n");
    const std::string end =
        audit_line({.event = "disconnect", .duration_s = 1.5, .transactions = 3}, t);
    EXPECT_NE(end.find("\"duration_s\":1.500,\"transactions\":3}"), std::string::npos) << end;
}

TEST(Audit, ReopenFollowsLogrotate) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("pgtenant-audit-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "audit.log";
    AuditLog log(path.string());
    log.write({.event = "startup"});
    std::filesystem::rename(path, dir / "audit.log.1");
    log.write({.event = "before_reopen"});  // still to the moved file
    EXPECT_FALSE(log.reopen().has_value());
    log.write({.event = "after_reopen"});
    EXPECT_NE(slurp(dir / "audit.log.1").find("before_reopen"), std::string::npos);
    const std::string fresh = slurp(path);
    EXPECT_NE(fresh.find("after_reopen"), std::string::npos);
    EXPECT_EQ(fresh.find("startup"), std::string::npos);
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
              std::filesystem::perms::none);
    std::filesystem::remove_all(dir);
    EXPECT_THROW(AuditLog("/nonexistent-dir/audit.log"), std::runtime_error);
}

}  // namespace
}  // namespace pgtenant::proxy::admin
