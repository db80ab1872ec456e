// Logins from the database (tenant.directory_query): a login INSERTed into a table logs in at
// once, bound to its practice; a deleted one stops working once its cache entry expires; a
// lookup that fails refuses the login (57P03) and never lets it in; the pool role (and so every
// practice's client) cannot read the table of verifiers.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;

PgtenantOptions options() {
    PgtenantOptions o;
    auto& t = o.extra_toml["tenant"];
    t.push_back(
        "directory_query = \"SELECT scram, practice::text, pool_mode FROM directory.logins "
        "WHERE login = $1\"");
    t.push_back("directory_user = \"pgtenant_directory\"");
    t.push_back("directory_password = \"directory-pw\"");
    t.push_back("directory_cache_s = 1");
    return o;
}

const auto* const kEnv = register_integration_env(options());

class DirectoryQueryTest : public ProxyTest {
  protected:
    void SetUp() override {
        auto su = env().superuser();
        query(su.get(),
              "DO $$ BEGIN CREATE ROLE pgtenant_directory LOGIN PASSWORD 'directory-pw'; "
              "EXCEPTION WHEN duplicate_object THEN NULL; END $$");
        query(su.get(), "CREATE SCHEMA IF NOT EXISTS directory");
        query(su.get(),
              "CREATE TABLE IF NOT EXISTS directory.logins (login text PRIMARY KEY, scram text "
              "NOT NULL, practice uuid NOT NULL, pool_mode text)");
        query(su.get(), "REVOKE ALL ON SCHEMA directory FROM PUBLIC");
        query(su.get(), "GRANT USAGE ON SCHEMA directory TO pgtenant_directory");
        query(su.get(), "GRANT SELECT ON directory.logins TO pgtenant_directory");
        query(su.get(), "DELETE FROM directory.logins");
    }
    void add(const std::string& login, const std::string& password, const std::string& practice,
             const std::string& pool_mode = "NULL") {
        auto su = env().superuser();
        query(su.get(), "INSERT INTO directory.logins VALUES ('" + login + "', '" +
                            Pgtenant::scram_verifier(password) + "', '" + practice + "', " +
                            pool_mode + ")");
    }
    ConnectOutcome login(const std::string& name, const std::string& password) {
        return try_connect(env().proxy().conninfo(name, password));
    }
};

TEST_F(DirectoryQueryTest, ALoginInsertedIntoTheTableLogsInAtOnce) {
    add("erin", "erin-pw", demo::kPracticeB);
    auto erin = login("erin", "erin-pw");
    ASSERT_TRUE(erin.ok()) << erin.sqlstate << " " << erin.message;
    EXPECT_EQ(query(erin.conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsB));
    EXPECT_EQ(login("erin", "wrong").sqlstate, "28P01");
    EXPECT_EQ(login("nobody", "x").sqlstate, "28P01");  // no row: a failed login, not an error
    // The users file's logins are untouched, and no practice's client can read the verifiers.
    auto alice = env().connect_as(demo::kAlice);
    EXPECT_EQ(sqlstate_of(alice.get(), "SELECT * FROM directory.logins"), "42501");
    EXPECT_EQ(sqlstate_of(erin.conn.get(), "SELECT * FROM directory.logins"), "42501");
}

TEST_F(DirectoryQueryTest, ADeletedLoginStopsWorkingWhenItsCacheEntryExpires) {
    add("gail", "gail-pw", demo::kPracticeA, "'transaction'");
    auto first = login("gail", "gail-pw");
    ASSERT_TRUE(first.ok()) << first.message;
    query(env().superuser().get(), "DELETE FROM directory.logins WHERE login = 'gail'");
    std::this_thread::sleep_for(1200ms);  // directory_cache_s = 1
    EXPECT_EQ(login("gail", "gail-pw").sqlstate, "28P01");
    EXPECT_EQ(query(first.conn.get(), "SELECT 1").at(0).at(0), "1");  // connected: goes on
}

TEST_F(DirectoryQueryTest, AFailingLookupRefusesTheLoginAndNeverLetsItIn) {
    add("frank", "frank-pw", demo::kPracticeA);
    auto su = env().superuser();
    query(su.get(), "REVOKE SELECT ON directory.logins FROM pgtenant_directory");
    auto refused = login("frank", "frank-pw");
    EXPECT_FALSE(refused.ok());
    EXPECT_EQ(refused.sqlstate, "57P03") << refused.message;
    EXPECT_NE(env().proxy().log().find("directory lookup of \"frank\" failed"), std::string::npos);
    // A row that is not a valid login is an error too, not a login.
    query(su.get(), "GRANT SELECT ON directory.logins TO pgtenant_directory");
    add("hank", "hank-pw", demo::kPracticeA, "'statement'");
    EXPECT_EQ(login("hank", "hank-pw").sqlstate, "57P03");
    // Once the lookup works again, so does the login.
    auto frank = login("frank", "frank-pw");
    ASSERT_TRUE(frank.ok()) << frank.message;
    EXPECT_EQ(query(frank.conn.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
}

}  // namespace
}  // namespace pgtenant::testing
