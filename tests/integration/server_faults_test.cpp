// PostgreSQL and the host misbehaving under pgtenant: PostgreSQL restarts under load and
// goes down; pgtenant runs out of descriptors; 5,000 connections arrive at once (issue 14,
// fault tests). Every case checks what the client saw and, through the superuser, that every
// row a client saw committed is there and no other row is.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "auth/scram.h"
#include "tests/support/fault_fixture.h"
#include "tests/support/net.h"
#include "tests/support/pool_watch.h"
#include "tests/support/wire.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const auto* const kEnv = register_integration_env();

// --- PostgreSQL restarts while clients run transactions ---

// One client's transactions, each of two INSERTs with a pause between. A transaction whose
// COMMIT said COMMIT must be there whole; one that failed before COMMIT must be absent, and
// after its first error every statement up to ROLLBACK must fail; one whose COMMIT failed is
// in doubt (the reply may have been lost after the commit) but never half there.
struct TxLog {
    std::mutex mu;
    std::vector<long> committed;      // first id of each; the second is id + 1
    std::vector<long> failed;         // failed before COMMIT
    std::vector<long> in_doubt;       // COMMIT failed
    std::vector<std::string> errors;  // SQLSTATEs clients saw
    std::vector<std::string> violations;
};

void transactions_until(Pgtenant& proxy, const std::string& login, long first_id,
                        const std::atomic<bool>& stop, TxLog& log,
                        std::atomic<long>& committed_after_restart,
                        const std::atomic<bool>& restarted) {
    PgConn conn;
    for (long id = first_id; !stop; id += 2) {
        if (!conn) {
            auto o = try_connect(proxy.conninfo(login), 5s);
            if (!o.ok()) {
                std::lock_guard lock(log.mu);
                log.errors.push_back("login " + o.sqlstate);
                std::this_thread::sleep_for(100ms);
                continue;
            }
            conn = std::move(o.conn);
        }
        PGconn* c = conn.get();
        // A BEGIN that fails leaves no transaction (like any failed statement outside one):
        // the client just tries again.
        auto begin = run(c, "BEGIN", 10s);
        if (!begin.ok()) {
            std::lock_guard lock(log.mu);
            log.errors.push_back(begin.sqlstate.empty() ? "(none)" : begin.sqlstate);
            if (PQstatus(c) != CONNECTION_OK) conn.reset();
            std::this_thread::sleep_for(20ms);
            continue;
        }
        const std::vector<std::string> steps = {insert_sql(id, "tx"), "SELECT pg_sleep(0.02)",
                                                insert_sql(id + 1, "tx")};
        std::optional<std::string> failed_at;
        std::string violation;
        try {
            // Like a script without ON_ERROR_STOP: after an error, the rest is sent anyway and
            // must fail until the ROLLBACK.
            for (const auto& sql : steps) {
                auto r = run(c, sql, 10s);
                if (PQstatus(c) != CONNECTION_OK) {
                    failed_at = r.ok() ? "closed" : r.sqlstate;
                    break;
                }
                if (!r.ok() && !failed_at) {
                    failed_at = r.sqlstate.empty() ? "(none)" : r.sqlstate;
                    {
                        std::lock_guard lock(log.mu);
                        log.errors.push_back(*failed_at);
                    }
                    // Go on once the server is back (the restart takes about a second): the
                    // rest of this transaction must fail then too, not run in autocommit.
                    std::this_thread::sleep_for(2s);
                } else if (r.ok() && failed_at && violation.empty()) {
                    violation = "'" + sql + "' succeeded after an error (" + *failed_at +
                                ") in the same transaction;";
                }
            }
            if (PQstatus(c) == CONNECTION_OK) {
                auto commit = run(c, "COMMIT", 10s);
                std::lock_guard lock(log.mu);
                if (failed_at) {
                    if (commit.ok() && commit.command_status == "COMMIT")
                        violation += " COMMIT said COMMIT after an error (" + *failed_at + ")";
                    log.failed.push_back(id);
                    run(c, "ROLLBACK", 10s);
                } else if (commit.ok() && commit.command_status == "COMMIT") {
                    log.committed.push_back(id);
                    if (restarted) ++committed_after_restart;
                } else {
                    log.in_doubt.push_back(id);
                    log.errors.push_back("COMMIT " + commit.sqlstate);
                    run(c, "ROLLBACK", 10s);
                }
            } else {
                std::lock_guard lock(log.mu);
                (failed_at ? log.failed : log.in_doubt).push_back(id);
                conn.reset();
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(log.mu);
            log.in_doubt.push_back(id);
            log.errors.push_back(std::string("exception ") + e.what());
            conn.reset();
        }
        if (!violation.empty()) {
            std::lock_guard lock(log.mu);
            log.violations.push_back(login + " tx " + std::to_string(id) + ": " + violation);
        }
    }
}

TEST_F(FaultTest, PostgresRestartUnderLoad) {
    PgtenantOptions options = small_pool();
    options.pool_size = 4;
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);  // straight to PostgreSQL
    constexpr int kClients = 4;
    const long base = new_ids(kClients * 100'000);
    std::atomic<bool> stop{false}, restarted{false};
    std::atomic<long> after_restart{0};
    TxLog log;
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(transactions_until, std::ref(*proxy_),
                             i % 2 ? demo::kBob : demo::kAlice, base + i * 100'000, std::cref(stop),
                             std::ref(log), std::ref(after_restart), std::cref(restarted));
    }
    std::this_thread::sleep_for(1500ms);
    const auto t0 = Clock::now();
    env().cluster().restart("fast");
    restarted = true;
    const long restart_ms = ms_since(t0);
    su_ = env().superuser();
    std::this_thread::sleep_for(4s);
    stop = true;
    for (auto& t : clients) t.join();

    EXPECT_TRUE(proxy_->running());
    std::string violations;
    for (const auto& v : log.violations) violations += "  " + v + "\n";
    EXPECT_TRUE(log.violations.empty())
        << log.violations.size() << " transactions went on after an error:\n"
        << violations;
    for (const auto& e : log.errors) {
        EXPECT_TRUE(connection_failure(e) || e.rfind("COMMIT ", 0) == 0 || e == "25P02")
            << "unexpected error during the restart: " << e;
    }
    EXPECT_GT(after_restart.load(), 0) << "no transaction committed after the restart";
    for (long id : log.committed) {
        EXPECT_TRUE(row_exists(id) && row_exists(id + 1))
            << "committed transaction " << id << " is not there whole";
    }
    for (long id : log.failed) {
        EXPECT_FALSE(row_exists(id) || row_exists(id + 1))
            << "transaction " << id << " failed before COMMIT but has rows committed";
    }
    for (long id : log.in_doubt) {
        EXPECT_EQ(row_exists(id), row_exists(id + 1)) << "transaction " << id << " is half there";
    }
    std::cout << "[ restart ] pg_ctl restart took " << restart_ms << " ms; committed "
              << log.committed.size() << " (" << after_restart.load() << " after), failed "
              << log.failed.size() << ", in doubt " << log.in_doubt.size() << "\n";
    expect_bystander_works(*proxy_);
}

// --- PostgreSQL down ---

std::size_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// While PostgreSQL is down, clients get 57P03 at once, pgtenant does not hammer the server
// address with a connect per request, and its log stays small; once PostgreSQL is back,
// clients are served again.
TEST_F(FaultTest, PostgresDownAnswers57P03QuicklyWithoutFloodingTheLog) {
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), small_pool());  // straight to PostgreSQL
    const long id = new_ids(1'000'000);
    const long after_id = id + 999'999;  // inserted once PostgreSQL is back
    constexpr int kClients = 4;
    std::vector<PgConn> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(proxy_->connect_as(i % 2 ? demo::kBob : demo::kAlice));
        ASSERT_EQ(sqlstate_of(clients.back().get(), "SELECT 1"), "");
    }
    ClusterDown down(env().cluster());

    std::atomic<bool> stop{false};
    std::atomic<long> requests{0}, slow{0};
    std::mutex mu;
    std::map<std::string, long> states;  // SQLSTATE -> count
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            PGconn* c = clients[static_cast<std::size_t>(i)].get();
            for (long n = 0; !stop; ++n) {
                const auto asked = Clock::now();
                auto r = run(c, insert_sql(id + i * 250'000 + n, "while down"), 10s);
                if (ms_since(asked) > 1000) ++slow;
                ++requests;
                std::lock_guard lock(mu);
                ++states[r.ok() ? "ok" : (PQstatus(c) != CONNECTION_OK ? "closed" : r.sqlstate)];
                if (PQstatus(c) != CONNECTION_OK) break;
            }
        });
    }
    std::this_thread::sleep_for(500ms);  // the first errors (lost idle connections) are logged
    const std::string log_before = proxy_->log();
    const long requests_before = requests.load();
    std::this_thread::sleep_for(3s);
    const std::string log_after = proxy_->log();
    const long requests_during = requests.load() - requests_before;
    stop = true;
    for (auto& t : threads) t.join();

    // A fresh login while down: pgtenant authenticates by itself.
    const auto asked = Clock::now();
    auto fresh = try_connect(proxy_->conninfo(demo::kBob), 5s);
    EXPECT_LT(ms_since(asked), 2000);
    if (fresh.ok()) {
        auto r = run(fresh.conn.get(), "SELECT 1", 5s);
        EXPECT_EQ(r.sqlstate, "57P03") << r.error;
    } else {
        EXPECT_EQ(fresh.sqlstate, "57P03") << fresh.message;
    }

    std::string seen;
    for (const auto& [state, n] : states) seen += state + " x" + std::to_string(n) + " ";
    EXPECT_EQ(states.size(), 1u) << "clients saw: " << seen;
    EXPECT_GT(states["57P03"], 0) << "clients saw: " << seen;
    EXPECT_EQ(slow.load(), 0) << "answers that took over a second while the server was down";
    EXPECT_GT(requests_during, 100) << "too few requests to judge the log by";
    const std::size_t grown_lines = count_lines(log_after) - count_lines(log_before);
    const std::size_t grown_bytes = log_after.size() - log_before.size();
    EXPECT_LT(grown_lines, 100u) << "pgtenant logged " << grown_lines << " lines (" << grown_bytes
                                 << " bytes) in 3 s for " << requests_during
                                 << " requests while PostgreSQL was down; last lines:\n"
                                 << proxy_->tail_log(5);
    std::cout << "[ down ] " << requests_during << " requests in 3 s: log grew by " << grown_lines
              << " lines, " << grown_bytes << " bytes; clients saw " << seen << "\n";

    down.start();
    su_ = env().superuser();
    // Served again soon (a backoff may delay the first attempt a little).
    const auto back = Clock::now();
    QueryResult r;
    while (ms_since(back) < 10000) {
        r = run(clients[0].get(), insert_sql(after_id, "after restart"), 5s);
        if (r.ok()) break;
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_TRUE(r.ok()) << "not served 10 s after PostgreSQL came back: " << r.sqlstate << " "
                        << r.error;
    std::cout << "[ down ] served again " << ms_since(back) << " ms after PostgreSQL started\n";
    EXPECT_EQ(rows_between(id, id + 999'998), 0) << "INSERTs answered with errors are there";
    EXPECT_TRUE(row_exists(after_id));
    expect_bystander_works(*proxy_);
}

// The first logins after a start with PostgreSQL down, all at once: each is refused with
// 57P03 at once. Those queued for one of the pool's slots while the attempts in them failed
// used to wait out pool.wait_timeout_ms (only one was told per failed attempt).
TEST_F(FaultTest, FirstLoginsWhilePostgresIsDownAreAllRefusedAtOnce) {
    PgtenantOptions options = small_pool();
    options.wait_timeout_ms = 20000;
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);  // no server connection yet
    ClusterDown down(env().cluster());
    constexpr int kClients = 24;
    std::vector<ConnectOutcome> outcomes(kClients);
    std::vector<long> took(kClients);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
        threads.emplace_back([&, i] {
            const auto asked = Clock::now();
            outcomes[static_cast<std::size_t>(i)] =
                try_connect(proxy_->conninfo(i % 2 ? demo::kBob : demo::kAlice), 30s);
            took[static_cast<std::size_t>(i)] = ms_since(asked);
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kClients; ++i) {
        const auto& o = outcomes[static_cast<std::size_t>(i)];
        EXPECT_FALSE(o.ok()) << "client " << i;
        EXPECT_EQ(o.sqlstate, "57P03") << "client " << i << ": " << o.message;
        EXPECT_LT(took[static_cast<std::size_t>(i)], 3000) << "client " << i << " waited";
    }
}

// --- Out of file descriptors ---

// pgtenant with 64 descriptors: clients beyond what fits get 53300 at once, the ones logged in
// keep working (their transactions commit), and once clients leave, new ones are served.
TEST_F(FaultTest, DescriptorExhaustionRefusesWith53300AndRecovers) {
    PgtenantOptions options = small_pool();
    options.min_idle = kFaultPoolSize;  // server connections opened before the descriptors run out
    options.nofile_limit = 64;
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    for (auto until = Clock::now() + 5s;
         static_cast<int>(sample_pool(su_.get()).pids.size()) < kFaultPoolSize &&
         Clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
    }
    constexpr int kTries = 100;
    const long id = new_ids(kTries + 1);
    std::vector<PgConn> in;
    std::map<std::string, int> refused;
    long slowest_refusal_ms = 0;
    for (int i = 0; i < kTries; ++i) {
        const auto asked = Clock::now();
        auto o = try_connect(proxy_->conninfo(i % 2 ? demo::kBob : demo::kAlice), 5s);
        if (o.ok()) {
            in.push_back(std::move(o.conn));
        } else {
            ++refused[o.sqlstate.empty() ? o.message : o.sqlstate];
            slowest_refusal_ms = std::max(slowest_refusal_ms, ms_since(asked));
        }
    }
    std::string seen;
    for (const auto& [why, n] : refused) seen += why + " x" + std::to_string(n) + "; ";
    EXPECT_GT(in.size(), 10u) << "refused: " << seen;
    EXPECT_GT(refused["53300"], 0) << "refused: " << seen;
    EXPECT_EQ(refused.size(), 1u) << "refusals other than 53300: " << seen;
    EXPECT_LT(slowest_refusal_ms, 3000) << "a refused client waited";
    EXPECT_TRUE(proxy_->running());

    // The clients inside still commit, each its own row.
    int committed = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto r = run(in[i].get(), insert_sql(id + static_cast<long>(i), "inside"), 10s);
        if (r.ok()) {
            ++committed;
        } else {
            ADD_FAILURE() << "client " << i << " inside the limit: " << r.sqlstate << " "
                          << r.error;
        }
    }
    EXPECT_EQ(rows_between(id, id + kTries), committed);
    EXPECT_LE(static_cast<int>(sample_pool(su_.get()).pids.size()), kFaultPoolSize);

    in.clear();
    PgConn back;
    for (auto until = Clock::now() + 5s; Clock::now() < until && !back;
         std::this_thread::sleep_for(100ms)) {
        auto o = try_connect(proxy_->conninfo(demo::kAlice), 3s);
        if (o.ok()) back = std::move(o.conn);
    }
    ASSERT_TRUE(back) << "no login 5 s after the clients left";
    EXPECT_EQ(sqlstate_of(back.get(), insert_sql(id + kTries, "after")), "");
    EXPECT_TRUE(row_exists(id + kTries));
    expect_bystander_works(*proxy_);
}

// --- A wave of 5,000 connections ---

// 5,000 connections opened as fast as possible: half log in (libpq, non-blocking) and insert
// a row each, reading back their own id; the other half connect and then close (at once,
// after half a startup packet, or after a whole one). pgtenant stays up and serves a
// bystander; every row a client saw inserted is there, and no other.
TEST_F(FaultTest, FiveThousandConnectionWave) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 6000 && lim.rlim_max >= 6000) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 12000);
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 6000) GTEST_SKIP() << "needs 6,000 descriptors; the hard limit is lower";

    PgtenantOptions options;
    options.pool_size = 4;
    options.wait_timeout_ms = 30000;
    // A verifier of 16 iterations: 2,500 libpq logins at 4096 would cost this one test thread
    // more than pgtenant's default 60 s login timeout in PBKDF2 alone.
    const std::string wave_password = "wave-Secret-4";
    options.logins.push_back({"wave", demo::kPracticeA, wave_password, "",
                              auth::make_scram_verifier(wave_password, 16)});
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    constexpr int kWave = 5000;
    const long id = new_ids(kWave);

    struct Talker {
        PGconn* conn = nullptr;
        long id = 0;
        enum { connecting, querying, done, failed } state = connecting;
        PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
        std::string why;
    };
    struct Silent {
        int fd = -1;
        int kind = 0;  // 0: close at once, 1: half a startup packet, 2: a whole one
        bool connected = false, done = false, failed = false;
    };
    std::vector<Talker> talkers;
    std::vector<Silent> silent;
    const auto started = Clock::now();
    const std::string conninfo = proxy_->conninfo("wave");
    const std::string startup = wire::startup_message({{"user", "wave"}, {"database", "postgres"}});
    for (int i = 0; i < kWave; ++i) {
        if (i % 2 == 0) {
            Talker t;
            t.id = id + i;
            t.conn = PQconnectStart(conninfo.c_str());
            if (!t.conn || PQstatus(t.conn) == CONNECTION_BAD) {
                t.state = Talker::failed;
                t.why = "PQconnectStart";
            }
            talkers.push_back(t);
        } else {
            Silent s;
            s.kind = (i / 2) % 3;
            s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(proxy_->port());
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
            if (rc != 0 && errno != EINPROGRESS) s.failed = true;
            silent.push_back(s);
        }
    }
    const long opened_ms = ms_since(started);

    const auto deadline = started + 40s;
    std::vector<pollfd> fds;
    std::vector<std::pair<bool, std::size_t>> owner;  // talker?, index
    for (;;) {
        fds.clear();
        owner.clear();
        for (std::size_t i = 0; i < talkers.size(); ++i) {
            auto& t = talkers[i];
            if (t.state == Talker::done || t.state == Talker::failed) continue;
            short ev = POLLIN;
            if (t.state == Talker::connecting && t.poll == PGRES_POLLING_WRITING) ev = POLLOUT;
            fds.push_back({PQsocket(t.conn), ev, 0});
            owner.emplace_back(true, i);
        }
        for (std::size_t i = 0; i < silent.size(); ++i) {
            auto& s = silent[i];
            if (s.done || s.failed) continue;
            fds.push_back({s.fd, static_cast<short>(s.connected ? POLLIN : POLLOUT), 0});
            owner.emplace_back(false, i);
        }
        if (fds.empty() || Clock::now() > deadline) break;
        if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            if (owner[k].first) {
                auto& t = talkers[owner[k].second];
                if (t.state == Talker::connecting) {
                    t.poll = PQconnectPoll(t.conn);
                    if (t.poll == PGRES_POLLING_FAILED) {
                        t.state = Talker::failed;
                        t.why = PQerrorMessage(t.conn);
                    } else if (t.poll == PGRES_POLLING_OK) {
                        const std::string sql = insert_sql(t.id, "wave") + " RETURNING id";
                        if (!PQsendQuery(t.conn, sql.c_str())) {
                            t.state = Talker::failed;
                            t.why = PQerrorMessage(t.conn);
                        } else {
                            t.state = Talker::querying;
                            PQflush(t.conn);
                        }
                    }
                } else {
                    PQconsumeInput(t.conn);
                    while (t.state == Talker::querying && !PQisBusy(t.conn)) {
                        PGresult* res = PQgetResult(t.conn);
                        if (!res) {
                            if (t.why.empty())
                                t.state = Talker::done;
                            else
                                t.state = Talker::failed;
                            break;
                        }
                        auto r = to_query_result(res);
                        if (!r.ok()) {
                            t.why = r.sqlstate + " " + r.error;
                        } else if (r.rows.size() != 1 || r.rows[0][0] != std::to_string(t.id)) {
                            t.why = "inserted " + std::to_string(t.id) + ", was answered " +
                                    (r.rows.empty() ? std::string("nothing") : r.rows[0][0]);
                        }
                    }
                }
                if (t.state == Talker::done || t.state == Talker::failed) {
                    PQfinish(t.conn);
                    t.conn = nullptr;
                }
            } else {
                auto& s = silent[owner[k].second];
                if (!s.connected) {
                    int err = 0;
                    socklen_t len = sizeof err;
                    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0) {
                        s.failed = true;
                    } else if (s.kind == 0) {
                        s.done = true;
                    } else {
                        s.connected = true;
                        const std::string bytes =
                            s.kind == 1 ? startup.substr(0, startup.size() / 2) : startup;
                        if (::send(s.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0)
                            s.failed = true;
                        if (s.kind == 1) s.done = true;  // and never finishes it
                    }
                } else {
                    char buf[512];
                    ::recv(s.fd, buf, sizeof buf, 0);  // the SASL request (or an error)
                    s.done = true;
                }
                if (s.done || s.failed) {
                    ::close(s.fd);
                    s.fd = -1;
                }
            }
        }
    }
    const long wave_ms = ms_since(started);
    std::map<std::string, int> why;
    int talkers_done = 0, silent_done = 0;
    std::vector<long> inserted;
    for (auto& t : talkers) {
        if (t.state == Talker::done) {
            ++talkers_done;
            inserted.push_back(t.id);
        } else {
            ++why[t.why.empty() ? "unfinished" : t.why.substr(0, 80)];
        }
        if (t.conn) PQfinish(t.conn);
    }
    for (auto& s : silent) {
        if (s.done)
            ++silent_done;
        else
            ++why[s.failed ? "silent connect failed" : "silent unfinished"];
        if (s.fd >= 0) ::close(s.fd);
    }
    std::string failures;
    for (const auto& [w, n] : why) failures += "  " + std::to_string(n) + " x " + w + "\n";
    std::cout << "[ wave ] " << kWave << " connections opened in " << opened_ms << " ms, done in "
              << wave_ms << " ms; " << talkers_done << " logged in and inserted, " << silent_done
              << " silent closed\n";
    EXPECT_TRUE(proxy_->running()) << "pgtenant died during the wave";
    EXPECT_EQ(talkers_done, kWave / 2) << failures;
    EXPECT_EQ(silent_done, kWave / 2) << failures;
    EXPECT_LT(wave_ms, 40000);
    EXPECT_EQ(rows_between(id, id + kWave - 1), static_cast<long>(inserted.size()))
        << "rows inserted by the wave: the database and the clients disagree";
    EXPECT_LE(static_cast<int>(sample_pool(su_.get()).pids.size()), options.pool_size);
    expect_bystander_works(*proxy_);
}

// --- Logins that never finish, timing out together ---

// 2,000 connections that dribble a startup packet (a tenth send it whole and stop at
// authentication), all cut by the login timeout within moments, while an honest client keeps
// querying. With
// io_uring, Boost 1.81 sent the cancellations of their reads with stale user data and their
// completions landed on other operations: accepts failed with ENOENT, the honest client's
// connections were closed under it, then a crash in malloc (proxy/asio_impl.cpp).
TEST_F(FaultTest, TwoThousandLoginsTimingOutAtOnce) {
    constexpr int kSlow = 2000;
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < kSlow + 500 && lim.rlim_max >= kSlow + 500) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8000);
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < kSlow + 500) GTEST_SKIP() << "needs 2,500 descriptors";

    PgtenantOptions options;
    options.pool_size = 2;
    options.extra_toml["server"].push_back("login_timeout_ms = 3000");
    proxy_ = std::make_unique<Pgtenant>(env().cluster(), options);
    // The honest client first, with a low descriptor.
    auto honest = connect(proxy_->conninfo(demo::kAlice));
    // A startup packet, sent a byte at a time; one connection in ten sends it whole and then
    // waits at authentication.
    const std::string startup =
        wire::startup_message({{"user", demo::kAlice}, {"database", "postgres"}});
    std::vector<RawSocket> slow;
    std::vector<std::size_t> sent(kSlow, 0);
    slow.reserve(kSlow);
    for (int i = 0; i < kSlow; ++i) {
        slow.push_back(RawSocket::connect(proxy_->port()));
        sent[i] = i % 10 == 0 ? startup.size() : 1;
        ASSERT_TRUE(slow.back().send_all(startup.substr(0, sent[i])));
    }
    int queries = 0, open = kSlow;
    std::string first_error;
    auto next_byte = Clock::now();
    for (const auto until = Clock::now() + 15s; Clock::now() < until;) {
        if (Clock::now() >= next_byte) {  // one more byte on every connection not yet cut
            next_byte += 200ms;
            for (int i = 0; i < kSlow; ++i) {
                if (sent[i] + 1 >= startup.size()) continue;
                char byte;
                if (::recv(slow[i].fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0) continue;
                ::send(slow[i].fd(), startup.data() + sent[i]++, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            }
        }
        auto r = run(honest.get(), "SELECT 1", 5s);
        if (r.ok()) {
            ++queries;
        } else if (first_error.empty()) {
            first_error = r.sqlstate + " " + r.error;
        }
        open = 0;
        for (auto& s : slow) {
            char byte;
            const auto n = ::recv(s.fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
        }
        if (open == 0 && queries > 20) break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(open, 0) << "connections still open after the login timeout";
    EXPECT_EQ(first_error, "") << "the honest client's queries failed";
    EXPECT_GT(queries, 20);
    EXPECT_TRUE(proxy_->running()) << proxy_->tail_log(30);
    const std::string log = proxy_->log();
    EXPECT_EQ(log.find("accept failed"), std::string::npos) << proxy_->tail_log(30);
    auto again = try_connect(proxy_->conninfo(demo::kBob), 5s);
    EXPECT_TRUE(again.ok()) << again.message;
}

}  // namespace
}  // namespace pgtenant::testing
