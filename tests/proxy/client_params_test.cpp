#include "proxy/client_params.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy {
namespace {

const std::string kSetting = "app.current_practice_id";

std::optional<protocol::Error> parse(std::vector<std::pair<std::string, std::string>> params, StartupRequest& out) {
    protocol::StartupMessage m;
    m.params = std::move(params);
    return parse_startup_request(m, kSetting, out);
}

TEST(StartupRequest, TracksOrdinarySettingsLowerCased) {
    StartupRequest r;
    ASSERT_FALSE(parse({{"user", "alice"}, {"database", "app"}, {"DateStyle", "ISO"}, {"application_name", "x"}}, r));
    EXPECT_EQ(r.user, "alice");
    EXPECT_EQ(r.database, "app");
    EXPECT_EQ(r.params.at("datestyle"), "ISO");
    EXPECT_EQ(r.params.at("application_name"), "x");
}

TEST(StartupRequest, DatabaseDefaultsToUser) {
    StartupRequest r;
    ASSERT_FALSE(parse({{"user", "bob"}}, r));
    EXPECT_EQ(r.database, "bob");
}

TEST(StartupRequest, MissingUserIsRejected) {
    StartupRequest r;
    auto e = parse({{"database", "x"}}, r);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->sqlstate, "28000");
}

TEST(StartupRequest, ReservedNamesAreRefusedInEverySpelling) {
    for (const char* name : {"app.current_practice_id", "APP.Current_Practice_Id", "app.anything", "pgtenant.context",
                             "role", "session_authorization", "Session_Replication_Role", "row_security"}) {
        SCOPED_TRACE(name);
        StartupRequest r;
        auto e = parse({{"user", "alice"}, {name, "x"}}, r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->sqlstate, "42501");
    }
}

TEST(StartupRequest, OptionsAreParsedLikeTheServerDoes) {
    StartupRequest r;
    ASSERT_FALSE(parse({{"user", "a"}, {"options", "-c search_path=a,b  --statement-timeout=5s -cTimeZone=UTC "
                                                   "-c application_name=with\\ space"}},
                       r));
    EXPECT_EQ(r.params.at("search_path"), "a,b");
    EXPECT_EQ(r.params.at("statement_timeout"), "5s");
    EXPECT_EQ(r.params.at("timezone"), "UTC");
    EXPECT_EQ(r.params.at("application_name"), "with space");
}

TEST(StartupRequest, ReservedNamesInOptionsAreRefused) {
    for (const char* opts : {"-c app.current_practice_id=22222222-2222-2222-2222-222222222222",
                             "-capp.current_practice_id=x", "--app.current_practice_id=x", "-c pgtenant.context=v1.x",
                             "-c search_path=x -c role=postgres", "-c session-replication-role=replica"}) {
        SCOPED_TRACE(opts);
        StartupRequest r;
        auto e = parse({{"user", "a"}, {"options", opts}}, r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->sqlstate, "42501");
    }
}

TEST(StartupRequest, OtherSwitchesAndMalformedOptionsAreRefused) {
    StartupRequest r;
    EXPECT_EQ(parse({{"user", "a"}, {"options", "-d 5"}}, r)->sqlstate, "0A000");
    StartupRequest r2;
    EXPECT_EQ(parse({{"user", "a"}, {"options", "-c novalue"}}, r2)->sqlstate, "08P01");
    StartupRequest r3;
    EXPECT_EQ(parse({{"user", "a"}, {"bad name!", "x"}}, r3)->sqlstate, "08P01");
}

TEST(StartupRequest, ReplicationConnectionsAreRefused) {
    StartupRequest r;
    EXPECT_EQ(parse({{"user", "a"}, {"replication", "database"}}, r)->sqlstate, "42501");
    StartupRequest r2;
    EXPECT_FALSE(parse({{"user", "a"}, {"replication", "false"}}, r2));
}

}  // namespace
}  // namespace pgtenant::proxy
