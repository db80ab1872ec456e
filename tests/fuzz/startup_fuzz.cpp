// Fuzz target: the first bytes a client sends, taken the way the session takes them
// (proxy/session/startup.cpp): peek_startup with the session's cap, decode_startup of the
// packet, and for a StartupMessage the startup parameters' policy (parse_startup_request).
//
// Input: the raw bytes of a connection's start, length word first. Checked besides "no crash":
// the frame agrees with its length word; an accepted packet re-encodes to the same bytes; an
// accepted request never carries a reserved setting, names a user, and holds only settings
// whose names are lower-case; any setting the policy keeps was in the packet.
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/guard/judge.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/client_params.h"

namespace pgtenant::fuzz {
namespace {

using protocol::FrameStatus;
using protocol::StartupKind;

constexpr std::size_t kMaxStartupPacket = 10000;  // PostgreSQL's limit, as the session uses

void check_request(const protocol::StartupMessage& msg) {
    const std::string tenant_setting = "app.current_practice_id";
    proxy::StartupRequest req;
    const auto error = proxy::parse_startup_request(msg, tenant_setting, req);
    if (error) {
        FUZZ_CHECK(!error->sqlstate.empty() && !error->message.empty());
        return;
    }
    FUZZ_CHECK(!req.user.empty() && !req.database.empty());
    const std::string* user = msg.find("user");
    FUZZ_CHECK(user != nullptr && *user == req.user);
    for (const auto& [name, value] : req.params) {
        FUZZ_CHECK(!name.empty());
        FUZZ_CHECK(name == proxy::lower(name));
        // The tenant contract (DESIGN 3.1): nothing reserved gets through.
        FUZZ_CHECK(!protocol::guard::is_reserved_setting(name, tenant_setting));
        // Either a parameter of the packet itself, or one from its options.
        bool from_packet = false;
        for (const auto& [k, v] : msg.params) from_packet = from_packet || proxy::lower(k) == name;
        FUZZ_CHECK(from_packet || msg.find("options") != nullptr);
    }
}

void check_packet(std::string_view packet) {
    auto p = protocol::decode_startup(packet.substr(4));
    if (!p) return;
    std::string again;
    switch (p->kind) {
        case StartupKind::startup:
            FUZZ_CHECK((p->code >> 16) == 3);
            // "_pq_." options are kept apart from the parameters (their values dropped): no
            // parameter is one, every option is one, and a packet without any re-encodes.
            for (const auto& [name, value] : p->startup.params)
                FUZZ_CHECK(!name.starts_with(protocol::kProtocolOptionPrefix));
            for (const auto& name : p->startup.protocol_options)
                FUZZ_CHECK(name.starts_with(protocol::kProtocolOptionPrefix));
            if (p->code == protocol::kProtocolV3 && p->startup.protocol_options.empty()) {
                protocol::build::startup(again, p->startup.params);
                FUZZ_CHECK(again == packet);
            }
            check_request(p->startup);
            break;
        case StartupKind::cancel:
            protocol::build::cancel_request(again, p->cancel.pid, p->cancel.key);
            FUZZ_CHECK(again == packet);
            break;
        case StartupKind::ssl_request:
        case StartupKind::gssenc_request:
            FUZZ_CHECK(packet.size() == 8);
            break;
        case StartupKind::unsupported_version:
            FUZZ_CHECK((p->code >> 16) != 3);
            break;
    }
}

void fuzz_one(std::string_view in) {
    // A client may send an SSLRequest first and then its StartupMessage: walk packets as the
    // session does, until one does not frame.
    for (int packets = 0; packets < 4 && !in.empty(); ++packets) {
        protocol::Frame f;
        const FrameStatus st = protocol::peek_startup(in, kMaxStartupPacket, f);
        if (st != FrameStatus::complete) {
            if (st == FrameStatus::too_long) FUZZ_CHECK(f.total_size > kMaxStartupPacket);
            return;
        }
        FUZZ_CHECK(f.total_size == protocol::load_u32(in.data()));
        check_packet(f.bytes);
        in.remove_prefix(f.total_size);
    }
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
