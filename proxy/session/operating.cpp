// What a session tells the operator: its counters (admin::Stats), its line in SHOW CLIENTS, its
// audit events, and how the console pauses and ends it.
#include <spdlog/spdlog.h>

#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;
using Clock = std::chrono::steady_clock;

namespace {
std::chrono::microseconds since(Clock::time_point t, Clock::time_point now) {
    return std::chrono::duration_cast<std::chrono::microseconds>(now - t);
}
}  // namespace

std::string Session::client_address() const {
    error_code ec;
    auto ep = client_.socket().remote_endpoint(ec);
    if (ec) return {};
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Authenticated, and about to be welcomed: the session is counted and can be seen.
void Session::logged_in(std::string_view event) {
    auto& stats = *app_.stats;
    slot_ = &(admin_ ? stats.unbound() : stats.practice(practice_)).slot(worker_);
    admin::Slot::add(slot_->logins, 1);
    admin::Slot::add(slot_->clients, 1);
    app_.registry.add(worker_, this);
    registered_ = true;
    client_addr_ = client_address();
    app_.audit_event({.event = event,
                      .practice = practice_,
                      .login = user_,
                      .client = client_addr_,
                      .detail = admin_ ? "admin console" : "",
                      .session = id_});
}

void Session::refused(const protocol::Error& e, std::string_view context) {
    log_refusal(prefix(), e, context);
    app_.stats->count_refusal(e.rule);
    if (registered_) {
        admin::Slot::add(slot_->refusals, 1);
        admin::Slot::add(slot_->errors, 1);
    } else {
        // Before the login completed: a failed login, by the rule that refused it.
        const auth::Login* login = nullptr;
        auto dir = app_.directory();
        if (!request_.user.empty()) login = dir->find(request_.user);
        auto& stats = *app_.stats;
        auto& target =
            login && !login->admin ? stats.practice(login->practice_id) : stats.unbound();
        admin::Slot::add(target.slot(worker_).login_failures, 1);
        stats.count_login_failure(e.rule.empty() ? "unnamed" : e.rule);
        const std::string client = client_address();
        app_.audit_event({.event = "login_failed",
                          .practice = login ? std::string_view(login->practice_id) : "",
                          .login = request_.user,
                          .client = client,
                          .reason = e.rule,
                          .sqlstate = e.sqlstate,
                          .session = id_});
        return;
    }
    if (app_.audit) {
        app_.audit_event({.event = "refusal",
                          .practice = practice_,
                          .login = user_,
                          .client = client_addr_,
                          .reason = e.rule,
                          .sqlstate = e.sqlstate,
                          .session = id_});
    }
}

// What the relay saw the client answered: request cycles and transactions ended, with their
// times (a batch that ended several pipelined transactions shares its time between them).
void Session::account(Conversation::Tally tally) {
    if (tally.ready == 0 && tally.errors == 0) return;
    admin::Slot& s = *slot_;
    admin::Slot::add(s.errors, tally.errors);
    if (tally.ready == 0) return;
    const auto now = Clock::now();
    admin::Slot::add(s.queries, tally.ready);
    cancel_sent_ = false;
    if (request_started_ != SteadyTime{})
        admin::Slot::add(s.query_us, static_cast<uint64_t>(since(request_started_, now).count()));
    request_started_ = now;
    if (tally.ended == 0) return;
    transactions_ += tally.ended;
    const auto took = xact_started_ == SteadyTime{} ? std::chrono::microseconds(0)
                                                    : since(xact_started_, now) / tally.ended;
    for (uint32_t i = 0; i < tally.ended; ++i) s.record_transaction(took);
    xact_started_ = conv_.block() == Conversation::Block::idle ? SteadyTime{} : now;
}

// PAUSE: no new transaction starts for this practice until RESUME (or the client is ended).
awaitable<void> Session::wait_while_paused() {
    waiting_ = true;
    request_started_ = Clock::now();
    admin::Slot::add(slot_->waiting, 1);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (app_.pauses.paused(practice_) && !client_gone_ && !app_.shutting_down) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(use_tuple);
    }
    admin::Slot::add(slot_->waiting, -1);
    waiting_ = false;
}

admin::ClientInfo Session::describe() const {
    admin::ClientInfo c;
    c.id = id_;
    c.user = user_;
    c.practice = practice_;
    c.database = request_.database;
    c.state = waiting_ ? "waiting" : server_ ? "active" : "idle";
    error_code ec;
    auto ep = client_.socket().remote_endpoint(ec);
    if (!ec) {
        c.addr = ep.address().to_string();
        c.port = ep.port();
    }
    c.connect_time = connect_time_;
    if (request_started_ != SteadyTime{}) {
        c.request_time = std::chrono::system_clock::now() -
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             Clock::now() - request_started_);
    } else {
        c.request_time = connect_time_;
    }
    if (waiting_) c.wait = since(request_started_, Clock::now());
    c.tls = client_.is_tls();
    if (auto it = request_.params.find("application_name"); it != request_.params.end())
        c.application_name = it->second;
    c.server = server_ ? server_->id() : 0;
    c.worker = worker_;
    c.prepared_statements = conv_.statements().size();
    return c;
}

void Session::end_with(protocol::Error e) {
    if (terminating_ || client_gone_) return;
    terminating_ = true;
    asio::co_spawn(
        client_.get_executor(),
        [self = shared_from_this(), e = std::move(e)]() -> awaitable<void> {
            co_await self->refuse(e);
            // Whatever it had open on the server is rolled back with the connection.
            if (self->admin_) {
                self->client_gone_ = true;
            } else {
                self->client_lost();
            }
        },
        asio::detached);
}

// The worker's sweep: a request the server has not answered within query_timeout is cancelled
// (the server answers 57014); a client quiet inside a transaction for idle_transaction_timeout,
// or outside one for client_idle_timeout, is disconnected. "Quiet" is measured from the last
// client message the sweeps saw and the last reply, so the hot path only counts messages.
void Session::enforce_timeouts(SteadyTime now) {
    if (admin_ || terminating_ || client_gone_) return;
    if (messages_ != swept_messages_) {
        swept_messages_ = messages_;
        quiet_since_ = now;
    }
    const auto& cfg = app_.config->server;
    if (server_ && !server_->tracker().idle()) {
        if (cfg.query_timeout.count() > 0 && now - request_started_ > cfg.query_timeout &&
            !cancel_sent_ && !conv_.copy_awaited()) {
            cancel_sent_ = true;
            spdlog::info("{} request running over server.query_timeout_ms ({} ms): cancelling it",
                         prefix(), cfg.query_timeout.count());
            asio::co_spawn(client_.get_executor(),
                           send_cancel(app_.config->backend, server_->pid(), server_->key()),
                           asio::detached);
        }
        return;
    }
    if (conv_.segment() == Conversation::Segment::open || waiting_) return;
    const auto quiet = now - std::max(quiet_since_, request_started_);
    const bool in_transaction = conv_.block() != Conversation::Block::idle;
    if (in_transaction && cfg.idle_transaction_timeout.count() > 0 &&
        quiet > cfg.idle_transaction_timeout) {
        end_with(errors::idle_transaction_timeout());
    } else if (!in_transaction && cfg.client_idle_timeout.count() > 0 &&
               quiet > cfg.client_idle_timeout) {
        end_with(errors::idle_session_timeout());
    }
}

bool Session::between_transactions() const {
    if (server_ && !server_->tracker().idle()) return false;
    if (waiting_ || conv_.segment() == Conversation::Segment::open) return false;
    return conv_.block() == Conversation::Block::idle && !aborted_;
}

void Session::end_if_idle() {
    if (admin_ || between_transactions()) end_with(errors::shutting_down());
}

bool Session::check_login(const auth::PracticeDirectory& directory) {
    if (from_lookup_) return false;  // not the users file's: a reload of it changes nothing
    const auth::Login* login = directory.find(user_);
    if (login && login->admin == admin_ && login->practice_id == practice_) return false;
    if (terminating_ || client_gone_) return false;
    if (!login_removed_)
        spdlog::info("{} login removed or changed by a reload: ends after its transaction",
                     prefix());
    login_removed_ = true;
    if (!admin_ && !between_transactions()) return true;
    end_with(errors::login_removed(user_));
    return false;
}

}  // namespace pgtenant::proxy
