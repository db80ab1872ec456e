#pragma once
// Logins looked up in the database (tenant.directory_query), for logins not in the users file:
// a SaaS adds a practice's login with an INSERT. The query runs on a connection of its own, as
// tenant.directory_user, on a thread of its own (libpq blocks); sessions await the answer.
// Answers that found a login are cached for tenant.directory_cache_s. Fail-closed: a lookup
// that fails (connection, query, a row that is not a valid login, no answer in time) is an
// error, and the login is refused; it never falls back to letting anyone in.
#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "auth/directory.h"
#include "config/config.h"
#include "proxy/asio.h"

namespace pgtenant::proxy {

class DirectoryLookup {
  public:
    struct Result {
        std::optional<auth::Login> login;  // nullopt: no such login
        std::string error;                 // set: the lookup failed (refuse the login)
    };

    explicit DirectoryLookup(const config::Config& cfg);
    ~DirectoryLookup();
    DirectoryLookup(const DirectoryLookup&) = delete;
    DirectoryLookup& operator=(const DirectoryLookup&) = delete;

    // On the calling coroutine's executor; an error after `timeout` without an answer.
    awaitable<Result> find(const std::string& name, std::chrono::milliseconds timeout);

    // The query's row for `name`, checked as a users-file entry would be: on the lookup thread
    // (and in unit tests).
    static Result to_login(const std::string& name, const char* scram, const char* practice,
                           const char* pool_mode);

  private:
    struct Pending;
    struct Request {
        std::string name;
        std::shared_ptr<Pending> pending;
    };
    void loop(std::stop_token stop);
    Result query(const std::string& name);  // on the lookup thread

    const std::string conninfo_;
    const std::string query_;
    const std::chrono::seconds ttl_;
    std::mutex mu_;
    std::condition_variable_any wake_;
    std::deque<Request> queue_;
    struct Cached {
        auth::Login login;
        std::chrono::steady_clock::time_point until;
    };
    std::unordered_map<std::string, Cached> cache_;
    struct PgConnCloser {
        void operator()(PGconn* c) const { PQfinish(c); }
    };
    std::unique_ptr<PGconn, PgConnCloser> conn_;  // the lookup thread's
    std::jthread thread_;
};

}  // namespace pgtenant::proxy
