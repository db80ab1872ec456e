// An admin login's session: the console (proxy/admin/console.h) over the simple protocol. It
// never leases a server connection.
#include <spdlog/spdlog.h>

#include "pgtenant_version.h"
#include "protocol/builders.h"
#include "protocol/messages.h"
#include "proxy/admin/console.h"
#include "proxy/session/session.h"

namespace pgtenant::proxy {

namespace errors = protocol::errors;
namespace build = protocol::build;

namespace {
constexpr std::size_t kMaxConsoleMessage = 64 * 1024;
}

awaitable<bool> Session::send_console_welcome() {
    std::string out;
    build::auth_ok(out);
    // What the server reported, when pgtenant has a server connection open; the console
    // itself opens none.
    auto params = app_.pool->server_params();
    if (params.empty()) {
        params = {{"server_version", PGTENANT_VERSION}, {"server_encoding", "UTF8"},
                  {"client_encoding", "UTF8"},          {"DateStyle", "ISO, MDY"},
                  {"integer_datetimes", "on"},          {"standard_conforming_strings", "on"}};
    }
    for (auto& [name, value] : params) build::parameter_status(out, name, value);
    build::parameter_status(out, "application_name", "pgtenant console");
    build::backend_key_data(out, 0, 0);  // nothing to cancel
    build::ready_for_query(out, 'I');
    spdlog::info("{} logged in to the admin console{}", prefix(), client_.is_tls() ? " (TLS)" : "");
    co_return co_await write_client(out);
}

awaitable<void> Session::serve_console() {
    const std::string who = prefix();
    const admin::ConsoleCaller caller{who, user_, client_addr_, id_};
    bool skipping = false;  // after an extended-protocol message, until its Sync
    std::string msg;
    for (;;) {
        auto r = co_await read_message(client_, client_buf_, kMaxConsoleMessage, msg);
        if (r == FrameRead::closed || client_gone_) break;
        if (r != FrameRead::ok) {
            co_await refuse(errors::protocol_violation("invalid message length"));
            break;
        }
        admin::Slot::add(slot_->bytes_received, msg.size());
        const char tag = msg[0];
        std::string out;
        switch (tag) {
            case 'X':
                co_return;
            case 'Q': {
                auto text = protocol::decode_query(std::string_view(msg).substr(5));
                if (!text) {
                    co_await refuse(errors::protocol_violation("malformed Query message"));
                    co_return;
                }
                co_await admin::run_console(app_, *text, caller, out);
                build::ready_for_query(out, 'I');
                break;
            }
            case 'S':
                skipping = false;
                build::ready_for_query(out, 'I');
                break;
            case 'H':
                break;
            case 'P':
            case 'B':
            case 'D':
            case 'E':
            case 'C':
            case 'F':
                if (!skipping) {
                    refused(errors::console_simple_protocol_only());
                    protocol::encode_error(out, errors::console_simple_protocol_only());
                }
                if (tag == 'F') {
                    build::ready_for_query(out, 'I');
                } else {
                    skipping = true;
                }
                break;
            default:
                co_await refuse(errors::protocol_violation(fmt::format(
                    "unexpected message type 0x{:02x} after login", static_cast<uint8_t>(tag))));
                co_return;
        }
        if (!out.empty() && !co_await write_client(out)) break;
    }
    client_.close();
}

}  // namespace pgtenant::proxy
