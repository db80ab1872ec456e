// A client's settings as PostgreSQL keeps them, and what a pooled connection must run to hold
// them (issue 15).
#include "proxy/session/settings.h"

#include <gtest/gtest.h>

namespace pgtenant::proxy {
namespace {

using Changes = std::vector<SettingChange>;

bool same(const Changes& a, const Changes& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || a[i].value != b[i].value) return false;
    return true;
}

protocol::guard::SettingWrites writes(std::vector<std::string> names,
                                      std::vector<protocol::guard::SessionSet> sets = {},
                                      bool reset_all = false) {
    protocol::guard::SettingWrites w;
    w.names = std::move(names);
    w.session_sets = std::move(sets);
    w.reset_all = reset_all;
    return w;
}

TEST(ClientSettings, ChangesBringAConnectionToTheClientsValues) {
    ClientSettings s(SessionParams{{"timezone", "America/New_York"}, {"application_name", "app"}});
    HeldSettings held{
        {"timezone", "Australia/Adelaide"}, {"search_path", "other"}, {"application_name", "app"}};
    auto changes = s.changes_for(held);
    EXPECT_TRUE(same(changes, {{"timezone", "America/New_York"}, {"search_path", std::nullopt}}));
    s.applied(changes, held);
    EXPECT_EQ(held, s.values());
    EXPECT_TRUE(s.changes_for(held).empty());
}

TEST(ClientSettings, AnUnknownValueIsAlwaysReestablished) {
    ClientSettings s(SessionParams{{"timezone", "UTC"}});
    HeldSettings held{{"timezone", std::string(kUnknownSetting)},
                      {"work_mem", std::string(kUnknownSetting)}};
    EXPECT_TRUE(same(s.changes_for(held), {{"timezone", "UTC"}, {"work_mem", std::nullopt}}));
}

TEST(ClientSettings, ValuesReadBackAfterTheTransactionAreTheClients) {
    ClientSettings s(SessionParams{{"timezone", "UTC"}});
    HeldSettings held = s.values();
    EXPECT_FALSE(s.has_unsettled());
    s.note_writes(writes({"timezone", "statement_timeout", "transaction"},
                         {{"timezone", "Europe/Paris"}, {"statement_timeout", "5s"}}));
    ASSERT_TRUE(s.has_unsettled());
    auto names = s.unsettled();
    EXPECT_EQ(names,
              (std::vector<std::string>{"statement_timeout", "timezone"}));  // not SET TRANSACTION
    // The transaction rolled back: the server still holds the old values.
    s.settle(names, {"0", "UTC"}, held);
    EXPECT_FALSE(s.has_unsettled());
    EXPECT_EQ(s.values().at("timezone"), "UTC");
    EXPECT_EQ(s.values().at("statement_timeout"), "0");
    EXPECT_EQ(held, s.values());
}

TEST(ClientSettings, ResetReturnsToTheStartupValueNotThePools) {
    ClientSettings s(SessionParams{{"timezone", "America/New_York"}});
    HeldSettings held = s.values();
    s.note_writes(writes({"timezone"}, {{"timezone", std::nullopt}}));
    s.settle({"timezone"}, {"UTC"}, held);  // the pool connection's own default
    EXPECT_EQ(s.values().at("timezone"), "America/New_York");
    EXPECT_EQ(held.at("timezone"), "UTC");
    EXPECT_TRUE(same(s.changes_for(held), {{"timezone", "America/New_York"}}));

    // A RESET that was rolled back changed nothing.
    s.applied(s.changes_for(held), held);
    s.note_writes(writes({"timezone"}, {{"timezone", "Asia/Tokyo"}}));
    s.settle({"timezone"}, {"Asia/Tokyo"}, held);
    s.note_writes(writes({"timezone"}, {{"timezone", std::nullopt}}));
    s.settle({"timezone"}, {"Asia/Tokyo"}, held);
    EXPECT_EQ(s.values().at("timezone"), "Asia/Tokyo");
}

TEST(ClientSettings, ResetAllAndSessionCharacteristics) {
    ClientSettings s(SessionParams{{"datestyle", "ISO, DMY"}});
    HeldSettings held = s.values();
    s.note_writes(writes({"search_path"}, {{"search_path", "a"}}));
    s.settle({"search_path"}, {"a"}, held);
    s.note_writes(writes({}, {}, true));
    auto names = s.unsettled();
    EXPECT_EQ(names, (std::vector<std::string>{"datestyle", "search_path"}));
    s.settle(names, {"ISO, MDY", "\"$user\", public"}, held);
    EXPECT_EQ(s.values().at("datestyle"), "ISO, DMY");  // its startup value
    EXPECT_EQ(s.values().at("search_path"), "\"$user\", public");

    s.note_writes(writes({"session characteristics"}));
    EXPECT_EQ(s.unsettled(), (std::vector<std::string>{"default_transaction_isolation",
                                                       "default_transaction_deferrable",
                                                       "default_transaction_read_only"}));
    s.reset_all();
    EXPECT_EQ(s.values(), s.startup());
    EXPECT_FALSE(s.has_unsettled());
}

TEST(ClientSettings, MissingSettingsAreForgottenAndFailuresMakeValuesUnknown) {
    ClientSettings s;
    HeldSettings held;
    s.note_writes(writes({"myapp.user"}));
    s.settle({"myapp.user"}, {std::nullopt}, held);
    EXPECT_TRUE(s.values().empty());
    EXPECT_TRUE(held.empty());
    s.note_writes(writes({"work_mem"}));
    s.give_up(s.unsettled(), held);
    EXPECT_EQ(held.at("work_mem"), kUnknownSetting);
    EXPECT_FALSE(s.has_unsettled());
    EXPECT_TRUE(same(s.changes_for(held), {{"work_mem", std::nullopt}}));
}

TEST(ClientSettings, ReportsAreTheClientsExceptReadOnlyOnes) {
    ClientSettings s;
    HeldSettings held;
    s.reported("timezone", "Asia/Tokyo", held);
    s.reported("is_superuser", "off", held);
    s.reported("server_version", "15.18", held);
    EXPECT_EQ(s.values(), (SessionParams{{"timezone", "Asia/Tokyo"}}));
    EXPECT_EQ(held, s.values());
    s.note_writes(writes({"timezone"}));
    s.forget_transaction();
    EXPECT_FALSE(s.has_unsettled());
}

}  // namespace
}  // namespace pgtenant::proxy
