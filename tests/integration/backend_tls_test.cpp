// TLS from pgtenant to PostgreSQL (backend.sslmode), against a cluster with ssl = on whose
// pg_hba.conf rejects every connection without TLS (hostnossl ... reject), and a cluster with
// ssl = off. Certificates are made when the suite starts, by the openssl command: a CA, a
// server certificate for "localhost" only (so verify-full passes for localhost and fails for
// 127.0.0.1), a client certificate for a role that logs in by certificate alone, and a second
// CA that signed nothing the server has.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/demo_fixture.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pgtenant_process.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The role that logs in with the client certificate (its CN) and no password.
const std::string kCertRole = "pgtenant_certpool";

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    run_checked(argv);
}

// A key and a certificate signed by `ca` (self-signed when `ca` is empty), EC P-256.
void make_cert(const fs::path& dir, const std::string& name, const std::string& subject,
               const std::string& ca, const std::string& extensions = "") {
    const std::string key = (dir / (name + ".key")).string();
    const std::string crt = (dir / (name + ".crt")).string();
    const std::vector<std::string> ec{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                      "-nodes"};
    if (ca.empty()) {
        std::vector<std::string> args{"req",   "-x509",   "-days", "2",    "-subj",
                                      subject, "-keyout", key,     "-out", crt};
        args.insert(args.end(), ec.begin(), ec.end());
        openssl(args);
        return;
    }
    const std::string csr = (dir / (name + ".csr")).string();
    std::vector<std::string> req{"req", "-new", "-subj", subject, "-keyout", key, "-out", csr};
    req.insert(req.end(), ec.begin(), ec.end());
    openssl(req);
    std::vector<std::string> sign{"x509",
                                  "-req",
                                  "-in",
                                  csr,
                                  "-CA",
                                  (dir / (ca + ".crt")).string(),
                                  "-CAkey",
                                  (dir / (ca + ".key")).string(),
                                  "-CAcreateserial",
                                  "-days",
                                  "2",
                                  "-out",
                                  crt};
    if (!extensions.empty()) {
        write_file(dir / (name + ".ext"), extensions + "\n");
        sign.insert(sign.end(), {"-extfile", (dir / (name + ".ext")).string()});
    }
    openssl(sign);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
}

class BackendTlsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        certs_ = std::make_unique<TempDir>("pgtenant-backend-tls");
        const fs::path& d = certs_->path();
        make_cert(d, "ca", "/CN=pgtenant test CA", "");
        make_cert(d, "other_ca", "/CN=pgtenant unrelated CA", "");
        make_cert(d, "server", "/CN=localhost", "ca", "subjectAltName=DNS:localhost");
        make_cert(d, "client", "/CN=" + kCertRole, "ca");

        PgClusterOptions o;
        o.extra_settings = {"ssl = on", "ssl_cert_file = 'server.crt'",
                            "ssl_key_file = 'server.key'", "ssl_ca_file = 'ca.crt'"};
        o.data_files = {{"server.crt", read_file(d / "server.crt")},
                        {"server.key", read_file(d / "server.key")},
                        {"ca.crt", read_file(d / "ca.crt")}};
        o.hba_lines = {"local all all trust", "hostnossl all all 127.0.0.1/32 reject",
                       "hostssl all " + kCertRole + " 127.0.0.1/32 cert",
                       "hostssl all all 127.0.0.1/32 scram-sha-256"};
        tls_cluster_ = std::make_unique<PgCluster>(o);
        // Logs in by certificate only; has the pool role's privileges.
        tls_cluster_->psql_command("CREATE ROLE " + kCertRole + " LOGIN IN ROLE pgtenant_pool");
    }
    static void TearDownTestSuite() {
        plain_cluster_.reset();
        tls_cluster_.reset();
        certs_.reset();
    }

    static std::string cert(const std::string& name) { return (certs_->path() / name).string(); }

    // pgtenant in compat mode against `cluster` with these [backend] lines.
    static std::unique_ptr<Pgtenant> start(const PgCluster& cluster,
                                           std::vector<std::string> backend,
                                           PgtenantOptions o = {}) {
        o.tenant_mode = "compat";
        o.extra_toml["backend"] = std::move(backend);
        auto proxy = std::make_unique<Pgtenant>(cluster, o);
        // The same suite runs on the io_uring build too (backend_tls_test_io_uring).
        const char* io = std::getenv("PGTENANT_IO");
        const bool uring = io != nullptr && std::string(io) == "io_uring";
        EXPECT_NE(proxy->log().find(uring ? ", io_uring)" : ", epoll)"), std::string::npos)
            << proxy->log();
        return proxy;
    }
    // One that cannot reach the server: its start-up check cannot run either.
    static std::unique_ptr<Pgtenant> start_failing(const PgCluster& cluster,
                                                   std::vector<std::string> backend,
                                                   PgtenantOptions o = {}) {
        o.args.push_back("--allow-unsafe-database");
        return start(cluster, std::move(backend), std::move(o));
    }

    static PgCluster& plain_cluster() {
        if (!plain_cluster_) plain_cluster_ = std::make_unique<PgCluster>();
        return *plain_cluster_;
    }

    // Alice's patients through `proxy`, checked for her practice.
    static void expect_alice_works(Pgtenant& proxy) {
        auto conn = proxy.connect_as(demo::kAlice);
        auto rows = query(conn.get(), "SELECT * FROM patients");
        EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
        EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    }

    // A client login that fails because pgtenant cannot connect: 57P03, and the log says why.
    static void expect_cannot_connect(Pgtenant& proxy, const std::string& log_says) {
        auto outcome = try_connect(proxy.conninfo(demo::kAlice));
        EXPECT_FALSE(outcome.ok());
        EXPECT_EQ(outcome.sqlstate, "57P03") << outcome.message;
        EXPECT_NE(proxy.log().find(log_says), std::string::npos)
            << "expected \"" << log_says << "\" in:\n"
            << proxy.tail_log(20);
        EXPECT_TRUE(proxy.running());
    }

    // Server connections of `role` and whether each uses TLS, from PostgreSQL's side.
    static Rows ssl_of(const PgCluster& cluster, const std::string& role) {
        auto su = cluster.superuser();
        return query(su.get(),
                     "SELECT s.ssl::text, coalesce(s.version, ''), coalesce(s.client_dn, '') "
                     "FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = '" +
                         role + "'");
    }

    static inline std::unique_ptr<TempDir> certs_;
    static inline std::unique_ptr<PgCluster> tls_cluster_;
    static inline std::unique_ptr<PgCluster> plain_cluster_;
};

TEST_F(BackendTlsTest, RequireRunsQueriesOverTls) {
    auto proxy = start(*tls_cluster_, {"sslmode = \"require\""});
    auto conn = proxy->connect_as(demo::kAlice);
    auto rows = query(conn.get(), "SELECT * FROM patients");
    EXPECT_EQ(static_cast<int>(rows.size()), demo::kPatientsA);
    EXPECT_TRUE(all_rows_in_practice(rows, 1, demo::kPracticeA));
    // Replies spanning many TLS records, and a request larger than one.
    auto big = query(conn.get(), "SELECT repeat('x', 100000) FROM generate_series(1, 20)");
    ASSERT_EQ(big.size(), 20u);
    EXPECT_EQ(big.back().at(0).size(), 100000u);
    auto echoed = query(conn.get(), "SELECT length('" + std::string(300000, 'y') + "')");
    EXPECT_EQ(echoed.at(0).at(0), "300000");
    // Extended protocol and an explicit transaction too.
    auto params = query_params(conn.get(), "SELECT count(*) FROM patients WHERE name <> $1", {"-"});
    EXPECT_EQ(params.at(0).at(0), std::to_string(demo::kPatientsA));
    query(conn.get(), "BEGIN");
    EXPECT_EQ(query(conn.get(), "SELECT count(*) FROM meal_logs").at(0).at(0),
              std::to_string(demo::kMealLogsA));
    query(conn.get(), "COMMIT");

    // Every server connection of the pool role is encrypted (pg_hba.conf would refuse any
    // other, see DisableIsRefusedByTheServer).
    auto ssl = ssl_of(*tls_cluster_, "pgtenant_pool");
    ASSERT_FALSE(ssl.empty());
    for (const auto& row : ssl) {
        EXPECT_EQ(row.at(0), "true");
        EXPECT_TRUE(row.at(1) == "TLSv1.3" || row.at(1) == "TLSv1.2") << row.at(1);
    }
}

TEST_F(BackendTlsTest, DisableIsRefusedByTheServer) {
    // The cluster's hostnossl reject line is real: without TLS nothing gets in.
    auto proxy = start_failing(*tls_cluster_, {"sslmode = \"disable\""});
    expect_cannot_connect(*proxy, "no encryption");
}

TEST_F(BackendTlsTest, PreferUsesTlsWhenOfferedAndPlainOtherwise) {
    {
        auto proxy = start(*tls_cluster_, {"sslmode = \"prefer\""});
        expect_alice_works(*proxy);
        auto ssl = ssl_of(*tls_cluster_, "pgtenant_pool");
        ASSERT_FALSE(ssl.empty());
        for (const auto& row : ssl) EXPECT_EQ(row.at(0), "true");
    }
    auto proxy = start(plain_cluster(), {"sslmode = \"prefer\""});
    expect_alice_works(*proxy);
    auto ssl = ssl_of(plain_cluster(), "pgtenant_pool");
    ASSERT_FALSE(ssl.empty());
    for (const auto& row : ssl) EXPECT_EQ(row.at(0), "false");
}

TEST_F(BackendTlsTest, RequireFailsClearlyWhenTheServerHasNoTls) {
    auto proxy = start_failing(plain_cluster(), {"sslmode = \"require\""});
    expect_cannot_connect(*proxy, "does not accept TLS (it answered 'N' to the SSL request");
    expect_cannot_connect(*proxy, "backend.sslmode = require requires TLS");
}

TEST_F(BackendTlsTest, VerifyCaAcceptsTheRightCa) {
    // verify-ca checks the chain, not the name: 127.0.0.1 is not in the certificate.
    auto proxy = start(*tls_cluster_,
                       {"sslmode = \"verify-ca\"", "sslrootcert = \"" + cert("ca.crt") + "\""});
    expect_alice_works(*proxy);
}

TEST_F(BackendTlsTest, VerifyCaRefusesAnotherCa) {
    auto proxy = start_failing(*tls_cluster_, {"sslmode = \"verify-ca\"",
                                               "sslrootcert = \"" + cert("other_ca.crt") + "\""});
    expect_cannot_connect(*proxy,
                          "TLS handshake with 127.0.0.1:" + std::to_string(tls_cluster_->port()) +
                              " failed (backend.sslmode = verify-ca): the server's "
                              "certificate was not accepted: ");
}

TEST_F(BackendTlsTest, RequireWithARootCertChecksTheChainAsLibpqDoes) {
    auto proxy = start_failing(
        *tls_cluster_, {"sslmode = \"require\"", "sslrootcert = \"" + cert("other_ca.crt") + "\""});
    expect_cannot_connect(*proxy, "the server's certificate was not accepted");
}

TEST_F(BackendTlsTest, VerifyFullChecksTheHostName) {
    {
        PgtenantOptions o;
        o.backend_host = "localhost";  // the name in the certificate (SNI is sent for it)
        auto proxy =
            start(*tls_cluster_,
                  {"sslmode = \"verify-full\"", "sslrootcert = \"" + cert("ca.crt") + "\""}, o);
        expect_alice_works(*proxy);
    }
    // 127.0.0.1 reaches the same server, whose certificate does not name that address.
    auto proxy = start_failing(
        *tls_cluster_, {"sslmode = \"verify-full\"", "sslrootcert = \"" + cert("ca.crt") + "\""});
    expect_cannot_connect(*proxy, "certificate was not accepted: IP address mismatch");
}

TEST_F(BackendTlsTest, ClientCertificateLogsIn) {
    PgtenantOptions o;
    o.backend_host = "localhost";
    o.backend_user = kCertRole;
    o.backend_password = "";  // pg_hba.conf "cert": the certificate is the only credential
    {
        auto proxy = start(
            *tls_cluster_,
            {"sslmode = \"verify-full\"", "sslrootcert = \"" + cert("ca.crt") + "\"",
             "sslcert = \"" + cert("client.crt") + "\"", "sslkey = \"" + cert("client.key") + "\""},
            o);
        expect_alice_works(*proxy);
        auto ssl = ssl_of(*tls_cluster_, kCertRole);
        ASSERT_FALSE(ssl.empty());
        for (const auto& row : ssl) {
            EXPECT_EQ(row.at(0), "true");
            EXPECT_EQ(row.at(2), "/CN=" + kCertRole);
        }
    }
    // Without the certificate the same role is refused, and the log says so.
    auto proxy =
        start_failing(*tls_cluster_,
                      {"sslmode = \"verify-full\"", "sslrootcert = \"" + cert("ca.crt") + "\""}, o);
    expect_cannot_connect(*proxy, "connection requires a valid client certificate");
}

TEST_F(BackendTlsTest, IdleConnectionsSurviveServerCloseAndMovesBetweenWorkers) {
    PgtenantOptions o;
    o.workers = 2;
    o.pool_size = 1;  // one server connection, wanted by clients on both workers in turn
    auto proxy = start(*tls_cluster_, {"sslmode = \"require\""}, o);
    // Clients are dealt to the workers in turn: these two sit on different ones.
    auto a = proxy->connect_as(demo::kAlice);
    auto b = proxy->connect_as(demo::kBob);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(query(a.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsA));
        EXPECT_EQ(query(b.get(), "SELECT count(*) FROM patients").at(0).at(0),
                  std::to_string(demo::kPatientsB));
    }
    // The server ends the idle TLS connection (FATAL, then close): the idle check notices and
    // the next transaction gets a fresh connection, without an error.
    auto su = tls_cluster_->superuser();
    query(su.get(),
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "
          "'pgtenant_pool'");
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(query(a.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsA));
    EXPECT_EQ(query(b.get(), "SELECT count(*) FROM patients").at(0).at(0),
              std::to_string(demo::kPatientsB));
    for (const auto& row : ssl_of(*tls_cluster_, "pgtenant_pool")) EXPECT_EQ(row.at(0), "true");
    a.reset();
    b.reset();
    proxy->stop();
    std::smatch m;
    const std::string log = proxy->log();
    ASSERT_TRUE(std::regex_search(log, m, std::regex(R"((\d+) moved between worker threads)")))
        << log;
    EXPECT_GT(std::stoi(m[1]), 0) << "the TLS connection never moved between workers";
    EXPECT_EQ(log.find("lost"), std::string::npos) << log;
}

TEST_F(BackendTlsTest, BadCertificateFilesStopPgtenantAtStart) {
    TempDir dir("pgtenant-backend-tls-config");
    auto check = [&](const std::string& backend_lines) {
        write_file(dir.path() / "users.toml", "");
        write_file(dir.path() / "pgtenant.toml", "[backend]\n" + backend_lines + "\n");
        CommandOptions opts;
        opts.timeout = 20s;
        return run_command({PGTENANT_BINARY, "--check-config", "--config",
                            (dir.path() / "pgtenant.toml").string()},
                           opts);
    };
    auto missing = check("sslmode = \"verify-ca\"\nsslrootcert = \"nowhere.crt\"");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("backend.sslrootcert: cannot load " +
                               (dir.path() / "nowhere.crt").string()),
              std::string::npos)
        << missing.describe();

    // A client key others can read is refused, as libpq refuses it.
    fs::copy_file(cert("client.key"), dir.path() / "open.key");
    fs::permissions(dir.path() / "open.key", fs::perms::owner_read | fs::perms::owner_write |
                                                 fs::perms::group_read | fs::perms::others_read);
    auto open_key = check("sslmode = \"require\"\nsslcert = \"" + cert("client.crt") +
                          "\"\nsslkey = \"open.key\"");
    EXPECT_NE(open_key.exit_code, 0);
    EXPECT_NE(open_key.err.find("backend.sslkey:"), std::string::npos) << open_key.describe();
    EXPECT_NE(open_key.err.find("group or world access"), std::string::npos) << open_key.describe();

    // A key that is not the certificate's.
    fs::copy_file(cert("server.key"), dir.path() / "other.key");
    fs::permissions(dir.path() / "other.key", fs::perms::owner_read | fs::perms::owner_write);
    auto mismatch = check("sslmode = \"require\"\nsslcert = \"" + cert("client.crt") +
                          "\"\nsslkey = \"other.key\"");
    EXPECT_NE(mismatch.err.find("does not match backend.sslcert"), std::string::npos)
        << mismatch.describe();

    auto good =
        check("sslmode = \"verify-full\"\nsslrootcert = \"" + cert("ca.crt") + "\"\nsslcert = \"" +
              cert("client.crt") + "\"\nsslkey = \"" + cert("client.key") + "\"");
    EXPECT_EQ(good.exit_code, 0) << good.describe();
}

}  // namespace
}  // namespace pgtenant::testing
