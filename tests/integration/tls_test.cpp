// TLS for clients: with a certificate configured and tls_required = true, libpq's
// sslmode=require gets an encrypted, working session and a plaintext client is refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tests/support/integration_env.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

// A throwaway self-signed certificate, made before pgtenant starts.
PgtenantOptions with_tls() {
    static const std::filesystem::path dir = [] {
        auto d = std::filesystem::temp_directory_path() / ("pgtenant-tls-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout '" +
                          (d / "key.pem").string() + "' -out '" + (d / "cert.pem").string() + "' 2>/dev/null";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a test certificate");
        return d;
    }();
    PgtenantOptions o;
    o.extra_toml["server"] = {"tls_cert = \"" + (dir / "cert.pem").string() + "\"",
                              "tls_key = \"" + (dir / "key.pem").string() + "\"", "tls_required = true"};
    return o;
}

const auto* const kEnv = register_integration_env(with_tls());

class TlsTest : public ProxyTest {};

TEST_F(TlsTest, EncryptedSessionWorksAndIsIsolated) {
    auto& proxy = env().proxy();
    auto conn = connect(proxy.conninfo(demo::kAlice, proxy.login(demo::kAlice).password, "sslmode=require"));
    EXPECT_EQ(PQsslInUse(conn.get()), 1);
    auto rows = query(conn.get(), "SELECT * FROM patients");
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    // A large result crosses TLS records intact.
    auto big = query(conn.get(), "SELECT repeat('x', 100000) FROM generate_series(1, 20)");
    ASSERT_EQ(big.size(), 20u);
    EXPECT_EQ(big.back().at(0).size(), 100000u);
}

TEST_F(TlsTest, PlaintextClientIsRefusedWhenTlsIsRequired) {
    auto& proxy = env().proxy();
    auto outcome = try_connect(proxy.conninfo(demo::kAlice, proxy.login(demo::kAlice).password, "sslmode=disable"));
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.sqlstate, "28000") << outcome.message;
}

TEST_F(TlsTest, WrongPasswordOverTlsFailsLikePlaintext) {
    auto& proxy = env().proxy();
    auto outcome = try_connect(proxy.conninfo(demo::kAlice, "not-the-password", "sslmode=require"));
    EXPECT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.sqlstate, "28P01") << outcome.message;
}

}  // namespace
}  // namespace pgtenant::testing
