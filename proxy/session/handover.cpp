// A session's part in a binary upgrade (proxy/handover/handover.h): the old process passes a
// client that is between transactions to its successor with a snapshot of its session, and the
// successor serves it from there. The client notices nothing: no message is sent either way.
#include "proxy/handover/handover.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "proxy/handover/snapshot.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;

// Whether the session can move to a successor now: between transactions, with nothing of
// its own on a server connection and nothing the old process must still do for it.
bool Session::can_move() const {
    return !admin_ && !client_.is_tls() && !conv_.session_pooling() && !login_removed_ &&
           !terminating_ && !client_gone_ && !server_ && !large_message_ &&
           between_transactions() && !conv_.settings().has_unsettled() && !client_.writing();
}

// While draining into a successor (each sweep of the worker): a client waiting between
// transactions is woken to move; one that can never move is ended as in a plain drain.
void Session::hand_over_if_idle() {
    if (admin_ || client_.is_tls() || conv_.session_pooling() || login_removed_)
        return end_if_idle();
    if (handing_over_ || !idle_wait_ || !can_move()) return;
    handing_over_ = true;
    error_code ignored;
    client_.socket().cancel(ignored);  // serve() goes on in hand_over()
}

// The socket and the session's snapshot go to the successor, with `pending`: what the client
// sent that this process read but did not act on. True when they went: the session then ends
// here without a word to the client. False when there is no successor to take it.
bool Session::hand_over(std::string_view pending) {
    handover::SessionSnapshot s;
    s.user = user_;
    s.practice = practice_;
    s.database = request_.database;
    s.from_lookup = from_lookup_;
    s.startup = request_.params;
    conv_.snapshot_into(s);
    s.cancel_pid = cancel_pid_;
    s.cancel_key = cancel_key_;
    s.connect_time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(connect_time_.time_since_epoch())
            .count();
    s.transactions = transactions_;
    s.old_session = id_;
    s.pending.assign(pending);
    auto* outbox = app_.handover.load();
    if (!outbox || !outbox->send(client_.socket().native_handle(), handover::encode(s)))
        return false;
    handed_over_ = true;
    spdlog::info("{} handed over to the successor", prefix());
    // Closed without a shutdown: the connection lives on in the successor.
    error_code ignored;
    client_.socket().close(ignored);
    client_gone_ = true;
    return true;
}

// In the successor, on worker `worker`: the client socket `fd` and its session go on here.
void Session::adopt(App& app, int worker, int fd, handover::SessionSnapshot snapshot) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) || app.shutting_down) {
        ::close(fd);
        return;
    }
    const auto& executor = app.workers[static_cast<std::size_t>(worker)];
    tcp::socket socket(executor);
    error_code ec;
    socket.assign(addr.ss_family == AF_INET ? tcp::v4() : tcp::v6(), fd, ec);
    if (ec) {
        ::close(fd);
        return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto session = std::make_shared<Session>(app, std::move(socket), worker);
    release_cached_frames();
    asio::co_spawn(executor, resume(std::move(session), std::move(snapshot)), asio::detached);
}

awaitable<void> Session::resume(std::shared_ptr<Session> self, handover::SessionSnapshot s) {
    Session& session = *self;
    RelayStopper stop_relay{session};
    if (!co_await session.take_over(std::move(s))) co_return;
    release_cached_frames();
    co_await session.serve();
}

// The snapshot's session becomes this one. False when it cannot go on here (the client was
// told why): its login is no longer one in this process's users file.
awaitable<bool> Session::take_over(handover::SessionSnapshot s) {
    counted_ = true;
    ++app_.clients;  // let in whatever the limits: it was in already
    user_ = s.user;
    practice_ = s.practice;
    request_.user = s.user;
    request_.database = s.database;
    request_.params = s.startup;
    from_lookup_ = s.from_lookup;
    connect_time_ =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(s.connect_time_ms));
    transactions_ = s.transactions;
    conv_.start(s.startup, false, id_);
    conv_.resume_from(s, app_.guard);
    if (!s.pending.empty()) {
        auto room = client_buf_.prepare(s.pending.size());
        std::memcpy(room.data(), s.pending.data(), s.pending.size());
        client_buf_.commit(s.pending.size());
    }
    if (!from_lookup_) {
        const auth::Login* login = app_.directory()->find(user_);
        if (!login || login->admin || login->practice_id != practice_) {
            spdlog::info("{} taken over, but its login is not in this process's users file",
                         prefix());
            co_await refuse(errors::login_removed(user_));
            co_return false;
        }
    }
    app_.practice_clients.enter(practice_, 0);
    practice_counted_ = true;
    cancel_slot_ = std::make_shared<CancelSlot>();
    if (app_.cancels.add_as(s.cancel_pid, s.cancel_key, cancel_slot_)) {
        cancel_pid_ = s.cancel_pid;
        cancel_key_ = s.cancel_key;
    } else {
        spdlog::warn("{} its cancel key is taken here: its requests cannot be cancelled", prefix());
    }
    logged_in("handover");
    spdlog::info("{} taken over from the old process's c{}", prefix(), s.old_session);
    co_return true;
}

}  // namespace pgtenant::proxy
