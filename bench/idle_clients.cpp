// bench_idle_clients: opens N authenticated client connections to a PostgreSQL server or pooler
// and keeps them idle until SIGTERM/SIGINT, so bench/run.sh can read the pooler's memory per
// idle client (W4).
//
//   bench_idle_clients --port P --user U --dbname D --count N
//                      [--host H] [--threads T] [--parallel K] [--timeout S]
//
// The password comes from PGPASSWORD (libpq reads it). Each of T threads (default 2) opens its
// share of the N connections with libpq's non-blocking connect, at most K (default 32) handshakes
// in flight per thread: SCRAM's client-side PBKDF2 costs about a millisecond of CPU per
// connection, so more threads than cores only adds contention. When every attempt has finished
// it prints one line on stdout:
//   ready ok=<connected> failed=<failed> seconds=<elapsed>
// and the first error messages (with counts) on stderr, then holds the connections open,
// sending nothing, until signalled. Exit status: 0 if all N connected, 1 if any failed, 2 on bad
// arguments.
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
    std::string host = "127.0.0.1";
    std::string port;
    std::string user;
    std::string dbname;
    int count = 0;
    int threads = 2;
    int parallel = 32;
    int timeout_s = 600;
};

using Clock = std::chrono::steady_clock;

// Error messages of failed connections, counted, shared by the threads.
class ErrorTally {
public:
    void add(std::string message) {
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
        std::lock_guard lock(mutex_);
        ++counts_[message];
    }
    void print() const {
        std::lock_guard lock(mutex_);
        int shown = 0;
        for (const auto& [message, n] : counts_) {
            if (++shown > 5) break;
            std::fprintf(stderr, "bench_idle_clients: %d x %s\n", n, message.c_str());
        }
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, int> counts_;
};

struct Attempt {
    PGconn* conn = nullptr;
    PostgresPollingStatusType want = PGRES_POLLING_WRITING;
};

// Opens `n` connections, at most opt.parallel in flight; appends the good ones to `out`.
void open_connections(const Options& opt, int n, Clock::time_point deadline, std::vector<PGconn*>& out,
                      ErrorTally& errors) {
    const char* keys[] = {"host", "port", "user", "dbname", "sslmode", "application_name", nullptr};
    const char* values[] = {opt.host.c_str(), opt.port.c_str(), opt.user.c_str(), opt.dbname.c_str(),
                            "disable", "bench_idle_clients", nullptr};
    std::vector<Attempt> in_flight;
    std::vector<pollfd> fds;
    int started = 0;
    auto fail = [&](PGconn* conn) {
        errors.add(PQerrorMessage(conn));
        PQfinish(conn);
    };
    while (started < n || !in_flight.empty()) {
        if (Clock::now() > deadline) {
            for (auto& a : in_flight) {
                errors.add("timed out connecting");
                PQfinish(a.conn);
            }
            in_flight.clear();
            for (; started < n; ++started) errors.add("not attempted: timed out before");
            break;
        }
        while (started < n && static_cast<int>(in_flight.size()) < opt.parallel) {
            ++started;
            PGconn* conn = PQconnectStartParams(keys, values, 0);
            if (conn == nullptr) {
                errors.add("out of memory");
            } else if (PQstatus(conn) == CONNECTION_BAD) {
                fail(conn);
            } else {
                in_flight.push_back({conn, PGRES_POLLING_WRITING});
            }
        }
        if (in_flight.empty()) continue;
        fds.clear();
        for (const auto& a : in_flight) {
            short events = a.want == PGRES_POLLING_READING ? POLLIN : POLLOUT;
            fds.push_back({PQsocket(a.conn), events, 0});
        }
        if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
            std::perror("bench_idle_clients: poll");
            std::exit(1);
        }
        // Advance every attempt whose socket is ready; keep the others in order.
        std::size_t kept = 0;
        for (std::size_t i = 0; i < in_flight.size(); ++i) {
            Attempt a = in_flight[i];
            if (fds[i].revents != 0) {
                a.want = PQconnectPoll(a.conn);
                if (a.want == PGRES_POLLING_OK) {
                    out.push_back(a.conn);
                    continue;
                }
                if (a.want == PGRES_POLLING_FAILED) {
                    fail(a.conn);
                    continue;
                }
            }
            in_flight[kept++] = a;
        }
        in_flight.resize(kept);
    }
}

bool parse_int(const char* text, int& value) {
    char* end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > 10'000'000) return false;
    value = static_cast<int>(v);
    return true;
}

int usage() {
    std::fprintf(stderr,
                 "usage: bench_idle_clients --port P --user U --dbname D --count N [--host H]\n"
                 "                          [--threads T] [--parallel K] [--timeout S]\n"
                 "(password from PGPASSWORD; holds the connections until SIGTERM or SIGINT)\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) return usage();
        const char* v = argv[++i];
        bool ok = true;
        if (a == "--host") opt.host = v;
        else if (a == "--port") opt.port = v;
        else if (a == "--user") opt.user = v;
        else if (a == "--dbname") opt.dbname = v;
        else if (a == "--count") ok = parse_int(v, opt.count);
        else if (a == "--threads") ok = parse_int(v, opt.threads);
        else if (a == "--parallel") ok = parse_int(v, opt.parallel);
        else if (a == "--timeout") ok = parse_int(v, opt.timeout_s);
        else ok = false;
        if (!ok) return usage();
    }
    if (opt.port.empty() || opt.user.empty() || opt.dbname.empty() || opt.count < 1) return usage();

    // Every connection is a file descriptor: take all the kernel allows us.
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(opt.count) + 64) {
        std::fprintf(stderr, "bench_idle_clients: open-files limit %llu is too low for %d connections\n",
                     static_cast<unsigned long long>(lim.rlim_cur), opt.count);
        return 1;
    }

    // Block the stop signals before starting threads, so only sigwait below sees them.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(opt.timeout_s);
    opt.threads = std::min(opt.threads, opt.count);
    std::vector<std::vector<PGconn*>> held(opt.threads);
    ErrorTally errors;
    std::vector<std::thread> threads;
    for (int t = 0; t < opt.threads; ++t) {
        int share = opt.count / opt.threads + (t < opt.count % opt.threads ? 1 : 0);
        threads.emplace_back([&, t, share] { open_connections(opt, share, deadline, held[t], errors); });
    }
    for (auto& th : threads) th.join();
    std::size_t ok = 0;
    for (const auto& h : held) ok += h.size();
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    errors.print();
    std::printf("ready ok=%zu failed=%zu seconds=%.2f\n", ok, opt.count - ok, seconds);
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    for (auto& h : held) {
        for (PGconn* c : h) PQfinish(c);
    }
    return ok == static_cast<std::size_t>(opt.count) ? 0 : 1;
}
