#include "auth/directory.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "auth/scram.h"

namespace pgtenant::auth {
namespace {

const std::string& verifier() {
    static const std::string v = make_scram_verifier("pw", 16);
    return v;
}

std::string entry(std::string_view name, std::string_view extra = {}) {
    std::string out = "[[login]]\n";
    if (!name.empty()) out += "name = \"" + std::string(name) + "\"\n";
    out += "practice = \"11111111-1111-1111-1111-111111111111\"\n";
    out += "scram = \"" + verifier() + "\"\n";
    out += extra;
    return out;
}

// Parses `text` and returns the DirectoryError message ("" if it parsed).
std::string error_of(const std::string& text) {
    try {
        PracticeDirectory::parse(text);
    } catch (const DirectoryError& e) {
        return e.what();
    }
    return {};
}

TEST(Directory, ParsesValidFile) {
    const std::string text = "# comment\n" + entry("alice", "pool_mode = \"session\"\n") +
                             "[[login]]\n"
                             "name = \"bob\"\n"
                             "practice = \"AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE\"\n"
                             "md5 = \"md5" +
                             std::string("53F48B7C4B76A86CE72276C5755F217D") + "\"\n" +
                             entry("carol",
                                   "md5 = \"md553f48b7c4b76a86ce72276c5755f217d\"\n"
                                   "pool_mode = \"transaction\"\n");
    const auto dir = PracticeDirectory::parse(text);
    ASSERT_EQ(dir->size(), 3u);

    const Login* alice = dir->find("alice");
    ASSERT_NE(alice, nullptr);
    EXPECT_EQ(alice->practice_id, "11111111-1111-1111-1111-111111111111");
    EXPECT_EQ(alice->scram_verifier, verifier());
    EXPECT_TRUE(alice->md5_hash.empty());
    EXPECT_EQ(alice->pool_mode, LoginPoolMode::session);

    const Login* bob = dir->find("bob");
    ASSERT_NE(bob, nullptr);
    EXPECT_EQ(bob->practice_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    EXPECT_TRUE(bob->scram_verifier.empty());
    EXPECT_EQ(bob->md5_hash, "md553f48b7c4b76a86ce72276c5755f217d");
    EXPECT_EQ(bob->pool_mode, LoginPoolMode::inherit);

    EXPECT_EQ(dir->find("carol")->pool_mode, LoginPoolMode::transaction);
    EXPECT_EQ(dir->find("dave"), nullptr);
    EXPECT_EQ(dir->find("Alice"), nullptr);  // names are case-sensitive, as in PostgreSQL
    EXPECT_EQ(dir->find(""), nullptr);
}

TEST(Directory, PracticeEntriesCarryTheirOwnLimits) {
    const auto dir = PracticeDirectory::parse(
        entry("alice") +
        "[[practice]]\n"
        "id = \"11111111-1111-1111-1111-111111111111\"\n"
        "max_client_connections = 50\n"
        "max_server_connections = 4\n"
        "[[practice]]\n"
        "id = \"AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee\"\n"  // a practice with no login yet
        "max_server_connections = 2\n");
    ASSERT_EQ(dir->limits().size(), 2u);
    const auto& one = dir->limits().at("11111111-1111-1111-1111-111111111111");
    EXPECT_EQ(one.max_client_connections, 50);
    EXPECT_EQ(one.max_server_connections, 4);
    const auto& two = dir->limits().at("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    EXPECT_EQ(two.max_client_connections, 0);  // the global default applies
    EXPECT_EQ(two.max_server_connections, 2);
}

TEST(Directory, EmptyFileHasNoLogins) {
    EXPECT_EQ(PracticeDirectory::parse("")->size(), 0u);
    EXPECT_EQ(PracticeDirectory::parse("# nothing yet\n")->size(), 0u);
}

struct BadCase {
    std::string text;
    std::vector<std::string> expected;  // substrings of the error message
};

TEST(Directory, RejectsWithMessageNamingEntryAndKey) {
    const std::string ok = entry("alice");
    const std::vector<BadCase> cases = {
        {ok + entry(""), {"login[1]", "name: required"}},
        {ok + entry("bob", "").replace(entry("bob").find("11111111-1111"), 4, "zzzz"),
         {"login[1] \"bob\"", "practice: not a UUID"}},
        {"[[login]]\nname = \"bob\"\npractice = \"1111\"\nmd5 = \"md5" + std::string(32, 'a') +
             "\"\n",
         {"login[0] \"bob\"", "practice: not a UUID"}},
        {"[[login]]\nname = \"bob\"\nscram = \"" + verifier() + "\"\n",
         {"\"bob\"", "practice: required"}},
        {ok + entry("bob") + entry("alice"), {"login[2] \"alice\"", "name: duplicate", "login[0]"}},
        {ok + entry("bob", "colour = \"blue\"\n"), {"login[1] \"bob\"", "colour: unknown key"}},
        {ok + entry("bob", "password = \"hunter2\"\n"),
         {"login[1] \"bob\"", "password:", "pgtenant scram-verifier"}},
        {entry("bob").replace(entry("bob").find("SCRAM-SHA-256$"), 14, "SCRAM-SHA-1$"),
         {"login[0] \"bob\"", "scram: not a valid verifier"}},
        {"[[login]]\nname = \"bob\"\npractice = \"11111111-1111-1111-1111-111111111111\"\n",
         {"\"bob\"", "scram: required unless md5"}},
        {entry("bob", "md5 = \"md5abc\"\n"), {"\"bob\"", "md5:"}},
        {entry("bob", "pool_mode = \"statement\"\n"), {"\"bob\"", "pool_mode:"}},
        {entry("bob", "pool_mode = 1\n"), {"\"bob\"", "pool_mode: expected a string"}},
        {"[[login]]\nname = 42\n", {"login[0]", "name: expected a string"}},
        {entry(std::string(64, 'x')), {"name: must be 1 to 63 bytes"}},
        {entry("a\\u0000b"), {"name: contains a control character"}},
        {"[[login]]\nname = \"\"\n", {"name: must be 1 to 63 bytes"}},
        {"users = 1\n" + ok, {"users: unknown top-level key"}},
        {"login = \"alice\"\n", {"login: expected [[login]] tables"}},
        {"[login]\nname = \"alice\"\n", {"login: expected [[login]] tables"}},
        {"[[login]\nname = \"alice\"\n", {"users file:1:"}},
        {ok + "name = \"again\"\n", {"users file:"}},  // TOML duplicate key
        {entry("ops", "admin = true\n"), {"\"ops\"", "practice: an admin login is bound to no"}},
        {"[[login]]\nname = \"ops\"\nadmin = \"yes\"\nscram = \"" + verifier() + "\"\n",
         {"\"ops\"", "admin: expected true or false"}},
        {"[[login]]\nname = \"ops\"\nadmin = true\npool_mode = \"session\"\nscram = \"" +
             verifier() + "\"\n",
         {"\"ops\"", "pool_mode: an admin login uses no server connection"}},
        {ok + "[[practice]]\nmax_client_connections = 3\n", {"practice[0]", "id: required"}},
        {ok + "[[practice]]\nid = \"nope\"\n", {"practice[0]", "id: not a UUID"}},
        {ok + "[[practice]]\nid = \"11111111-1111-1111-1111-111111111111\"\nmax_clients = 3\n",
         {"practice[0]", "max_clients: unknown key"}},
        {ok + "[[practice]]\nid = \"11111111-1111-1111-1111-111111111111\"\n"
              "max_server_connections = 0\n",
         {"practice[0]", "max_server_connections: expected a whole number"}},
        {ok + "[[practice]]\nid = \"11111111-1111-1111-1111-111111111111\"\n"
              "max_client_connections = \"5\"\n",
         {"max_client_connections: expected a whole number"}},
        {ok + "[[practice]]\nid = \"11111111-1111-1111-1111-111111111111\"\n"
              "[[practice]]\nid = \"11111111-1111-1111-1111-111111111111\"\n",
         {"practice[1]", "id: duplicate practice"}},
        {ok + "[practice]\nid = \"11111111-1111-1111-1111-111111111111\"\n",
         {"practice: expected [[practice]] tables"}},
    };
    for (const BadCase& c : cases) {
        const std::string msg = error_of(c.text);
        ASSERT_FALSE(msg.empty()) << "accepted:\n" << c.text;
        for (const std::string& want : c.expected)
            EXPECT_NE(msg.find(want), std::string::npos)
                << "message: " << msg << "\nwant: " << want;
    }
}

TEST(Directory, MessageCarriesLineOfOffendingKey) {
    const std::string text = entry("alice") + entry("bob", "colour = \"blue\"\n");
    // entry() is 4 lines, so bob's extra colour key is the 9th line.
    EXPECT_NE(error_of(text).find("users file:9: login[1] \"bob\": colour:"), std::string::npos)
        << error_of(text);
}

TEST(Directory, LoadReadsFileAndNamesItInErrors) {
    const std::string path = ::testing::TempDir() + "pgtenant_users_test.toml";
    {
        std::ofstream out(path);
        out << entry("alice") << entry("bob", "practice_id = \"x\"\n");
    }
    try {
        PracticeDirectory::load(path);
        ADD_FAILURE() << "expected DirectoryError";
    } catch (const DirectoryError& e) {
        EXPECT_NE(std::string(e.what()).find(path + ":"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("practice_id: unknown key"), std::string::npos);
    }
    {
        std::ofstream out(path);
        out << entry("alice");
    }
    EXPECT_NE(PracticeDirectory::load(path)->find("alice"), nullptr);
    std::remove(path.c_str());
    EXPECT_THROW(PracticeDirectory::load(path), DirectoryError);
}

}  // namespace
}  // namespace pgtenant::auth

namespace pgtenant::auth {
namespace {

TEST(Directory, AdminLoginsHaveNoPractice) {
    auto dir = PracticeDirectory::parse("[[login]]\nname = \"ops\"\nadmin = true\nscram = \"" +
                                        verifier() + "\"\n" + entry("alice"));
    const Login* ops = dir->find("ops");
    ASSERT_NE(ops, nullptr);
    EXPECT_TRUE(ops->admin);
    EXPECT_TRUE(ops->practice_id.empty());
    EXPECT_FALSE(dir->find("alice")->admin);
    EXPECT_EQ(dir->logins().size(), 2u);
}

}  // namespace
}  // namespace pgtenant::auth
