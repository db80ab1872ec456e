#include "proxy/directory_lookup.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "proxy/check/check.h"

namespace pgtenant::proxy {

namespace {

// A TOML basic string: the row becomes a users-file entry, checked by the same rules.
std::string toml_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// libpq's message without its trailing newline.
std::string message_of(const char* text) {
    std::string m = text;
    while (!m.empty() && m.back() == '\n') m.pop_back();
    return m;
}

std::string conninfo_for(const config::Config& cfg) {
    config::Config as_directory = cfg;
    as_directory.backend.user = cfg.tenant.directory_user;
    as_directory.backend.password = cfg.tenant.directory_password;
    // libpq takes the last of a repeated keyword.
    return backend_conninfo(as_directory) + " application_name='pgtenant directory lookup'";
}

}  // namespace

struct DirectoryLookup::Pending {
    explicit Pending(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    Result result;
    std::atomic<bool> done{false};
};

DirectoryLookup::DirectoryLookup(const config::Config& cfg)
    : conninfo_(conninfo_for(cfg)),
      query_(cfg.tenant.directory_query),
      ttl_(cfg.tenant.directory_cache),
      thread_([this](std::stop_token stop) { loop(stop); }) {}

DirectoryLookup::~DirectoryLookup() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
}

DirectoryLookup::Result DirectoryLookup::to_login(const std::string& name, const char* scram,
                                                  const char* practice, const char* pool_mode) {
    std::string entry = "[[login]]\nname = " + toml_quote(name) + "\n";
    if (scram) entry += "scram = " + toml_quote(scram) + "\n";
    if (practice) entry += "practice = " + toml_quote(practice) + "\n";
    if (pool_mode) entry += "pool_mode = " + toml_quote(pool_mode) + "\n";
    try {
        auto dir = auth::PracticeDirectory::parse(entry);
        if (const auth::Login* login = dir->find(name)) return {*login, {}};
        return {std::nullopt, "the row did not make a login"};
    } catch (const auth::DirectoryError& e) {
        return {std::nullopt, std::string("the row is not a valid login: ") + e.what()};
    }
}

awaitable<DirectoryLookup::Result> DirectoryLookup::find(const std::string& name,
                                                         std::chrono::milliseconds timeout) {
    auto pending = std::make_shared<Pending>(co_await asio::this_coro::executor);
    {
        std::lock_guard lock(mu_);
        auto it = cache_.find(name);
        if (it != cache_.end() && std::chrono::steady_clock::now() < it->second.until)
            co_return Result{it->second.login, {}};
        queue_.push_back({name, pending});
    }
    wake_.notify_one();
    pending->timer.expires_after(timeout);
    co_await pending->timer.async_wait(use_tuple);
    if (!pending->done.load(std::memory_order_acquire))
        co_return Result{std::nullopt, fmt::format("no answer within {} ms", timeout.count())};
    co_return std::move(pending->result);
}

void DirectoryLookup::loop(std::stop_token stop) {
    for (;;) {
        Request request;
        {
            std::unique_lock lock(mu_);
            if (!wake_.wait(lock, stop, [this] { return !queue_.empty(); })) return;
            request = std::move(queue_.front());
            queue_.pop_front();
        }
        Result result = query(request.name);
        if (result.error.empty() && result.login && ttl_.count() > 0) {
            std::lock_guard lock(mu_);
            cache_[request.name] = {*result.login, std::chrono::steady_clock::now() + ttl_};
        }
        auto pending = std::move(request.pending);
        pending->result = std::move(result);
        pending->done.store(true, std::memory_order_release);
        asio::post(pending->timer.get_executor(), [pending] { pending->timer.cancel(); });
    }
}

DirectoryLookup::Result DirectoryLookup::query(const std::string& name) {
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
        conn_.reset(PQconnectdb(conninfo_.c_str()));
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
            std::string why = message_of(PQerrorMessage(conn_.get()));
            conn_.reset();
            return {std::nullopt, "cannot connect as tenant.directory_user: " + why};
        }
    }
    const char* params[] = {name.c_str()};
    std::unique_ptr<PGresult, decltype(&PQclear)> res(
        PQexecParams(conn_.get(), query_.c_str(), 1, nullptr, params, nullptr, nullptr, 0),
        &PQclear);
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
        return {std::nullopt,
                "tenant.directory_query failed: " + message_of(PQresultErrorMessage(res.get()))};
    }
    const int fields = PQnfields(res.get());
    if (fields != 2 && fields != 3)
        return {std::nullopt,
                "tenant.directory_query must return the columns scram, practice and "
                "optionally pool_mode"};
    if (PQntuples(res.get()) == 0) return {};
    if (PQntuples(res.get()) > 1)
        return {std::nullopt, "tenant.directory_query returned more than one row"};
    auto value = [&](int column) -> const char* {
        return PQgetisnull(res.get(), 0, column) ? nullptr : PQgetvalue(res.get(), 0, column);
    };
    return to_login(name, value(0), value(1), fields == 3 ? value(2) : nullptr);
}

}  // namespace pgtenant::proxy
