// The session's state machine (proxy/session/conversation.h) under any sequence of client
// messages and server replies, without sockets: what session_fuzz does through the whole proxy,
// small enough for libFuzzer (no Asio, no coroutines). The input is a program: each step
// either hands the Conversation a client message (drawn from what drivers send, or with
// bytes from the input), a server reply (well formed or not, expected or not), or ends,
// loses or changes the server connection.
//
// Checked: nothing crashes or trips the sanitizers; what the client is sent is whole backend
// messages; a connection goes back to the pool only with nothing outstanding; a lost
// connection leaves the client outside any transaction block.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/frame.h"
#include "protocol/guard/guard.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/session/conversation.h"

namespace {

using namespace pgtenant;
namespace build = protocol::build;
using proxy::Conversation;
using proxy::ServerState;

class Input {
  public:
    explicit Input(std::string_view data) : data_(data) {}
    bool done() const { return pos_ >= data_.size(); }
    uint8_t byte() { return done() ? 0 : static_cast<uint8_t>(data_[pos_++]); }
    std::string_view bytes(std::size_t n) {
        n = std::min(n, data_.size() - pos_);
        auto out = data_.substr(pos_, n);
        pos_ += n;
        return out;
    }

  private:
    std::string_view data_;
    std::size_t pos_ = 0;
};

const char* const kStatements[] = {
    "SELECT 1",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT a",
    "ROLLBACK TO SAVEPOINT a",
    "SET TimeZone = 'UTC'",
    "SET LOCAL work_mem = '1MB'",
    "RESET TimeZone",
    "RESET ALL",
    "SELECT set_config('search_path', 'public', false)",
    "SET app.current_practice_id = '2'",
    "PREPARE q (int) AS SELECT $1",
    "EXECUTE q (1)",
    "DEALLOCATE q",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "COPY t FROM STDIN",
    "VACUUM",
    "SELECT 1; SELECT 2",
};
const char* const kNames[] = {"", "s1", "s2", "q"};

std::string client_message(Input& in) {
    std::string m;
    const char* sql = kStatements[in.byte() % std::size(kStatements)];
    const char* name = kNames[in.byte() % std::size(kNames)];
    switch (in.byte() % 9) {
        case 0:
            build::query(m, sql);
            break;
        case 1:
            build::parse(m, name, sql);
            break;
        case 2:
            build::bind(m, name, {});
            break;
        case 3:
            build::describe(m, in.byte() % 2 ? 'S' : 'P', name);
            break;
        case 4:
            build::close(m, 'S', name);
            break;
        case 5:
            build::execute(m);
            break;
        case 6:
            build::sync(m);
            break;
        case 7: {  // any body
            const char tag = "QPBDCEFS"[in.byte() % 8];
            protocol::MessageWriter(m).begin(tag).bytes(in.bytes(in.byte() % 24)).end();
            break;
        }
        default:
            protocol::MessageWriter(m).begin('F').int32(1).int16(0).int16(0).int16(0).end();
    }
    return m;
}

std::string server_message(Input& in) {
    std::string m;
    switch (in.byte() % 16) {
        case 0:
            build::ready_for_query(m, "ITE"[in.byte() % 3]);
            break;
        case 1:
            build::command_complete(m, "SELECT 1");
            break;
        case 2:
            m.assign("1\0\0\0\4", 5);  // ParseComplete
            break;
        case 3:
            m.assign("2\0\0\0\4", 5);  // BindComplete
            break;
        case 4:
            m.assign("3\0\0\0\4", 5);  // CloseComplete
            break;
        case 5:
            m.assign("n\0\0\0\4", 5);  // NoData
            break;
        case 6: {
            static const char* const codes[] = {"42P01", "25P02", "0A000", "26000", "57P01"};
            protocol::encode_error(
                m, {in.byte() % 5 ? "ERROR" : "FATAL", codes[in.byte() % 5], "failed"});
            break;
        }
        case 7:
            build::parameter_status(m, in.byte() % 2 ? "TimeZone" : "application_name",
                                    in.byte() % 2 ? "UTC" : "Asia/Tokyo");
            break;
        case 8: {
            const std::string value(in.bytes(in.byte() % 12));
            protocol::MessageWriter(m)
                .begin('D')
                .int16(1)
                .int32(static_cast<int32_t>(value.size()))
                .bytes(value)
                .end();
            break;
        }
        case 9:
            protocol::MessageWriter(m)
                .begin('T')
                .int16(1)
                .cstring("x")
                .int32(0)
                .int16(0)
                .int32(static_cast<int32_t>(in.byte()))
                .int16(4)
                .int32(-1)
                .int16(0)
                .end();
            break;
        case 10:
            protocol::MessageWriter(m).begin('t').int16(0).end();
            break;
        case 11:
            protocol::MessageWriter(m).begin('G').byte(0).int16(0).end();
            break;
        case 12:
            protocol::MessageWriter(m).begin('N').byte(0).end();
            break;
        default: {  // any body, under a tag the server sends
            const char tag = "ZCEDTStnGNIs123"[in.byte() % 15];
            protocol::MessageWriter(m).begin(tag).bytes(in.bytes(in.byte() % 24)).end();
        }
    }
    return m;
}

// Whole backend messages, nothing else.
void check_whole_messages(std::string_view out) {
    while (!out.empty()) {
        protocol::Frame f;
        const auto st = protocol::peek_frame(out, std::size_t{1} << 30, f);
        FUZZ_CHECK(st == protocol::FrameStatus::complete);
        out.remove_prefix(f.total_size);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static protocol::guard::StatementGuard classifier;
    static const std::string tenant_setting = "app.current_practice_id";
    Input in(pgtenant::fuzz::as_view(data, size));
    Conversation c;
    const uint8_t setup = in.byte();
    c.start({{"timezone", "Asia/Tokyo"}}, setup & 1, 1);
    c.told("TimeZone", "Asia/Tokyo");
    const Conversation::Policy policy{tenant_setting, (setup & 2) != 0, classifier};
    auto server = std::make_unique<ServerState>();
    std::string to_server, to_client;
    bool leased = false;
    for (int steps = 0; !in.done() && steps < 200; ++steps) {
        if (!leased) {
            c.leased(*server, to_server);
            leased = true;
        }
        switch (in.byte() % 6) {
            case 0:
            case 1: {  // a client message, as the serve loop hands it over
                const std::string bytes = client_message(in);
                const auto m = protocol::decode_client_message(bytes);
                if (!m) break;  // the session ends with 08P01
                if (c.segment() == Conversation::Segment::skipping) {
                    // The session skips to the Sync after an error it answered itself.
                    if (m->tag == 'S') c.close_segment();
                    break;
                }
                if (c.segment() == Conversation::Segment::closed) c.forget_may_begin();
                std::string local;
                auto d = c.on_client_message(*m, policy, local);
                check_whole_messages(local);
                if (!local.empty()) break;
                c.open_segment();
                if (d.refusal) {
                    c.substitute(*m, std::move(*d.refusal));
                } else {
                    c.place_binding(d.binding == Conversation::Binding::before);
                    auto f = c.forward(*m, d);
                    if (f.kind == Conversation::Forwarded::Kind::shape_check) {
                        Conversation::ShapeCheck check;
                        if (in.byte() % 2) check.shape = in.byte();
                        f = c.finish_use(*m, check);
                    }
                    c.sent(d);
                }
                if (m->tag == 'Q' || m->tag == 'S' || m->tag == 'F') c.close_segment();
                break;
            }
            case 2:
            case 3: {  // a server message
                const std::string bytes = server_message(in);
                const std::size_t before = to_client.size();
                // A row goes the short way when the relay would send it so.
                if (bytes[0] != 'D' || !c.forward_rows(bytes, to_client))
                    c.on_server_message(bytes[0], bytes, to_client);
                check_whole_messages(std::string_view(to_client).substr(before));
                break;
            }
            case 4: {  // between transactions: settings applied or read back
                if (c.read_back_due(*server)) {
                    c.append_read_back(*server, to_server);
                } else if (c.block() == Conversation::Block::idle) {
                    c.probe_started();
                    auto changes = c.append_settings(*server, to_server);
                    if (in.byte() % 2) c.settings_result(changes, *server);
                }
                break;
            }
            default:  // the connection goes back, is lost, or another one comes
                if (c.releasable(*server)) {
                    FUZZ_CHECK(server->tracker().idle());
                    c.let_go();
                    leased = false;
                } else if (in.byte() % 4 == 0) {
                    c.forget_tracked();
                    c.server_lost(!server->tracker().idle(), false);
                    FUZZ_CHECK(c.block() == Conversation::Block::idle);
                    c.close_segment();
                    c.let_go();
                    server = std::make_unique<ServerState>();
                    leased = false;
                }
        }
        if (to_server.size() > (1 << 16)) to_server.clear();
        if (to_client.size() > (1 << 16)) to_client.clear();
    }
    return 0;
}
