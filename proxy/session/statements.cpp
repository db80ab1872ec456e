// Prepared statements: the waits the Conversation asks for while it forwards a client message
// (conversation_forward.cpp says why a statement's shape must sometimes be learned first).
#include "protocol/builders.h"
#include "proxy/refusal_log.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace build = protocol::build;

namespace {
bool refused_so(const Conversation::Forwarded& f) {
    return f.kind == Conversation::Forwarded::Kind::refused && f.refusal;
}
}  // namespace

// Forwards one client message (Conversation::forward). Without a coroutine: nearly every
// message is sent at once. A statement prepared again here whose client must keep the shape
// it knew is not: the Describe's cookie comes back, for send_after_shape_check.
std::optional<protocol::Cookie> Session::send_client_message(const protocol::ClientMessage& m) {
    auto f = conv_.forward(m, decision_);
    if (f.kind == Conversation::Forwarded::Kind::shape_check) return f.describe;
    if (refused_so(f)) refused(*f.refusal);
    return std::nullopt;
}

// Sends what is pending, waits for the answer to the hidden Describe `describe`, and lets `m`
// go on (or be refused) by the shape it gave.
awaitable<void> Session::send_after_shape_check(const protocol::ClientMessage& m,
                                                protocol::Cookie describe) {
    Conversation::ShapeCheck check;  // not sent (0): the server skips to the Sync
    if (describe != 0) {
        build::flush(to_server_);  // the server holds replies back until asked
        conv_.start_shape_check(describe);
        auto* conn = server_.get();
        co_await flush_to_server();
        while (server_.get() == conn && !conv_.shape_check_done()) co_await wait_relay();
        check = conv_.take_shape_check();
    }
    if (!server_) co_return;  // lost meanwhile: the client has its error
    auto f = conv_.finish_use(m, std::move(check));
    if (refused_so(f)) refused(*f.refusal);
}

}  // namespace pgtenant::proxy
