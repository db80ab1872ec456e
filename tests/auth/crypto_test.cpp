#include "auth/crypto.h"

#include <gtest/gtest.h>

#include "auth/scram.h"

namespace pgtenant::auth {
namespace {

TEST(Base64, RoundTripsAllLengths) {
    for (std::size_t n = 0; n < 40; ++n) {
        std::string raw;
        for (std::size_t i = 0; i < n; ++i) raw += static_cast<char>(i * 37 + 11);
        const auto decoded = crypto::base64_decode(crypto::base64_encode(raw));
        ASSERT_TRUE(decoded) << n;
        EXPECT_EQ(*decoded, raw) << n;
    }
}

TEST(Base64, KnownValues) {
    EXPECT_EQ(crypto::base64_encode("n,,"), "biws");
    EXPECT_EQ(crypto::base64_encode("y,,"), "eSws");
    EXPECT_EQ(crypto::base64_encode("f"), "Zg==");
    EXPECT_EQ(crypto::base64_encode("fo"), "Zm8=");
    EXPECT_EQ(crypto::base64_encode("foo"), "Zm9v");
    EXPECT_EQ(crypto::base64_decode("Zm8=").value(), "fo");
    EXPECT_EQ(crypto::base64_decode("").value(), "");
}

TEST(Base64, RejectsMalformed) {
    for (const char* bad : {"Zm8", "Zm8==", "Z===", "====", "Zm=8", "Zm9v\n", "Zm9v Zm9v", "Zm!v",
                            "=Zm9", "Zg==Zg=="}) {
        EXPECT_FALSE(crypto::base64_decode(bad)) << bad;
    }
    EXPECT_FALSE(crypto::base64_decode(std::string("Zm\0v", 4)));
}

TEST(Crypto, Sha256AndHmacKnownAnswers) {
    // FIPS 180-2 "abc" and RFC 4231 test case 2.
    EXPECT_EQ(crypto::base64_encode(crypto::sha256("abc")),
              "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    EXPECT_EQ(crypto::base64_encode(crypto::hmac_sha256("Jefe", "what do ya want for nothing?")),
              "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(Crypto, Md5Hex) {
    // printf 'secretpostgres' | md5sum
    EXPECT_EQ(crypto::md5_hex("secretpostgres"), "53f48b7c4b76a86ce72276c5755f217d");
}

TEST(Crypto, RandomBytes) {
    EXPECT_EQ(random_bytes(0).size(), 0u);
    const std::string a = random_bytes(32), b = random_bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
}

TEST(Crypto, ConstantTimeEqual) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
    EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Md5, KnownAnswers) {
    EXPECT_EQ(md5_stored_hash("postgres", "secret"), "md553f48b7c4b76a86ce72276c5755f217d");
    // python3: "md5" + md5(md5hex(b"secretpostgres").encode() + bytes([1,2,3,4])).hexdigest()
    const std::string salt("\x01\x02\x03\x04", 4);
    EXPECT_EQ(md5_password_response("postgres", "secret", salt),
              "md5bb41a296aab6baccb36ff243a562abff");
    EXPECT_EQ(md5_response_from_stored("md553f48b7c4b76a86ce72276c5755f217d", salt),
              "md5bb41a296aab6baccb36ff243a562abff");
}

TEST(Md5, BadInputsGiveEmpty) {
    const std::string salt("\x01\x02\x03\x04", 4);
    EXPECT_EQ(md5_password_response("postgres", "secret", "abc"), "");
    EXPECT_EQ(md5_response_from_stored("md553f48b7c4b76a86ce72276c5755f217d", "12345"), "");
    EXPECT_EQ(md5_response_from_stored("53f48b7c4b76a86ce72276c5755f217d", salt), "");
    EXPECT_EQ(md5_response_from_stored("md553f48b7c4b76a86ce72276c5755f217", salt), "");
    EXPECT_EQ(md5_response_from_stored("md5ZZf48b7c4b76a86ce72276c5755f217d", salt), "");
    // A salt containing a NUL byte is still 4 bytes and must be used as-is.
    EXPECT_EQ(md5_password_response("postgres", "secret", std::string("\0\0\0\0", 4)).size(), 35u);
}

}  // namespace
}  // namespace pgtenant::auth
