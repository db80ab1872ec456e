// config/sealed_install.sql and config/sealed_demo.sql against a real PostgreSQL, talking to it
// directly as the pool role (no proxy in between): pgtenant.practice_id() returns the practice
// only for a genuine, current token of this backend, and the pool role cannot reach the keys.
// Every case runs twice: with the C verifier (auth/server_verifier) and with the PL/pgSQL one.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "auth/context_token.h"
#include "auth/crypto.h"
#include "tests/support/demo_fixture.h"
#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

const auto* const env = register_integration_env();

const std::string kHex1 = "8f3a0c1b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
const std::string kHex2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kNull = "<NULL>";

std::filesystem::path config_file(const char* name) {
    return std::filesystem::path(PGTENANT_SOURCE_DIR) / "config" / name;
}

auth::ContextKey key_of(const std::string& kid, const std::string& hex) {
    return auth::KeyRing::parse(kid + " " + hex).active();
}

std::string to_hex(const std::string& raw) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 0xf];
    }
    return out;
}

// A correctly signed string of any shape, to show the verifier checks the grammar too.
std::string sign(const auth::ContextKey& key, const std::string& text) {
    return text + "." + to_hex(auth::crypto::hmac_sha256(key.key, text));
}

// The parameter is sealed_install.sql's verifier: "c" or "plpgsql".
class SealedSql : public ProxyTest, public ::testing::WithParamInterface<const char*> {
  protected:
    void SetUp() override {
        static std::string installed;  // the suites of one verifier run one after the other
        if (installed != GetParam()) {
            install();
            auto su = env().superuser();
            if (installed.empty()) {
                query(su.get(), auth::add_key_sql(key_of("k1", kHex1)));
                query(su.get(), auth::add_key_sql(key_of("old", kHex2)));
                query(su.get(), "SELECT pgtenant.retire_key('old')");
            }
            installed = GetParam();
        }
        conn_ = pool_conn();
        pid_ = backend_pid(conn_.get());
        now_ =
            std::stoll(query(conn_.get(), "SELECT floor(extract(epoch FROM now()))::int8")[0][0]);
    }

    CommandResult install() {
        return env().cluster().psql_file(
            config_file("sealed_install.sql"),
            {{"pool_role", "pgtenant_pool"}, {"verifier", GetParam()}});
    }

    std::string installed_language() {
        auto su = env().superuser();
        return query(su.get(),
                     "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                     "WHERE p.oid = 'pgtenant.practice_id()'::regprocedure")[0][0];
    }

    PgConn pool_conn() {
        return connect(
            "host=127.0.0.1 port=" + std::to_string(env().cluster().port()) +
            " dbname=postgres user=pgtenant_pool password=" + env().cluster().pool_password());
    }

    static int32_t backend_pid(PGconn* c) {
        return std::stoi(query(c, "SELECT pg_backend_pid()")[0][0]);
    }

    std::string token(const std::string& practice = demo::kPracticeA, int64_t ttl = 300) {
        return auth::make_context_token(key_of("k1", kHex1), practice, pid_, now_ + ttl);
    }

    // pgtenant.practice_id() in a transaction whose pgtenant.context is `value`.
    std::string practice_with(const std::string& value) {
        query(conn_.get(), "BEGIN");
        query_params(conn_.get(), "SELECT set_config('pgtenant.context', $1, true)", {value});
        auto r = run(conn_.get(), "SELECT pgtenant.practice_id()");
        query(conn_.get(), "ROLLBACK");
        EXPECT_TRUE(r.ok()) << r.sqlstate << " " << r.error;  // never raises
        return r.ok() ? r.rows.at(0).at(0) : "error: " + r.error;
    }

    PgConn conn_;
    int32_t pid_ = 0;
    int64_t now_ = 0;
};

TEST_P(SealedSql, ValidTokenGivesThePractice) {
    EXPECT_EQ(practice_with(token()), demo::kPracticeA);
    EXPECT_EQ(practice_with(token(demo::kPracticeB)), demo::kPracticeB);
}

TEST_P(SealedSql, NoTokenGivesNull) {
    EXPECT_EQ(query(conn_.get(), "SELECT pgtenant.practice_id()")[0][0], kNull);
}

TEST_P(SealedSql, TokenIsTransactionLocal) {
    query(conn_.get(), "BEGIN");
    query_params(conn_.get(), "SELECT set_config('pgtenant.context', $1, true)", {token()});
    query(conn_.get(), "COMMIT");
    EXPECT_EQ(query(conn_.get(), "SELECT pgtenant.practice_id()")[0][0], kNull);
}

TEST_P(SealedSql, ForgedMacGivesNull) {
    std::string t = token();
    t.back() = t.back() == '0' ? '1' : '0';
    EXPECT_EQ(practice_with(t), kNull);
    std::string swapped = token();  // A's MAC on B's claims
    swapped.replace(swapped.find(demo::kPracticeA), demo::kPracticeA.size(), demo::kPracticeB);
    EXPECT_EQ(practice_with(swapped), kNull);
}

TEST_P(SealedSql, OtherKeyUnderSameKidGivesNull) {
    auto forged = key_of("k1", kHex2);
    EXPECT_EQ(practice_with(auth::make_context_token(forged, demo::kPracticeA, pid_, now_ + 60)),
              kNull);
}

TEST_P(SealedSql, ExpiredTokenGivesNull) {
    EXPECT_EQ(practice_with(token(demo::kPracticeA, 0)), kNull);
    EXPECT_EQ(practice_with(token(demo::kPracticeA, -1)), kNull);
    EXPECT_EQ(practice_with(token(demo::kPracticeA, -86400)), kNull);
}

TEST_P(SealedSql, OtherBackendsTokenGivesNull) {
    auto other = pool_conn();
    int32_t other_pid = backend_pid(other.get());
    ASSERT_NE(other_pid, pid_);
    auto stolen =
        auth::make_context_token(key_of("k1", kHex1), demo::kPracticeA, other_pid, now_ + 300);
    EXPECT_EQ(practice_with(stolen), kNull);
}

TEST_P(SealedSql, UnknownAndRetiredKidsGiveNull) {
    EXPECT_EQ(practice_with(auth::make_context_token(key_of("ghost", kHex1), demo::kPracticeA, pid_,
                                                     now_ + 60)),
              kNull);
    EXPECT_EQ(practice_with(auth::make_context_token(key_of("old", kHex2), demo::kPracticeA, pid_,
                                                     now_ + 60)),
              kNull);
}

TEST_P(SealedSql, RetiringAKeyStopsItsTokensAtOnce) {
    auto su = env().superuser();
    // A kid of its own per verifier: a retired kid stays dead.
    auto rot = auth::KeyRing::parse(auth::new_key_line(std::string("rot-") + GetParam())).active();
    query(su.get(), auth::add_key_sql(rot));
    query(su.get(), auth::add_key_sql(rot));  // idempotent
    auto t = auth::make_context_token(rot, demo::kPracticeB, pid_, now_ + 300);
    EXPECT_EQ(practice_with(t), demo::kPracticeB);
    query(su.get(), "SELECT pgtenant.retire_key('" + rot.kid + "')");
    EXPECT_EQ(practice_with(t), kNull);
    EXPECT_EQ(sqlstate_of(su.get(), auth::add_key_sql(rot)), "P0001");  // retired ids stay dead
}

// The C verifier remembers the last token that verified and its key's bytes: a key replaced
// under the same kid (deleted by hand, added again) must not let that token verify.
TEST_P(SealedSql, KeyReplacedUnderSameKidStopsItsTokens) {
    auto su = env().superuser();
    const std::string kid = std::string("swap-") + GetParam();
    query(su.get(), auth::add_key_sql(key_of(kid, kHex1)));
    auto t = auth::make_context_token(key_of(kid, kHex1), demo::kPracticeB, pid_, now_ + 300);
    EXPECT_EQ(practice_with(t), demo::kPracticeB);
    EXPECT_EQ(practice_with(t), demo::kPracticeB);  // again: the remembered one
    query(su.get(), "DELETE FROM pgtenant.context_keys WHERE kid = '" + kid + "'");
    query(su.get(), auth::add_key_sql(key_of(kid, kHex2)));
    EXPECT_EQ(practice_with(t), kNull);
    EXPECT_EQ(practice_with(
                  auth::make_context_token(key_of(kid, kHex2), demo::kPracticeB, pid_, now_ + 300)),
              demo::kPracticeB);
    EXPECT_EQ(practice_with(t), kNull);
}

TEST_P(SealedSql, MalformedStringsGiveNull) {
    auto k1 = key_of("k1", kHex1);
    const std::string pid = std::to_string(pid_);
    const std::string exp = std::to_string(now_ + 300);
    const std::string a = demo::kPracticeA;
    std::string upper_uuid = "ABCDEF00-1111-1111-1111-111111111111";
    // The genuine token first: the strings that extend or prefix it must not match the one
    // the C verifier now remembers.
    ASSERT_EQ(practice_with(token()), a);
    for (const std::string& bad : {
             std::string(),
             std::string("."),
             std::string("....."),
             std::string("v1"),
             token() + ".x",
             token() + "\n",
             " " + token(),
             token() + std::string(200, 'a'),
             std::string(1 << 20, 'v'),
             sign(k1, "v1.k1.not-a-uuid." + pid + "." + exp),
             sign(k1, "v1.k1." + upper_uuid + "." + pid + "." + exp),
             sign(k1, "v1.k1.{" + a + "}." + pid + "." + exp),
             sign(k1, "v2.k1." + a + "." + pid + "." + exp),
             sign(k1, "v1.k1." + a + ".0" + pid + "." + exp),
             sign(k1, "v1.k1." + a + ".99999999999." + exp),
             sign(k1, "v1.k1." + a + "." + pid + ".99999999999999999999"),
             sign(k1, "v1.k1." + a + "." + pid + ".-1"),
             sign(k1, "v1.k1." + a + ".x." + pid + "." + exp),
             sign(k1, "v1.K1." + a + "." + pid + "." + exp),
             "v1.k1." + a + "." + pid + "." + exp + "." + std::string(64, 'z'),
             "v1.k1." + a + "." + pid + "." + exp + "." + std::string(63, '0'),
             "v1.k1'; DROP TABLE patients; --." + a + "." + pid + "." + exp + "." +
                 std::string(64, '0'),
         }) {
        EXPECT_EQ(practice_with(bad), kNull) << bad.substr(0, 150);
    }
}

// The verifier splits the token and checks each field itself (no regular expression): every
// field's edge, each correctly signed so that only the grammar can refuse it.
TEST_P(SealedSql, MalformedFieldsGiveNull) {
    auto k1 = key_of("k1", kHex1);
    const std::string pid = std::to_string(pid_);
    const std::string exp = std::to_string(now_ + 300);
    const std::string a = demo::kPracticeA;
    auto claims = [&](const std::string& kid, const std::string& uuid, const std::string& p,
                      const std::string& e) {
        return "v1." + kid + "." + uuid + "." + p + "." + e;
    };
    auto with_uuid = [&](const std::string& uuid) {
        return sign(k1, claims("k1", uuid, pid, exp));
    };
    auto with_pid = [&](const std::string& p) { return sign(k1, claims("k1", a, p, exp)); };
    auto with_expiry = [&](const std::string& e) { return sign(k1, claims("k1", a, pid, e)); };
    const std::string hyphen_u2010 = "\xe2\x80\x90";
    const std::string good = token();
    const std::string good_claims = good.substr(0, good.size() - 65);
    const std::string good_mac = good.substr(good.size() - 64);
    std::string upper_mac = good_mac;
    for (char& c : upper_mac) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ASSERT_NE(upper_mac, good_mac);
    for (const std::string& bad : {
             // segment count
             sign(k1, "v1.k1." + a + "." + pid),
             sign(k1, claims("k1", a, pid, exp) + ".extra"),
             sign(k1, claims("k1", a, pid, exp) + "."),
             good_claims + "." + good_mac + ".",
             good_claims + good_mac,
             std::string("v1.k1....."),
             // empty segments
             sign(k1, claims("", a, pid, exp)),
             with_uuid(""),
             with_pid(""),
             with_expiry(""),
             good_claims + ".",
             sign(k1, "." + claims("k1", a, pid, exp).substr(3)),
             // kid: over-long, or outside [a-z0-9_-] (no key can have such an id)
             sign(k1, claims(std::string(33, 'k'), a, pid, exp)),
             sign(k1, claims("k\xc4\xb1", a, pid, exp)),  // dotless i, lower-cases to 'i'
             // practice: not the canonical lower-case 8-4-4-4-12
             with_uuid(a + "0"),
             with_uuid(a.substr(1)),
             with_uuid("11111111111111111111111111111111"),
             with_uuid("1111111-11111-1111-1111-111111111111"),
             with_uuid("11111111-1111-1111-1111-11111111111-"),
             with_uuid("11111111--111-1111-1111-111111111111"),
             with_uuid("11111111-1111-1111-1111-11111111111g"),
             with_uuid("11111111-1111-1111-1111-11111111111 "),
             with_uuid("11111111-1111-1111-1111-11111111111\xef\xbc\x91"),  // fullwidth 1
             with_uuid("11111111" + hyphen_u2010 + "1111-1111-1111-111111111111"),
             with_uuid("11111111-1111-1111-1111-11111111111\xcc\x81"),  // combining mark
             // pid: anything but this backend's pid as PostgreSQL prints it
             with_pid("+" + pid),
             with_pid(" " + pid),
             with_pid(pid + " "),
             with_pid(pid + "0"),
             with_pid(pid + "." + pid),
             with_pid("\xef\xbc\x91" + pid.substr(1)),
             with_pid(std::string(11, '9')),
             // expires: 1..18 ASCII digits, no sign, no leading zero, in the future
             with_expiry("1" + std::string(18, '0')),
             with_expiry(std::string(40, '9')),
             with_expiry("+" + exp),
             with_expiry(" " + exp),
             with_expiry(exp + " "),
             with_expiry("0" + exp),
             with_expiry(exp + ".5"),
             with_expiry("1e18"),
             with_expiry("-" + exp),
             with_expiry("\xef\xbc\x99" + exp),  // fullwidth 9
             with_expiry("\xd9\xa9" + exp),      // Arabic-Indic 9
             // mac: the genuine one, spelled differently, or not hex at all
             good_claims + "." + upper_mac,
             good_claims + ". " + good_mac.substr(1),
             good_claims + "." + good_mac.substr(0, 63) + "g",
             good_claims + "." + good_mac.substr(0, 63) + "\xc3\xa9",  // 64 characters
             good_claims + "." + good_mac + "0",
             good_claims + "." + good_mac.substr(1),
             good_claims + ".\\x" + good_mac,
             good_claims + "." + std::string(64, '.'),
         }) {
        EXPECT_EQ(practice_with(bad), kNull) << bad.substr(0, 150);
    }
    // The widest fields the grammar allows still verify.
    EXPECT_EQ(practice_with(with_expiry(std::string(18, '9'))), a);
    EXPECT_EQ(practice_with(good), a);
}

// Any one character of a genuine token replaced or removed: NULL, and never an error.
TEST_P(SealedSql, EveryOneCharacterChangeGivesNull) {
    const std::string good = token();
    // Removed, e with acute accent, fullwidth 1, and ASCII look-alikes and separators.
    std::vector<std::string> replacements = {"", "\xc3\xa9", "\xef\xbc\x91"};
    for (char ch : std::string("09afzA-. ")) replacements.emplace_back(1, ch);
    PGconn* c = conn_.get();
    query(c, "BEGIN");
    const std::string verify =
        "SELECT pgtenant.practice_id() FROM (SELECT set_config('pgtenant.context', $1, true)) s";
    // The genuine token first: the C verifier remembers it, and no change may match that.
    ASSERT_EQ(run_params(c, verify, {good}).rows.at(0).at(0), demo::kPracticeA);
    int tried = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
        for (const auto& r : replacements) {
            if (r == good.substr(i, 1)) continue;
            std::string bad = good.substr(0, i) + r + good.substr(i + 1);
            // The FROM item runs first: the token is in place when the verifier reads it.
            auto res = run_params(c, verify, {bad});
            ASSERT_TRUE(res.ok()) << res.sqlstate << " " << res.error << " for " << bad;
            EXPECT_EQ(res.rows.at(0).at(0), kNull) << bad;
            ++tried;
        }
    }
    auto res = run_params(c, verify, {good});
    query(c, "ROLLBACK");
    EXPECT_EQ(res.rows.at(0).at(0), demo::kPracticeA);  // the same query does verify
    EXPECT_GT(tried, 1000);
}

// Version 1 matched the token with one regular expression with capture groups, ~3 ms a call:
// sealed mode ran at 0.12x compat mode's throughput, and 2,000 calls took over 6 s. The
// PL/pgSQL verifier now takes 25-65 ms for them on the loaded, shared 2-core test machine, the C
// one 12-13 ms (within one transaction; across transactions PL/pgSQL also sets up its
// expressions again each time, which is where the C one gains most); the bounds leave room for
// noise.
TEST_P(SealedSql, VerifierIsFast) {
    PGconn* c = conn_.get();
    query(c, "BEGIN");
    query_params(c, "SELECT set_config('pgtenant.context', $1, true)", {token()});
    ASSERT_EQ(query(c, "SELECT pgtenant.practice_id()")[0][0], demo::kPracticeA);  // compiled
    auto start = std::chrono::steady_clock::now();
    auto verified = query(c, "SELECT count(*) FILTER (WHERE id = '" + demo::kPracticeA +
                                 "') FROM (SELECT pgtenant.practice_id() AS id "
                                 "FROM generate_series(1, 2000)) calls")[0][0];
    auto elapsed = std::chrono::steady_clock::now() - start;
    query(c, "ROLLBACK");
    EXPECT_EQ(verified, "2000");
    EXPECT_LT(elapsed, std::chrono::milliseconds(GetParam() == std::string("c") ? 200 : 600))
        << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
        << " ms for 2,000 verifications";
}

class SealedPolicy : public SealedSql {
  protected:
    static constexpr int kRows = 2000;  // half practice A, half B

    void SetUp() override {
        SealedSql::SetUp();
        static bool created = false;
        if (created) return;
        auto su = env().superuser();
        query(su.get(),
              "SET client_min_messages = warning;"
              "CREATE TABLE public.sealed_rows (id int PRIMARY KEY, practice_id uuid NOT NULL);"
              "INSERT INTO public.sealed_rows SELECT g, CASE WHEN g % 2 = 0 THEN '" +
                  demo::kPracticeA + "'::uuid ELSE '" + demo::kPracticeB +
                  "'::uuid END FROM generate_series(1, " + std::to_string(kRows) +
                  ") g;"
                  "ANALYZE public.sealed_rows;"
                  "GRANT SELECT ON public.sealed_rows TO pgtenant_pool;"
                  "SELECT pgtenant.enable_sealed_policy('public.sealed_rows')");
        created = true;
    }

    // Runs `sql` as the pool role on a superuser connection that counts function calls
    // (track_functions is superuser-only), and returns its first value and how many times
    // pgtenant.practice_id() ran for it.
    std::pair<std::string, int> counting_calls(const std::string& sql) {
        auto su = env().superuser();
        PGconn* c = su.get();
        query(c, "SET track_functions = 'all'");              // 'pl' does not count C functions
        query(c, "SET max_parallel_workers_per_gather = 0");  // workers count their own calls
        query(c, "SET ROLE pgtenant_pool");
        auto t = auth::make_context_token(key_of("k1", kHex1), demo::kPracticeA, backend_pid(c),
                                          now_ + 300);
        const std::string calls =
            "SELECT pg_stat_get_xact_function_calls('pgtenant.practice_id()'::regprocedure)";
        query(c, "BEGIN");
        query_params(c, "SELECT set_config('pgtenant.context', $1, true)", {t});
        auto before = query(c, calls)[0][0];
        auto value = query(c, sql)[0][0];
        auto after = query(c, calls)[0][0];
        query(c, "ROLLBACK");
        auto count = [](const std::string& v) { return v == kNull ? 0 : std::stoi(v); };
        return {value, count(after) - count(before)};
    }

    std::string plan(const std::string& sql, const std::vector<std::string>& settings = {}) {
        PGconn* c = conn_.get();
        query(c, "BEGIN");
        for (const auto& setting : settings) query(c, "SET LOCAL " + setting);
        std::string text;
        for (const auto& row : query(c, "EXPLAIN (COSTS OFF) " + sql)) text += row[0] + "\n";
        query(c, "ROLLBACK");
        return text;
    }
};

// The policy's sub-SELECT is an InitPlan: the verifier runs once per query, not once per row.
TEST_P(SealedPolicy, VerifiesOncePerQuery) {
    const std::string half = std::to_string(kRows / 2);
    auto seq = plan("SELECT count(*) FROM sealed_rows",
                    {"enable_indexscan = off", "enable_bitmapscan = off"});
    EXPECT_NE(seq.find("Seq Scan on sealed_rows"), std::string::npos) << seq;
    EXPECT_NE(seq.find("InitPlan"), std::string::npos) << seq;
    EXPECT_EQ(seq.find("practice_id()"), std::string::npos) << seq;  // not called in the Filter
    auto idx = plan("SELECT practice_id FROM sealed_rows WHERE id = 2");
    EXPECT_NE(idx.find("Index Scan"), std::string::npos) << idx;
    EXPECT_NE(idx.find("InitPlan"), std::string::npos) << idx;

    EXPECT_EQ(counting_calls("SELECT count(*) FROM sealed_rows"), std::make_pair(half, 1));
    EXPECT_EQ(counting_calls("SELECT practice_id FROM sealed_rows WHERE id = 2"),
              std::make_pair(demo::kPracticeA, 1));
    EXPECT_EQ(counting_calls("SELECT count(*) FROM sealed_rows WHERE id = 1"),
              std::make_pair(std::string("0"), 1));  // B's row: filtered out
    // The counter does count per-row calls: one for the policy plus one per visible row.
    EXPECT_EQ(counting_calls("SELECT count(pgtenant.practice_id()) FROM sealed_rows"),
              std::make_pair(half, kRows / 2 + 1));
}

// Re-running the install script (the upgrade path) keeps helper-made policies working and
// points out hand-written ones that would verify on every row.
TEST_P(SealedPolicy, InstallReportsPerRowPolicies) {
    auto su = env().superuser();
    query(su.get(),
          "CREATE TABLE public.per_row (practice_id uuid NOT NULL);"
          "ALTER TABLE public.per_row ENABLE ROW LEVEL SECURITY;"
          "CREATE POLICY hand_written ON public.per_row "
          "USING (practice_id = pgtenant.practice_id())");
    auto out = install();
    query(su.get(), "DROP TABLE public.per_row");
    EXPECT_NE(out.err.find("policy hand_written on public.per_row calls "
                           "pgtenant.practice_id() once per row"),
              std::string::npos)
        << out.err;
    EXPECT_EQ(out.err.find("sealed_rows"), std::string::npos) << out.err;
    EXPECT_EQ(counting_calls("SELECT count(*) FROM sealed_rows"),
              std::make_pair(std::to_string(kRows / 2), 1));
}

TEST_P(SealedSql, PoolRoleCannotReachKeysOrHelpers) {
    PGconn* c = conn_.get();
    EXPECT_EQ(sqlstate_of(c, "SELECT * FROM pgtenant.context_keys"), "42501");
    EXPECT_EQ(sqlstate_of(c, "UPDATE pgtenant.context_keys SET retired_at = NULL"), "42501");
    EXPECT_EQ(sqlstate_of(c,
                          "INSERT INTO pgtenant.context_keys (kid, key) "
                          "VALUES ('mine', '\\x" +
                              kHex2 + "'::bytea)"),
              "42501");
    EXPECT_EQ(sqlstate_of(c, auth::add_key_sql(key_of("mine", kHex2))), "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT pgtenant.retire_key('k1')"), "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT pgtenant.enable_sealed_policy('patients')"), "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT pgtenant.hmac_sha256('\\x00', '\\x00')"), "42501");
    EXPECT_EQ(sqlstate_of(c, "SELECT pgtenant.hmac('a'::bytea, 'b'::bytea, 'sha256')"), "42501");
    EXPECT_EQ(sqlstate_of(c,
                          "CREATE FUNCTION pgtenant.evil() RETURNS int LANGUAGE sql "
                          "AS 'SELECT 1'"),
              "42501");
    EXPECT_EQ(sqlstate_of(c,
                          "CREATE OR REPLACE FUNCTION pgtenant.practice_id() RETURNS uuid "
                          "LANGUAGE sql AS 'SELECT NULL::uuid'"),
              "42501");
    // Still works for the pool role afterwards.
    EXPECT_EQ(practice_with(token()), demo::kPracticeA);
}

TEST_P(SealedSql, InstallingAgainKeepsKeysAndVersion) {
    auto out = install();
    EXPECT_NE(out.out.find(std::string("is the ") +
                           (GetParam() == std::string("c") ? "C" : "PL/pgSQL") + " verifier"),
              std::string::npos)
        << out.out;
    EXPECT_EQ(installed_language(), GetParam());
    auto su = env().superuser();
    EXPECT_EQ(query(su.get(), "SELECT pgtenant.version()")[0][0], "3");
    EXPECT_EQ(query(su.get(), "SELECT count(*) FROM pgtenant.context_keys WHERE kid = 'k1'")[0][0],
              "1");
    EXPECT_EQ(practice_with(token()), demo::kPracticeA);
    EXPECT_EQ(sqlstate_of(conn_.get(), "SELECT * FROM pgtenant.context_keys"), "42501");
}

// Last: converts the shared cluster's demo tables to sealed policies.
TEST_P(SealedSql, SealedDemoIsolatesByTokenOnly) {
    env().cluster().psql_file(config_file("sealed_demo.sql"));
    env().cluster().psql_file(config_file("sealed_demo.sql"));  // re-runnable
    auto su = env().superuser();
    EXPECT_EQ(query(su.get(),
                    "SELECT string_agg(DISTINCT policyname, ',') FROM pg_policies "
                    "WHERE tablename IN ('practices', 'patients', 'meal_logs')")[0][0],
              "pgtenant_sealed");

    PGconn* c = conn_.get();
    query(c, "BEGIN");
    query_params(c, "SELECT set_config('pgtenant.context', $1, true)", {token()});
    auto patients = query(c, "SELECT practice_id FROM patients");
    EXPECT_EQ(static_cast<int>(patients.size()), demo::kPatientsA);
    for (const auto& row : patients) EXPECT_EQ(row[0], demo::kPracticeA);
    EXPECT_EQ(query(c, "SELECT count(*) FROM meal_logs")[0][0], std::to_string(demo::kMealLogsA));
    EXPECT_EQ(query(c, "SELECT id FROM practices")[0][0], demo::kPracticeA);
    // The attack compat mode loses to: switching the plain setting inside the query.
    EXPECT_EQ(query(c,
                    "SELECT count(*) FROM patients WHERE set_config("
                    "'app.current_practice_id', '" +
                        demo::kPracticeB +
                        "', true) IS NOT NULL "
                        "AND practice_id = '" +
                        demo::kPracticeB + "'")[0][0],
              "0");
    // Writing a row into practice B fails the WITH CHECK.
    EXPECT_EQ(sqlstate_of(c, "INSERT INTO patients (practice_id, name) VALUES ('" +
                                 demo::kPracticeB + "', 'Mallory')"),
              "42501");
    query(c, "ROLLBACK");

    // The plain setting alone, even session-wide, opens nothing.
    query(c, "SELECT set_config('app.current_practice_id', '" + demo::kPracticeA + "', false)");
    EXPECT_EQ(query(c, "SELECT count(*) FROM patients")[0][0], "0");
    EXPECT_EQ(query(c, "SELECT count(*) FROM meal_logs")[0][0], "0");
    EXPECT_EQ(query(c, "SELECT count(*) FROM practices")[0][0], "0");
    EXPECT_EQ(query(c, "UPDATE patients SET name = 'x' RETURNING id").size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(C, SealedSql, ::testing::Values("c"));
INSTANTIATE_TEST_SUITE_P(PlPgSql, SealedSql, ::testing::Values("plpgsql"));
INSTANTIATE_TEST_SUITE_P(C, SealedPolicy, ::testing::Values("c"));
INSTANTIATE_TEST_SUITE_P(PlPgSql, SealedPolicy, ::testing::Values("plpgsql"));

}  // namespace
}  // namespace pgtenant::testing
