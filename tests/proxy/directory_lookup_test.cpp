// A directory query's row becomes a login by the users file's rules, whatever its text holds.
#include "proxy/directory_lookup.h"

#include <gtest/gtest.h>

#include "auth/scram.h"

namespace pgtenant::proxy {
namespace {

const std::string kPractice = "11111111-1111-1111-1111-111111111111";

TEST(DirectoryLookup, ARowBecomesALoginOfItsPractice) {
    const std::string verifier = auth::make_scram_verifier("pw", 16);
    auto r = DirectoryLookup::to_login("o\"brien\\x", verifier.c_str(),
                                       "11111111-1111-1111-1111-11111111111F", "session");
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_TRUE(r.login);
    EXPECT_EQ(r.login->name, "o\"brien\\x");  // quotes and backslashes are the name's own
    EXPECT_EQ(r.login->practice_id, "11111111-1111-1111-1111-11111111111f");
    EXPECT_EQ(r.login->scram_verifier, verifier);
    EXPECT_EQ(r.login->pool_mode, auth::LoginPoolMode::session);
    EXPECT_FALSE(r.login->admin);
}

TEST(DirectoryLookup, ARowThatIsNotAValidLoginIsAnError) {
    const std::string verifier = auth::make_scram_verifier("pw", 16);
    for (auto r : {DirectoryLookup::to_login("a", nullptr, kPractice.c_str(), nullptr),
                   DirectoryLookup::to_login("a", "plaintext", kPractice.c_str(), nullptr),
                   DirectoryLookup::to_login("a", verifier.c_str(), nullptr, nullptr),
                   DirectoryLookup::to_login("a", verifier.c_str(), "not-a-uuid", nullptr),
                   DirectoryLookup::to_login("a", verifier.c_str(), kPractice.c_str(), "stmt"),
                   DirectoryLookup::to_login("a\nadmin = true", verifier.c_str(), kPractice.c_str(),
                                             nullptr),
                   DirectoryLookup::to_login("", verifier.c_str(), kPractice.c_str(), nullptr)}) {
        EXPECT_FALSE(r.error.empty());
        EXPECT_FALSE(r.login);
    }
}

}  // namespace
}  // namespace pgtenant::proxy
