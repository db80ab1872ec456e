// The session's state machine on its own (proxy/session/conversation.h, issue 15): no pgtenant,
// no proxy sockets. Several clients share a few server connections to a real PostgreSQL the
// way pgtenant's sessions share its pool. Each client's Conversation decides what runs on the
// server connection it lands on (its settings before its transaction, settings read back
// after one) and filters the replies on their way to the client; this test does only the I/O.
//
// The model: random sequences of SET / RESET / SET LOCAL / set_config / transactions /
// savepoints / errors / commits / rollbacks across the clients. Every statement also runs on
// the client's own direct connection to PostgreSQL, and every answer must match: each SHOW and
// current_setting() (the value a statement sees), each error's SQLSTATE, each transaction
// status, and every reported setting (ParameterStatus) the client was told.
//
// Bounded: a fixed base seed and a fixed number of sequences. By hand, more:
//   PGTENANT_MODEL_SEQUENCES=2000 PGTENANT_MODEL_BASE=<n> ./conversation_model_test
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "protocol/builders.h"
#include "protocol/guard/guard.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/session/conversation.h"
#include "tests/support/net.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
namespace build = protocol::build;
using protocol::Origin;
using protocol::Request;
using proxy::Conversation;
using proxy::ServerState;
using Told = std::map<std::string, std::string>;

struct Setting {
    const char* name;
    std::vector<const char*> values;
};
const std::vector<Setting> kSettings = {
    {"TimeZone", {"'UTC'", "'America/New_York'", "'Australia/Adelaide'", "'Asia/Tokyo'"}},
    {"DateStyle", {"'ISO, MDY'", "'SQL, DMY'", "'German'"}},
    {"IntervalStyle", {"postgres", "iso_8601", "sql_standard"}},
    {"application_name", {"'app_a'", "'app_b'", "''"}},
    {"statement_timeout", {"0", "'5s'", "'1min'"}},
    {"search_path", {"public", "'\"$user\", public'", "pg_catalog"}},
    {"work_mem", {"'1MB'", "'8MB'", "'64kB'"}},
};

// One statement a client sends as a simple Query, drawn from what applications do.
std::string draw_statement(std::mt19937_64& rng) {
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const Setting& s = kSettings[pick(kSettings.size())];
    const std::string value = s.values[pick(s.values.size())];
    // set_config() takes a text value: unquote the quoted ones, quote the rest.
    const std::string text = value.front() == '\'' ? value : "'" + value + "'";
    switch (pick(22)) {
        case 0:
        case 1:
        case 2:
            return std::string("SET ") + s.name + " = " + value;
        case 3:
            return std::string("SET LOCAL ") + s.name + " = " + value;
        case 4:
            return std::string("RESET ") + s.name;
        case 5:
            return std::string("SET ") + s.name + " TO DEFAULT";
        case 6:
            return std::string("SELECT pg_catalog.set_config('") + s.name + "', " + text +
                   ", false)";
        case 7:
            return std::string("SELECT pg_catalog.set_config('") + s.name + "', " + text +
                   ", true)";
        case 8:
            return "BEGIN";
        case 9:
            return pick(2) ? "COMMIT" : "END";
        case 10:
            return "ROLLBACK";
        case 11:
            return "SAVEPOINT sp";
        case 12:
            return "ROLLBACK TO SAVEPOINT sp";
        case 13:
            return "RELEASE SAVEPOINT sp";
        case 14:
            return "SELECT 1 / 0";
        case 15:
            return pick(4) == 0 ? "RESET ALL" : "SELECT 1";
        case 16:
            // In one Query: an implicit transaction, rolled back as a whole by the error.
            return std::string("SET ") + s.name + " = " + value + "; SELECT 1 / 0";
        case 17:
            return std::string("BEGIN; SET ") + s.name + " = " + value + "; COMMIT";
        case 18:
            return std::string("SET ") + s.name + " = " + value + "; SELECT 1";
        default:
            return std::string("SHOW ") + s.name;
    }
}

// What a client sees of one Query's answer, comparable across connections: errors by
// SQLSTATE, rows, command tags, the transaction status. Reported settings go to `told`.
std::string summarize(const std::vector<std::string>& messages, Told& told) {
    std::string out;
    for (const auto& m : messages) {
        const std::string_view body = std::string_view(m).substr(5);
        switch (m[0]) {
            case 'E': {
                auto e = protocol::decode_error_fields(body);
                out += "E:" + (e ? std::string(e->sqlstate()) : "?") + " ";
                break;
            }
            case 'C':
                out += "C:" + std::string(body.substr(0, body.size() - 1)) + " ";
                break;
            case 'D': {
                auto row = protocol::decode_data_row(body);
                out += "D:";
                if (row)
                    for (const auto& v : *row) out += (v ? std::string(*v) : "<NULL>") + "|";
                out += " ";
                break;
            }
            case 'Z':
                out += std::string("Z:") + (body.empty() ? '?' : body[0]);
                break;
            case 'S':
                if (auto p = protocol::decode_parameter_status(body))
                    told[std::string(p->name)] = std::string(p->value);
                break;
            default:
                break;
        }
    }
    return out;
}

// Reads one message from `sock` (the test fails on a timeout).
std::string read_one(RawSocket& sock) {
    auto m = sock.read_message(10s);
    if (m.empty()) throw std::runtime_error("no reply from PostgreSQL");
    return m;
}

struct Server {
    RawSocket sock;
    ServerState state;
    int holder = -1;  // the client whose transaction it serves
};

struct Client {
    Conversation conv;
    RawSocket direct;
    Told told_direct, told_model;
    int server = -1;
    std::string out;    // what is to be written to its server connection
    char status = 'I';  // as PostgreSQL last said on the direct connection
};

class ConversationModel : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { cluster_ = new PgCluster(PgClusterOptions{.load_demo = false}); }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }

    // A server connection as pgtenant's pool makes one: logged in, its statements prepared.
    Server open_server() {
        Server s;
        s.sock = take_socket(cluster_->superuser());
        std::string out;
        proxy::append_pgtenant_statements(out);
        build::sync(out);
        EXPECT_TRUE(s.sock.send_all(out));
        while (read_one(s.sock)[0] != 'Z') {
        }
        return s;
    }

    // A client with startup settings of its own (`tz` as TimeZone) and its direct connection.
    Client open_client(int i, const std::string& tz) {
        Client c;
        const std::string app = "client_" + std::to_string(i);
        auto conn = connect(cluster_->superuser_conninfo() + " application_name=" + app +
                            " options='-c TimeZone=" + tz + "'");
        for (const char* name : {"TimeZone", "DateStyle", "IntervalStyle", "application_name",
                                 "standard_conforming_strings", "client_encoding",
                                 "default_transaction_read_only", "in_hot_standby"}) {
            if (const char* v = PQparameterStatus(conn.get(), name)) c.told_direct[name] = v;
        }
        c.told_model = c.told_direct;
        c.direct = take_socket(std::move(conn));
        c.conv.start({{"application_name", app}, {"timezone", tz}}, false,
                     static_cast<uint64_t>(i) + 1);
        // As pgtenant's welcome: the client was told its own values.
        c.conv.told("application_name", app);
        c.conv.told("TimeZone", tz);
        return c;
    }

    // Sends what the Conversation queued on `s` and relays every reply through it until the
    // server has answered everything; what the client gets is appended to `to_client`.
    static void exchange(Client& c, Server& s, std::string& out, std::string& to_client) {
        ASSERT_TRUE(s.sock.send_all(out));
        out.clear();
        auto& tracker = s.state.tracker();
        while (!tracker.idle()) {
            const std::string m = read_one(s.sock);
            const auto news = c.conv.on_server_message(m[0], m, to_client);
            ASSERT_TRUE(news.kind == Conversation::ServerNews::Kind::none) << news.detail;
        }
    }

    // One client Query through the model: what pgtenant's serve loop and relay do around the
    // Conversation, minus the practice binding (no RLS here).
    static std::string run_model(Client& c, std::vector<Server>& servers, int self,
                                 const std::string& sql) {
        if (c.server < 0) {
            for (std::size_t i = 0; i < servers.size(); ++i) {
                if (servers[i].holder < 0) {
                    c.server = static_cast<int>(i);
                    servers[i].holder = self;
                    c.conv.leased(servers[i].state, c.out);
                    break;
                }
            }
        }
        EXPECT_GE(c.server, 0);
        Server& s = servers[c.server];
        std::string& out = c.out;
        std::string to_client;
        // The serve loop: what becomes of the Query, the segment it starts, the connection
        // brought to the client's settings, then the Query itself.
        std::string query, local;
        build::query(query, sql);
        const auto m = protocol::decode_client_message(query);
        c.conv.forget_may_begin();
        const std::string tenant_setting = "app.current_practice_id";
        const auto decision =
            c.conv.on_client_message(*m, {tenant_setting, false, classifier()}, local);
        EXPECT_FALSE(decision.refusal) << decision.refusal->message;
        EXPECT_EQ(local, "");
        c.conv.open_segment();
        if (c.conv.block() == Conversation::Block::idle) {
            auto changes = c.conv.append_settings(s.state, out);
            if (!changes.empty()) {
                build::sync(out);
                s.state.tracker().sent(Request::sync, Origin::probe);
                c.conv.probe_started();
                exchange(c, s, out, to_client);
                auto error = c.conv.settings_result(changes, s.state);
                EXPECT_FALSE(error) << error->message;
            }
        }
        out.append(query);
        s.state.tracker().sent(Request::query, Origin::client);
        c.conv.copy_count_restart();
        c.conv.sent(decision);
        c.conv.close_segment();
        exchange(c, s, out, to_client);
        if (c.conv.read_back_due(s.state)) {
            c.conv.append_read_back(s.state, out);
            exchange(c, s, out, to_client);
        }
        if (c.conv.releasable(s.state)) {
            s.holder = -1;
            c.server = -1;
            c.conv.let_go();
        }
        std::vector<std::string> messages;
        for (std::size_t pos = 0; pos < to_client.size();) {
            const std::size_t len = 1 + protocol::load_u32(to_client.data() + pos + 1);
            messages.push_back(to_client.substr(pos, len));
            pos += len;
        }
        return summarize(messages, c.told_model);
    }

    static std::string run_direct(Client& c, const std::string& sql) {
        std::string out;
        build::query(out, sql);
        EXPECT_TRUE(c.direct.send_all(out));
        std::vector<std::string> messages;
        do messages.push_back(read_one(c.direct));
        while (messages.back()[0] != 'Z');
        return summarize(messages, c.told_direct);
    }

    static protocol::guard::StatementGuard& classifier() {
        static protocol::guard::StatementGuard c;
        return c;
    }

    static PgCluster* cluster_;
};

PgCluster* ConversationModel::cluster_ = nullptr;

// A documented limit: inside a transaction, RESET gives the pool role's default where the
// client's startup packet set the value (PostgreSQL cannot be told another reset value).
bool resets_startup_setting(const std::string& sql) {
    const bool reset = sql.starts_with("RESET") || sql.find("TO DEFAULT") != std::string::npos;
    return reset && (sql.find("TimeZone") != std::string::npos ||
                     sql.find("application_name") != std::string::npos || sql == "RESET ALL");
}

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v ? std::atoi(v) : fallback;
}

TEST_F(ConversationModel, EverySettingIsTheClientsOwnAsOnPostgres) {
    const int sequences = env_int("PGTENANT_MODEL_SEQUENCES", 60);
    const uint64_t base = static_cast<uint64_t>(env_int("PGTENANT_MODEL_BASE", 1));
    constexpr int kClients = 4, kServers = 2, kSteps = 60;
    const std::vector<std::string> zones = {"UTC", "America/New_York", "Asia/Tokyo",
                                            "Australia/Adelaide"};
    for (int n = 0; n < sequences; ++n) {
        const uint64_t seed = base * 1000003 + static_cast<uint64_t>(n);
        std::mt19937_64 rng(seed);
        std::vector<Server> servers;
        for (int i = 0; i < kServers; ++i) servers.push_back(open_server());
        std::vector<Client> clients;
        for (int i = 0; i < kClients; ++i) clients.push_back(open_client(i, zones[i % 4]));
        std::string history;
        for (int step = 0; step < kSteps; ++step) {
            // A client that holds a server connection, or finds one free, sends next.
            int who;
            do who = static_cast<int>(rng() % kClients);
            while (clients[who].server < 0 &&
                   std::none_of(servers.begin(), servers.end(),
                                [](const Server& s) { return s.holder < 0; }));
            Client& c = clients[who];
            std::string sql = draw_statement(rng);
            if (c.status != 'I' && resets_startup_setting(sql)) sql = "SHOW TimeZone";
            history += "c" + std::to_string(who) + ": " + sql + "\n";
            const std::string expected = run_direct(c, sql);
            c.status = expected.back();
            const std::string got = run_model(c, servers, who, sql);
            ASSERT_EQ(got, expected) << "seed " << seed << ", step " << step << ":\n" << history;
            ASSERT_EQ(c.told_model, c.told_direct)
                << "reported settings, seed " << seed << ", step " << step << ":\n"
                << history;
            if (HasFatalFailure()) return;
        }
    }
}

}  // namespace
}  // namespace pgtenant::testing
