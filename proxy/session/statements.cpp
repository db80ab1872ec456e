// Prepared statements: the waits the Conversation asks for while it forwards a client message
// (conversation_forward.cpp says why a statement's shape must sometimes be learned first).
#include "protocol/builders.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;

// Forwards one client message (Conversation::forward), waiting first for a re-prepared
// statement's shape where the client's must keep its own.
awaitable<void> Session::send_client_message(const protocol::ClientMessage& m) {
    auto f = conv_.forward(m, decision_);
    if (f.kind == Conversation::Forwarded::Kind::shape_check) {
        auto check = co_await current_shape(f.describe);
        if (!server_) co_return;  // lost meanwhile: the client has its error
        f = conv_.finish_use(m, std::move(check));
    }
    if (f.kind == Conversation::Forwarded::Kind::refused && f.refusal) refused(*f.refusal);
}

// Sends what is pending and waits for the answer to the hidden Describe `describe`.
awaitable<Conversation::ShapeCheck> Session::current_shape(protocol::Cookie describe) {
    // Not sent: the server skips to the Sync.
    if (describe == 0) co_return Conversation::ShapeCheck{};
    build::flush(to_server_);  // the server holds replies back until asked
    conv_.start_shape_check(describe);
    auto* conn = server_.get();
    co_await flush_to_server();
    while (server_.get() == conn && !conv_.shape_check_done()) co_await wait_relay();
    co_return conv_.take_shape_check();
}

}  // namespace pgtenant::proxy
