#include "auth/context_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pgtenant::auth {
namespace {

const std::string kUuid = "11111111-1111-1111-1111-111111111111";
const std::string kKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr int64_t kNow = 1'700'000'000;

KeyRing ring_of(const std::string& text) { return KeyRing::parse(text); }

std::string other_hex() { return std::string(64, 'e'); }

// Computed independently at writing time:
//   python3 -c 'import hmac,hashlib; print(hmac.new(bytes(range(32)),
//     b"v1.k2024-01.11111111-1111-1111-1111-111111111111.4242.1800000000",
//     hashlib.sha256).hexdigest())'
TEST(ContextToken, KnownAnswer) {
    auto ring = ring_of("k2024-01 " + kKeyHex + "\n");
    EXPECT_EQ(make_context_token(ring.active(), kUuid, 4242, 1'800'000'000),
              "v1.k2024-01.11111111-1111-1111-1111-111111111111.4242.1800000000."
              "4bde65994446b0b9a5216527665692f6c0ddf3153e023fc4aa11c2074219f7af");
}

TEST(ContextToken, RoundTrip) {
    auto ring = ring_of("a " + kKeyHex + "\n");
    auto token = make_context_token(ring.active(), kUuid, 77, kNow + 60);
    auto claims = verify_context_token(ring, token, 77, kNow);
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->kid, "a");
    EXPECT_EQ(claims->practice_id, kUuid);
    EXPECT_EQ(claims->backend_pid, 77);
    EXPECT_EQ(claims->expires_unix, kNow + 60);
}

TEST(ContextToken, UpperCaseUuidIsCarriedLowerCase) {
    auto ring = ring_of("a " + kKeyHex);
    auto token =
        make_context_token(ring.active(), "ABCDEF00-1111-1111-1111-11111111111F", 5, kNow + 1);
    EXPECT_NE(token.find(".abcdef00-1111-1111-1111-11111111111f."), std::string::npos);
    EXPECT_TRUE(verify_context_token(ring, token, 5, kNow));
}

TEST(ContextToken, RejectsWrongPidAndExpiry) {
    auto ring = ring_of("a " + kKeyHex);
    auto token = make_context_token(ring.active(), kUuid, 77, kNow + 60);
    EXPECT_FALSE(verify_context_token(ring, token, 78, kNow));
    EXPECT_FALSE(verify_context_token(ring, token, 77, kNow + 60));  // expires == now
    EXPECT_FALSE(verify_context_token(ring, token, 77, kNow + 61));
}

TEST(ContextToken, RejectsTamperedFields) {
    auto ring = ring_of("a " + kKeyHex + "\nb " + other_hex());
    auto token = make_context_token(ring.active(), kUuid, 77, kNow + 60);
    ASSERT_TRUE(verify_context_token(ring, token, 77, kNow));
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string t = token;
        t.replace(t.find(from), from.size(), to);
        return t;
    };
    EXPECT_FALSE(verify_context_token(ring, replace("v1.", "v2."), 77, kNow));
    EXPECT_FALSE(verify_context_token(ring, replace(".a.", ".b."), 77, kNow));
    EXPECT_FALSE(verify_context_token(ring, replace("1111.", "2222."), 77, kNow));
    EXPECT_FALSE(verify_context_token(ring, replace(".77.", ".78."), 77, kNow));
    EXPECT_FALSE(verify_context_token(
        ring, replace(std::to_string(kNow + 60), std::to_string(kNow + 6000)), 77, kNow));
    // Each single-character change of the MAC.
    for (std::size_t i = token.size() - 64; i < token.size(); ++i) {
        std::string t = token;
        t[i] = t[i] == '0' ? '1' : '0';
        EXPECT_FALSE(verify_context_token(ring, t, 77, kNow)) << i;
    }
    // Upper-case MAC hex is not the grammar, even though it is the same bytes.
    std::string upper = token;
    for (std::size_t i = upper.size() - 64; i < upper.size(); ++i) {
        upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
    }
    if (upper != token) {
        EXPECT_FALSE(verify_context_token(ring, upper, 77, kNow));
    }
}

TEST(ContextToken, OtherKeyAndUnknownKid) {
    auto ring = ring_of("a " + kKeyHex);
    auto forged_ring = ring_of("a " + other_hex());
    auto forged = make_context_token(forged_ring.active(), kUuid, 77, kNow + 60);
    EXPECT_FALSE(verify_context_token(ring, forged, 77, kNow));
    auto unknown = ring_of("zz " + kKeyHex);
    EXPECT_FALSE(verify_context_token(
        ring, make_context_token(unknown.active(), kUuid, 77, kNow + 60), 77, kNow));
}

TEST(ContextToken, RotationVerifiesWithEveryKeySignsWithFirst) {
    auto old_ring = ring_of("old " + kKeyHex);
    auto rotated = ring_of("new " + other_hex() + "\nold " + kKeyHex);
    EXPECT_EQ(rotated.active().kid, "new");
    auto old_token = make_context_token(old_ring.active(), kUuid, 9, kNow + 5);
    EXPECT_TRUE(verify_context_token(rotated, old_token, 9, kNow));
    auto new_token = make_context_token(rotated.active(), kUuid, 9, kNow + 5);
    EXPECT_FALSE(verify_context_token(old_ring, new_token, 9, kNow));
}

TEST(ContextToken, RejectsMalformedStrings) {
    auto ring = ring_of("a " + kKeyHex);
    auto good = make_context_token(ring.active(), kUuid, 77, kNow + 60);
    for (const std::string& bad :
         {std::string(), std::string("."), std::string("v1"), std::string("....."), good + ".",
          "." + good, good + ".x", good.substr(0, good.size() - 1), std::string(100000, 'a'),
          good + std::string(300, '0'),
          "v1.a.not-a-uuid.77." + std::to_string(kNow + 60) + "." + std::string(64, '0'),
          "v1.a." + kUuid + ".077." + std::to_string(kNow + 60) + "." + std::string(64, '0'),
          "v1.a." + kUuid + ".-77." + std::to_string(kNow + 60) + "." + std::string(64, '0'),
          "v1.a." + kUuid + ".77.99999999999999999999." + std::string(64, '0'),
          std::string("v1.a.") + kUuid + ".77." + std::to_string(kNow + 60) + ".zz"}) {
        EXPECT_FALSE(verify_context_token(ring, bad, 77, kNow)) << bad.substr(0, 120);
    }
}

TEST(ContextToken, MakeRefusesBadInput) {
    ContextKey key{"a", std::string(32, 'k')};
    EXPECT_THROW(make_context_token(key, "nope", 1, kNow), std::invalid_argument);
    EXPECT_THROW(make_context_token(key, kUuid + ".x", 1, kNow), std::invalid_argument);
    EXPECT_THROW(make_context_token(key, kUuid, 0, kNow), std::invalid_argument);
    EXPECT_THROW(make_context_token(key, kUuid, 1, 0), std::invalid_argument);
    EXPECT_THROW(make_context_token(ContextKey{"A", key.key}, kUuid, 1, kNow),
                 std::invalid_argument);
    EXPECT_THROW(make_context_token(ContextKey{"a", "short"}, kUuid, 1, kNow),
                 std::invalid_argument);
}

TEST(ContextKeyRing, ParsesCommentsBlanksAndOrder) {
    auto ring = KeyRing::parse("# pgtenant keys\n\n  k2 " + other_hex() + "  \r\n\t# old\nk1 " +
                               kKeyHex + "\n");
    ASSERT_EQ(ring.keys().size(), 2u);
    EXPECT_EQ(ring.active().kid, "k2");
    EXPECT_EQ(ring.active().key, std::string(32, '\xee'));
    ASSERT_NE(ring.find("k1"), nullptr);
    EXPECT_EQ(ring.find("k1")->key[31], '\x1f');
    EXPECT_EQ(ring.find("k3"), nullptr);
}

void expect_parse_error(const std::string& text, const std::string& needle) {
    try {
        KeyRing::parse(text, "/etc/pgtenant/keys");
        ADD_FAILURE() << "no error for: " << text;
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("/etc/pgtenant/keys"), std::string::npos) << what;
        EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
}

TEST(ContextKeyRing, ParseErrorsNameFileAndLine) {
    expect_parse_error("", "no key");
    expect_parse_error("# only a comment\n\n", "no key");
    expect_parse_error("a " + kKeyHex + "\nb " + kKeyHex.substr(2) + "\n", "line 2");
    expect_parse_error("a " + kKeyHex.substr(0, 62) + "zz\n", "not valid hex");
    expect_parse_error("a\n", "line 1");
    expect_parse_error("a " + kKeyHex + " extra\n", "line 1");
    expect_parse_error("Bad " + kKeyHex + "\n", "key id");
    expect_parse_error(std::string(33, 'k') + " " + kKeyHex + "\n", "key id");
    expect_parse_error("a " + kKeyHex + "\n\na " + other_hex() + "\n", "line 3: duplicate");
}

class ContextKeyFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/pgtenant-keys-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = (dir_ / "keys").string();
        std::ofstream(path_) << "# test\nk1 " << kKeyHex << "\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path dir_;
    std::string path_;
};

TEST_F(ContextKeyFile, LoadsPrivateFile) {
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    EXPECT_EQ(KeyRing::load(path_).active().kid, "k1");
    ASSERT_EQ(::chmod(path_.c_str(), 0400), 0);
    EXPECT_EQ(KeyRing::load(path_).active().kid, "k1");
}

TEST_F(ContextKeyFile, RefusesGroupOrOtherAccess) {
    for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0610}) {
        ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
        try {
            KeyRing::load(path_);
            ADD_FAILURE() << "mode " << std::oct << mode << " accepted";
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("chmod 600"), std::string::npos) << what;
            EXPECT_NE(what.find(path_), std::string::npos) << what;
        }
    }
}

TEST_F(ContextKeyFile, MissingFileAndDirectoryNamed) {
    std::string missing = (dir_ / "absent").string();
    EXPECT_THROW(
        {
            try {
                KeyRing::load(missing);
            } catch (const std::runtime_error& e) {
                EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
                throw;
            }
        },
        std::runtime_error);
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    EXPECT_THROW(KeyRing::load(dir_.string()), std::runtime_error);
}

TEST_F(ContextKeyFile, ParseErrorInFileNamesLine) {
    std::ofstream(path_) << "k1 " << kKeyHex << "\nk2 123\n";
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    try {
        KeyRing::load(path_);
        ADD_FAILURE() << "accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(path_ + " line 2"), std::string::npos) << e.what();
    }
}

TEST(ContextKeyLine, NewKeyLineParsesAndIsRandom) {
    auto line = new_key_line("k-2026_01");
    ASSERT_EQ(line.size(), 9u + 1 + 64);
    auto ring = KeyRing::parse(line);
    EXPECT_EQ(ring.active().kid, "k-2026_01");
    EXPECT_EQ(ring.active().key.size(), 32u);
    EXPECT_NE(new_key_line("k"), new_key_line("k"));
    EXPECT_THROW(new_key_line(""), std::invalid_argument);
    EXPECT_THROW(new_key_line("has space"), std::invalid_argument);
    EXPECT_THROW(new_key_line("quote'"), std::invalid_argument);
}

TEST(ContextKeyLine, AddKeySql) {
    auto ring = KeyRing::parse("k1 " + kKeyHex);
    EXPECT_EQ(add_key_sql(ring.active()), "SELECT pgtenant.add_key('k1', '" + kKeyHex + "');");
}

}  // namespace
}  // namespace pgtenant::auth
