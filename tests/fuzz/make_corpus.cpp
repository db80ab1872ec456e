// Writes the seed corpora of the fuzz targets: real messages made by the project's own
// builders and SCRAM machines, SQL a client sends, config and users files.
//
//   fuzz_make_corpus <source dir>      (writes <source dir>/tests/fuzz/corpus/<target>/...)
//
// The output is committed; run it again after changing a seed and commit the difference.
// Deterministic: fixed nonces and salts, no clock.
#include <pg_query.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/scram.h"
#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/messages.h"
#include "protocol/wire.h"

namespace pgtenant::fuzz {
namespace {

namespace fs = std::filesystem;
namespace build = protocol::build;
using Seeds = std::vector<std::pair<std::string, std::string>>;  // file name, content

std::string nul(std::string_view a, std::string_view b) {
    return std::string(a) + std::string(1, '\0') + std::string(b);
}

std::string frame(char tag, std::string_view body) {
    std::string out;
    protocol::MessageWriter(out).begin(tag).bytes(body).end();
    return out;
}

std::string startup(std::vector<std::pair<std::string, std::string>> params) {
    std::string out;
    build::startup(out, params);
    return out;
}

std::string untagged(int32_t code, std::string_view rest = {}) {
    std::string out;
    protocol::MessageWriter(out).begin_untagged().int32(code).bytes(rest).end();
    return out;
}

// The codec's seeds: one of each message pgtenant builds or decodes, both directions.
Seeds codec() {
    Seeds s;
    auto add = [&](std::string name, auto&& fill) {
        std::string out;
        fill(out);
        s.emplace_back(std::move(name), std::move(out));
    };
    add("startup", [](auto& o) {
        build::startup(o, {{"user", "alice"}, {"database", "practice_7"}});
    });
    add("cancel", [](auto& o) { build::cancel_request(o, 42, 4242); });
    add("ssl_request", [](auto& o) { o = untagged(protocol::kSslRequestCode); });
    add("query", [](auto& o) { build::query(o, "SELECT 1"); });
    add("parse", [](auto& o) { build::parse(o, "s1", "SELECT $1", {23}); });
    add("bind", [](auto& o) { build::bind(o, "s1", {"42", std::nullopt}); });
    add("execute", [](auto& o) { build::execute(o, "", 10); });
    add("sync", [](auto& o) { build::sync(o); });
    add("sasl_initial", [](auto& o) { build::sasl_initial(o, "SCRAM-SHA-256", "n,,n=,r=nonce"); });
    add("auth_sasl", [](auto& o) { build::auth_sasl(o, "SCRAM-SHA-256"); });
    add("auth_md5", [](auto& o) { build::auth_md5(o, "salt"); });
    add("parameter_status", [](auto& o) { build::parameter_status(o, "client_encoding", "UTF8"); });
    add("backend_key_data", [](auto& o) { build::backend_key_data(o, 1, 2); });
    add("ready_for_query", [](auto& o) { build::ready_for_query(o, 'I'); });
    add("command_complete", [](auto& o) { build::command_complete(o, "SELECT 1"); });
    add("error",
        [](auto& o) { protocol::encode_error(o, protocol::errors::auth_failed("alice")); });
    add("notice", [](auto& o) {
        protocol::encode_error(
            o, protocol::errors::refused_by_policy(protocol::errors::Rule{"x"}, "y", "z"), true);
    });
    add("auth_ok", [](auto& o) { build::auth_ok(o); });
    add("password", [](auto& o) { build::password(o, "secret"); });
    add("parse_bind_complete",
        [](auto& o) { o = "1" + std::string("\0\0\0\4", 4) + "2" + std::string("\0\0\0\4", 4); });
    add("sasl_response", [](auto& o) { build::sasl_response(o, "c=biws,r=nonce,p=proof"); });
    add("terminate", [](auto& o) { build::terminate(o); });
    add("startup_empty", [](auto& o) { build::startup(o, {}); });
    add("reply_stream", [](auto& o) {
        for (char tag : std::string_view("12TDDCZ")) o += tag + std::string("\0\0\0\4", 4);
    });
    add("row_description", [](auto& o) {
        protocol::MessageWriter w(o);
        w.begin('T').int16(2);
        w.cstring("id").int32(16384).int16(1).int32(23).int16(4).int32(-1).int16(0);
        w.cstring("name").int32(16384).int16(2).int32(25).int16(-1).int32(-1).int16(0);
        w.end();
    });
    add("no_data", [](auto& o) { o = frame('n', ""); });
    return s;
}

Seeds startup_packets() {
    Seeds s;
    s.emplace_back("psql", startup({{"user", "alice"},
                                    {"database", "clinic"},
                                    {"application_name", "psql"},
                                    {"client_encoding", "UTF8"}}));
    s.emplace_back("jdbc", startup({{"user", "bob"},
                                    {"database", "clinic"},
                                    {"client_encoding", "UTF8"},
                                    {"DateStyle", "ISO"},
                                    {"TimeZone", "Europe/Berlin"},
                                    {"extra_float_digits", "2"}}));
    s.emplace_back("options", startup({{"user", "alice"},
                                       {"options",
                                        "-c search_path=app -csearch_path=x "
                                        "--work-mem=64MB -c statement_timeout=5s"}}));
    s.emplace_back("options_escaped",
                   startup({{"user", "alice"}, {"options", "-c application_name=a\\ b\\\\c"}}));
    s.emplace_back("reserved_param",
                   startup({{"user", "alice"}, {"app.current_practice_id", "2222"}}));
    s.emplace_back("reserved_option",
                   startup({{"user", "alice"}, {"options", "-c pgtenant.context=v1.x"}}));
    s.emplace_back("reserved_role", startup({{"user", "alice"}, {"ROLE", "postgres"}}));
    s.emplace_back("replication", startup({{"user", "alice"}, {"replication", "database"}}));
    s.emplace_back("replication_off", startup({{"user", "alice"}, {"replication", "off"}}));
    s.emplace_back("pq_option", startup({{"user", "alice"}, {"_pq_.compression", "on"}}));
    s.emplace_back("no_user", startup({{"database", "clinic"}}));
    s.emplace_back("bad_option", startup({{"user", "alice"}, {"options", "-B 100"}}));
    s.emplace_back("ssl_then_startup",
                   untagged(protocol::kSslRequestCode) + startup({{"user", "alice"}}));
    s.emplace_back("gssenc", untagged(protocol::kGssEncRequestCode));
    s.emplace_back("cancel", untagged(protocol::kCancelRequestCode,
                                      std::string("\0\0\x30\x39\x12\x34\x56\x78", 8)));
    std::string v32 = startup({{"user", "alice"}});
    v32[7] = 2;  // protocol 3.2
    s.emplace_back("protocol_3_2", v32);
    s.emplace_back("protocol_2", untagged(0x00020000, std::string("user\0alice\0\0", 12)));
    s.emplace_back("unterminated", untagged(protocol::kProtocolV3, std::string("user\0alice", 10)));
    return s;
}

Seeds frontend() {
    Seeds s;
    auto both = [&](std::string name, std::string frames) {
        s.emplace_back(name, "\x01" + frames);
        s.emplace_back(name + "_small_cap", "\x00" + frames);
    };
    std::string q;
    build::query(q, "SELECT * FROM patients WHERE id = 1");
    both("query", q);
    q.clear();
    build::query(q, "BEGIN; UPDATE meal_logs SET kcal = 10 WHERE id = 3; COMMIT");
    both("query_multi", q);

    std::string ext;
    build::parse(ext, "s1", "SELECT * FROM patients WHERE id = $1", {23});
    build::describe(ext, 'S', "s1");
    build::bind(ext, "s1", {"42"});
    build::describe(ext, 'P', "");
    build::execute(ext, "", 0);
    build::close(ext, 'S', "s1");
    build::bind(ext, "s1", {"43"});
    build::sync(ext);
    both("extended_named", ext);

    ext.clear();
    build::parse(ext, "", "INSERT INTO meal_logs(kcal) VALUES ($1)");
    build::bind(ext, "", {std::nullopt});
    build::execute(ext, "", 0);
    build::sync(ext);
    both("extended_unnamed", ext);

    ext.clear();
    build::parse(ext, "a", "SELECT 1");
    build::parse(ext, "a", "SELECT 2", {25, 23});
    build::bind(ext, "a", {});
    build::flush(ext);
    both("parse_twice", ext);

    // Bind with formats and a binary parameter, written out.
    std::string bind;
    protocol::MessageWriter w(bind);
    w.begin('B').cstring("p1").cstring("s1").int16(1).int16(1).int16(2);
    w.int32(4).bytes(std::string("\0\0\0\x2a", 4)).int32(-1).int16(1).int16(1).end();
    both("bind_binary", bind);

    std::string auth;
    build::sasl_initial(auth, "SCRAM-SHA-256", "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    build::sasl_response(auth, "c=biws,r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,p=AAAA");
    both("sasl", auth);
    auth.clear();
    build::password(auth, "md5a3556571e93b0d20722ba62be61e8c2d");
    both("md5_password", auth);
    auth.clear();
    protocol::MessageWriter(auth).begin('p').cstring("SCRAM-SHA-256").int32(-1).end();
    both("sasl_no_data", auth);

    std::string misc = frame('F', std::string(10, '\0')) + frame('H', "") + frame('X', "");
    both("function_call_flush_terminate", misc);
    both("cut_short", q.substr(0, q.size() - 3));
    return s;
}

// The SCRAM fuzz targets' fixed secrets, as in scram_server_fuzz.cpp / scram_client_fuzz.cpp.
constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kSalt = "QSXCR+Q6sek8bf92";
constexpr int kIterations = 16;
constexpr std::string_view kServerNonce = "3rfcNHYJY1ZVvWVs7j";
constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";

struct Exchange {
    std::string client_first, server_first, client_final, server_final;
};

Exchange honest_exchange(std::string_view client_nonce, std::string_view password) {
    Exchange e;
    auth::ScramClient client{std::string(password)};
    client.set_nonce_for_test(std::string(client_nonce));
    auth::ScramServer server(auth::make_scram_secret(kPassword, kSalt, kIterations), "alice");
    server.set_nonce_for_test(std::string(kServerNonce));
    e.client_first = client.first_message();
    e.server_first = server.step(e.client_first).message;
    e.client_final = client.step(e.server_first).message;
    e.server_final = server.step(e.client_final).message;
    return e;
}

// The same bytes in base64 with a non-zero padding bit: `text` ends in "X=" (32 raw bytes).
std::string non_canonical_base64(std::string text) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::size_t at = text.rfind('=') - 1;
    text[at] = kAlphabet[kAlphabet.find(text[at]) | 1];
    return text;
}

Seeds scram_server() {
    Seeds s;
    const Exchange good = honest_exchange(kClientNonce, kPassword);
    const Exchange bad = honest_exchange(kClientNonce, "pen");
    for (char mode : {'\0', '\1'}) {
        const std::string m(1, mode);
        const std::string who = mode == 0 ? "known_" : "unknown_";
        s.emplace_back(who + "good", m + nul(good.client_first, good.client_final));
        s.emplace_back(who + "wrong_password", m + nul(bad.client_first, bad.client_final));
        s.emplace_back(who + "then_more",
                       m + nul(nul(good.client_first, good.client_final), "c=biws"));
    }
    s.emplace_back(
        "known_proof_padding_bits",
        std::string(1, '\0') + nul(good.client_first, non_canonical_base64(good.client_final)));
    s.emplace_back("known_channel_binding",
                   std::string(1, '\0') + nul("p=tls-server-end-point,,n=,r=abc", "c=cD10bHM="));
    s.emplace_back("known_authzid", std::string(1, '\0') + "n,a=alice,n=,r=abc");
    s.emplace_back("known_extension",
                   std::string(1, '\0') + nul("n,,m=ext,n=,r=abc", good.client_final));
    s.emplace_back("known_user_escaped", std::string(1, '\0') + "y,,n=a=3Db=2Cc,r=abc,x=ext");
    s.emplace_back("honest_libpq", std::string(1, '\2') + nul(kClientNonce, ""));
    s.emplace_back("honest_user", std::string(1, '\2') + nul("x+/=~", "al=ice,bob"));
    s.emplace_back("honest_random_nonce", std::string(1, '\2'));
    s.emplace_back("secret_verifier",
                   "\3" + auth::make_scram_secret(kPassword, kSalt, 4096).to_string());
    s.emplace_back("secret_md5", "\3salt" + auth::md5_stored_hash("alice", "secret"));
    return s;
}

Seeds scram_client() {
    Seeds s;
    const Exchange good = honest_exchange(kClientNonce, kPassword);
    s.emplace_back("good", nul(good.server_first, good.server_final));
    s.emplace_back("good_then_more", nul(nul(good.server_first, good.server_final), "v=x"));
    const Exchange bad = honest_exchange(kClientNonce, "pen");
    s.emplace_back("wrong_signature", nul(good.server_first, bad.server_final));
    s.emplace_back("signature_padding_bits",
                   nul(good.server_first, non_canonical_base64(good.server_final)));
    s.emplace_back("server_error", nul(good.server_first, "e=invalid-proof"));
    s.emplace_back("extension_after", nul(good.server_first + ",x=1", good.server_final + ",y=2"));
    s.emplace_back("mandatory_extension", "m=1," + good.server_first);
    const std::string r = "r=" + std::string(kClientNonce) + std::string(kServerNonce);
    s.emplace_back("iterations_too_many", r + ",s=QSXCR+Q6sek8bf92,i=1000001");
    s.emplace_back("iterations_leading_zero", r + ",s=QSXCR+Q6sek8bf92,i=0016");
    s.emplace_back("empty_salt", r + ",s=,i=16");
    s.emplace_back("nonce_not_extended", "r=" + std::string(kClientNonce) + ",s=c2FsdA==,i=16");
    return s;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

Seeds configs(const fs::path& root) {
    Seeds s;
    s.emplace_back("example_pgtenant.toml", read_file(root / "config/pgtenant.toml"));
    s.emplace_back("minimal.toml", "");
    s.emplace_back("sealed_tls.toml",
                   "[server]\nlisten_addr = \"::\"\nlisten_port = 5433\nworkers = 4\n"
                   "tls_cert = \"server.crt\"\ntls_key = \"/etc/ssl/server.key\"\n"
                   "tls_required = true\nlog_level = \"debug\"\n"
                   "[backend]\nhost = \"db.internal\"\nport = 5432\ndatabase = \"clinic\"\n"
                   "user = \"pool\"\npassword_env = \"HOME\"\nconnect_timeout_ms = 100\n"
                   "[pool]\nsize = 50\nmin_idle = 50\nwait_timeout_ms = 3600000\n"
                   "mode = \"session\"\n"
                   "[tenant]\nusers_file = \"../users.toml\"\nsetting = \"app.practice\"\n"
                   "allow_maintenance = true\nmode = \"sealed\"\nkey_file = \"keys\"\n"
                   "token_lifetime_s = 60\n");
    s.emplace_back("bad_range.toml", "[pool]\nsize = 0\n");
    s.emplace_back("bad_key.toml", "[server]\nlisten_adr = \"127.0.0.1\"\n");
    s.emplace_back("bad_setting.toml", "[tenant]\nsetting = \"pgtenant.context\"\n");
    s.emplace_back("bad_toml.toml", "[server\nlisten_port = 6432\n");
    s.emplace_back("inline_tables.toml",
                   "server = { listen_port = 7000, log_level = \"warn\" }\n"
                   "pool = { size = 2, min_idle = 1 }\n");
    return s;
}

Seeds users() {
    Seeds s;
    const std::string verifier = auth::make_scram_secret(kPassword, kSalt, 4096).to_string();
    const std::string md5 = auth::md5_stored_hash("bob", "secret");
    s.emplace_back(
        "two_logins.toml",
        "# practice logins\n[[login]]\nname = \"alice\"\n"
        "practice = \"11111111-1111-1111-1111-111111111111\"\n"
        "scram = \"" +
            verifier +
            "\"\n\n"
            "[[login]]\nname = \"bob\"\npractice = \"AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE\"\n"
            "md5 = \"" +
            md5 + "\"\npool_mode = \"session\"\n");
    s.emplace_back(
        "both_secrets.toml",
        "[[login]]\nname = \"carol\"\npractice = \"22222222-2222-2222-2222-222222222222\"\n"
        "scram = \"" +
            verifier + "\"\nmd5 = \"" + md5 + "\"\npool_mode = \"transaction\"\n");
    s.emplace_back("empty.toml", "");
    s.emplace_back("duplicate.toml",
                   "[[login]]\nname = \"a\"\npractice = \"11111111-1111-1111-1111-111111111111\"\n"
                   "md5 = \"" +
                       md5 +
                       "\"\n[[login]]\nname = \"a\"\n"
                       "practice = \"11111111-1111-1111-1111-111111111111\"\nmd5 = \"" +
                       md5 + "\"\n");
    s.emplace_back("plaintext.toml",
                   "[[login]]\nname = \"a\"\npractice = \"11111111-1111-1111-1111-111111111111\"\n"
                   "password = \"hunter2\"\n");
    s.emplace_back("inline_array.toml",
                   "login = [ { name = \"a\\u0001\", practice = \"x\" }, { name = 1 } ]\n");
    s.emplace_back("bad_verifier.toml",
                   "[[login]]\nname = \"a\"\npractice = \"11111111-1111-1111-1111-111111111111\"\n"
                   "scram = \"SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA\"\n");
    return s;
}

const std::vector<std::string>& statements() {
    static const std::vector<std::string> sql = {
        "SELECT * FROM patients",
        "SELECT id, name FROM patients WHERE practice_id = $1 ORDER BY name LIMIT 10",
        "BEGIN; UPDATE meal_logs SET kcal = kcal + 1 WHERE id = 7; COMMIT",
        "SET search_path TO app, public",
        "SET LOCAL statement_timeout = '5s'",
        "SET app.current_practice_id = '22222222-2222-2222-2222-222222222222'",
        "set \"App\".\"Current_Practice_Id\" to default",
        "RESET ALL",
        "RESET pgtenant.context",
        "SET SESSION AUTHORIZATION postgres",
        "SET ROLE admin",
        "SET TIME ZONE 'Europe/Berlin'",
        "SELECT set_config('app.current_practice_id', '2', true)",
        "SELECT pg_catalog.set_config($1, $2, false)",
        "SELECT * FROM patients WHERE set_config('app.current_practice_id', 'x', true) IS NOT "
        "NULL",
        "SELECT U&\"\\0073et_config\"('app.x', '1', false)",
        "SELECT query_to_xml('select set_config(''app.x'', ''1'', false)', true, true, '')",
        "DO $$BEGIN PERFORM set_config('app.x', '1', false); END$$",
        "PREPARE q(int) AS SELECT $1; EXECUTE q(1); DEALLOCATE q",
        "DEALLOCATE ALL",
        "DEALLOCATE PREPARE ALL",
        "DISCARD ALL",
        "DISCARD TEMP",
        "EXPLAIN EXECUTE q(1)",
        "CREATE TABLE t AS EXECUTE q(1)",
        "VACUUM ANALYZE patients",
        "ANALYZE patients",
        "CREATE DATABASE other",
        "DROP DATABASE IF EXISTS other",
        "CREATE INDEX CONCURRENTLY i ON patients(name)",
        "DROP INDEX CONCURRENTLY i",
        "REINDEX (CONCURRENTLY) TABLE patients",
        "REINDEX (concurrently false) SYSTEM clinic",
        "ALTER SYSTEM SET work_mem = '64MB'",
        "CLUSTER",
        "CLUSTER patients USING patients_pkey",
        "ALTER ROLE alice SET app.current_practice_id = '2'",
        "ALTER DATABASE clinic SET TABLESPACE fast",
        "ALTER DATABASE clinic RESET ALL",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = pg_catalog AS 'select 1'",
        "COMMIT PREPARED 'x'",
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
        "CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p",
        "SELECT 1; SET work_mem = '4MB'; SELECT 2",
        "SET datestyle = iso, mdy",
        "SET search_path = \"My Schema\", public",
        "SELECT 'set vacuum database' AS not_a_statement",
        "SELECT 1 +",
        "SELECT (((((((((((((((1)))))))))))))))",
        "WITH x AS (SELECT set_config('a.b', 'c', true)) SELECT * FROM x",
    };
    return sql;
}

Seeds classify_seeds() {
    Seeds s;
    int i = 0;
    for (const auto& sql : statements()) {
        char name[32];
        std::snprintf(name, sizeof(name), "stmt_%02d.sql", i++);
        s.emplace_back(name, sql);
    }
    return s;
}

Seeds settings_scan_seeds() {
    Seeds s;
    int i = 0;
    for (const auto& sql : statements()) {
        PgQueryParseResult r = pg_query_parse(sql.c_str());
        if (r.error == nullptr && std::string_view(r.parse_tree).size() < 4096) {
            char name[32];
            std::snprintf(name, sizeof(name), "tree_%02d.json", i);
            s.emplace_back(name, r.parse_tree);
        }
        pg_query_free_parse_result(r);
        ++i;
    }
    return s;
}

// session_fuzz programs (session_fuzz.cpp): a flags byte, then operations. Query k is `0 k`
// (kSql[k]), Parse `1 name sql`, Bind `2 name`, Describe `3 kind name`, Execute `4 rows`, Sync
// `5`, CopyData `8`, CopyDone `9`, a write boundary `11`, server choices `12 n c...`,
// Terminate `14`.
Seeds session_seeds() {
    auto program = [](std::initializer_list<int> bytes) {
        std::string s;
        for (int b : bytes) s += static_cast<char>(b);
        return s;
    };
    return {
        {"transaction", program({0, 0, 0, 11, 0, 3, 11, 0, 1})},
        {"extended", program({0, 1, 1, 3, 2, 1, 3, 1, 1, 4, 0, 5, 11, 2, 1, 4, 0, 5})},
        {"server_errors", program({0, 12, 4, 0x01, 0x21, 0x41, 0x61, 0, 0, 0, 3, 0, 3, 11, 0, 2})},
        {"server_fatal", program({0, 0, 0, 11, 12, 1, 0x02, 0, 3, 11, 0, 3})},
        {"copy", program({0, 0, 14, 8, 8, 9, 11, 0, 14, 8, 10})},
        {"pipelined_then_gone", program({1, 0, 0, 0, 3, 0, 3, 0, 3})},
        {"sql_prepare", program({0, 0, 9, 11, 0, 10, 11, 0, 0, 11, 0, 10, 11, 0, 11, 11, 0, 10})},
        {"settings", program({0, 0, 4, 11, 0, 0, 0, 5, 0, 2, 11, 0, 16, 11, 0, 6, 0, 16})},
        {"hostile", program({0, 13, 5, 'Q', 0, 0, 0, 1, 11, 0, 17, 0, 21, 14})},
        // Findings: a message during COPY FROM STDIN; one after a stray CopyDone outside COPY.
        {"copy_interrupted", program({0, 0, 14, 8, 8, 0, 0, 0, 5, 4, 0x80, 0, 0, 0, 0xc4})},
        {"copy_after_stray_done", program({0, 0, 0, 0, 12, 9, 11, 0, 14, 8, 3, 10, 0xcf, 0xcf})},
        {"copy_in_open_segment",
         program({0, 0, 0, 3, 2, 1, 3, 0, 13, 9, 11, 0, 14, 8, 3, 10, 0xcf, 0xcf})},
    };
}

void write(const fs::path& dir, const Seeds& seeds) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& [name, content] : seeds) {
        std::ofstream(dir / name, std::ios::binary) << content;
    }
    std::printf("%s: %zu seeds\n", dir.c_str(), seeds.size());
}

}  // namespace
}  // namespace pgtenant::fuzz

int main(int argc, char** argv) {
    using namespace pgtenant::fuzz;
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <pgtenant source dir>\n", argv[0]);
        return 2;
    }
    const fs::path root = argv[1];
    const fs::path out = root / "tests/fuzz/corpus";
    write(out / "codec_fuzz", codec());
    write(out / "startup_fuzz", startup_packets());
    write(out / "frontend_fuzz", frontend());
    write(out / "scram_server_fuzz", scram_server());
    write(out / "scram_client_fuzz", scram_client());
    write(out / "config_fuzz", configs(root));
    write(out / "users_fuzz", users());
    write(out / "classify_fuzz", classify_seeds());
    write(out / "settings_scan_fuzz", settings_scan_seeds());
    write(out / "session_fuzz", session_seeds());
    return 0;
}
