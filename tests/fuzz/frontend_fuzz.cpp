// Fuzz target: what a logged-in client sends, read the way the session reads it
// (proxy/session/serve.cpp, statements.cpp, startup.cpp): frames cut with the
// session's cap, then per tag
//   'Q' Query and 'p' PasswordMessage (MD5 answer): decode_query
//   'P' Parse: decode_parse, and the client's named statement recorded (ClientStatements)
//   'B' Bind: the statement name read, and the Bind rewritten for the server copy (rebind)
//   'D' Describe / 'C' Close: kind and name read; Close of a statement forgets it
//   'p' SASLInitialResponse: decode_sasl_initial
// Checked besides "no crash": accepted messages re-encode to the same bytes; a rebound Bind is
// one well-formed frame that differs from the client's only in the statement name; the
// statement map agrees with a plain model of it.
#include <map>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "protocol/builders.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/wire.h"
#include "proxy/statements.h"

namespace pgtenant::fuzz {
namespace {

using protocol::FrameStatus;
using protocol::MessageReader;
using protocol::MessageWriter;

struct Session {
    proxy::ClientStatements statements;
    std::map<std::string, std::string, std::less<>> model;  // name -> server name
};

void on_query(std::string_view body) {
    auto q = protocol::decode_query(body);
    if (!q) return;
    std::string again;
    protocol::build::query(again, *q);
    FUZZ_CHECK(std::string_view(again).substr(5) == body);
    FUZZ_CHECK(q->find('\0') == std::string_view::npos);
}

void on_parse(std::string_view body, Session& s) {
    auto p = protocol::decode_parse(body);
    if (!p) return;
    std::string again;
    MessageWriter w(again);
    w.begin('P').cstring(p->name).cstring(p->query);
    w.int16(static_cast<int16_t>(p->param_types.size()));
    for (int32_t t : p->param_types) w.int32(t);
    w.end();
    FUZZ_CHECK(std::string_view(again).substr(5) == body);
    if (p->name.empty()) return;
    const auto& added = s.statements.add(std::string(p->name), p->query, p->param_types);
    FUZZ_CHECK(added.query == p->query && added.param_types == p->param_types);
    FUZZ_CHECK(added.server_name == proxy::server_statement_name(p->query, p->param_types));
    FUZZ_CHECK(added.server_name.starts_with("pgt_") && added.server_name.size() == 36);
    s.model[std::string(p->name)] = added.server_name;
}

void on_bind(std::string_view body, Session& s) {
    MessageReader reader(body);
    const auto portal = reader.cstring();
    const auto name = reader.cstring();
    const bool readable = reader.ok();
    const auto rest = reader.rest();
    const auto* st = readable ? s.statements.find(name) : nullptr;
    const auto it = readable ? s.model.find(name) : s.model.end();
    FUZZ_CHECK((st != nullptr) == (it != s.model.end()));
    if (st) FUZZ_CHECK(st->server_name == it->second);

    const std::string server_name = st ? st->server_name : "pgt_0123456789abcdef0123456789abcdef";
    std::string out;
    const bool rebound = protocol::build::rebind(out, body, server_name);
    FUZZ_CHECK(rebound == readable);
    if (!rebound) {
        FUZZ_CHECK(out.empty());
        return;
    }
    protocol::Frame f;
    FUZZ_CHECK(protocol::peek_frame(out, out.size(), f) == FrameStatus::complete);
    FUZZ_CHECK(f.tag == 'B' && f.total_size == out.size());
    MessageReader again(f.body());
    FUZZ_CHECK(again.cstring() == portal);
    FUZZ_CHECK(again.cstring() == server_name);
    FUZZ_CHECK(again.ok() && again.rest() == rest);
}

void on_describe_or_close(char tag, std::string_view body, Session& s) {
    MessageReader reader(body);
    const char kind = static_cast<char>(reader.byte());
    const auto name = reader.cstring();
    if (!reader.ok() || kind != 'S' || name.empty()) return;
    if (tag == 'C') {
        s.statements.remove(name);
        if (auto it = s.model.find(name); it != s.model.end()) s.model.erase(it);
        FUZZ_CHECK(s.statements.find(name) == nullptr);
        return;
    }
    FUZZ_CHECK((s.statements.find(name) != nullptr) == s.model.contains(name));
    std::string out;
    protocol::build::describe(out, kind, name);
    FUZZ_CHECK(std::string_view(out).substr(5) == body.substr(0, name.size() + 2));
}

void on_password(std::string_view body) {
    on_query(body);  // an MD5 answer is one C string
    auto s = protocol::decode_sasl_initial(body);
    if (!s) return;
    std::string again;
    if (s->data) {
        protocol::build::sasl_initial(again, s->mechanism, *s->data);
    } else {
        MessageWriter(again).begin('p').cstring(s->mechanism).int32(-1).end();
    }
    FUZZ_CHECK(std::string_view(again).substr(5) == body);
}

void fuzz_one(std::string_view in) {
    // The first byte picks the cap (the session's default, or a small configured one).
    if (in.empty()) return;
    const std::size_t cap = (in[0] & 1) ? (std::size_t{64} << 20) : 1024;
    in.remove_prefix(1);
    Session s;
    while (!in.empty()) {
        protocol::Frame f;
        const auto st = protocol::peek_frame(in, cap, f);
        if (st != FrameStatus::complete) return;  // the session ends with 08P01 or waits
        FUZZ_CHECK(f.total_size <= cap && f.total_size <= in.size());
        const std::string_view body = f.body();
        switch (f.tag) {
            case 'Q':
                on_query(body);
                break;
            case 'P':
                on_parse(body, s);
                break;
            case 'B':
                on_bind(body, s);
                break;
            case 'D':
            case 'C':
                on_describe_or_close(f.tag, body, s);
                break;
            case 'p':
                on_password(body);
                break;
            default:
                break;  // forwarded as bytes
        }
        in.remove_prefix(f.total_size);
    }
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
