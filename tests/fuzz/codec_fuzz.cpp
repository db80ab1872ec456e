// Fuzz target for the pure wire codec: framing, every decoder, and the ReplyTracker.
//
// Built as a libFuzzer binary or with the plain driver (fuzz_driver.cpp); see README.md.
// Seeds: corpus/codec_fuzz (written by make_corpus.cpp).
//
// Besides "no crash, no sanitizer report", it checks properties: frame sizes are consistent
// with the buffer and the cap, anything a decoder accepts re-encodes to the identical bytes,
// and the tracker's bookkeeping never contradicts its own verdicts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <string>
#include <string_view>

#include "protocol/builders.h"
#include "protocol/errors.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "protocol/replies.h"
#include "protocol/row_shape.h"
#include "protocol/wire.h"

namespace pgtenant::protocol {
namespace {

std::string_view g_input;  // for the failure report

[[noreturn]] void check_failed(const char* what, int line) {
    std::fprintf(stderr, "codec_fuzz: check failed at line %d: %s\ninput (%zu bytes):", line, what,
                 g_input.size());
    for (unsigned char c : g_input) std::fprintf(stderr, " %02x", c);
    std::fprintf(stderr, "\n");
    std::abort();
}

#define FUZZ_CHECK(cond)                            \
    do {                                            \
        if (!(cond)) check_failed(#cond, __LINE__); \
    } while (0)

// --- framing ---

void check_frame(std::string_view in, std::size_t cap, bool startup) {
    const std::size_t header = startup ? 4 : 5;
    Frame f;
    const FrameStatus st = startup ? peek_startup(in, cap, f) : peek_frame(in, cap, f);
    switch (st) {
        case FrameStatus::complete:
            FUZZ_CHECK(in.size() >= header);
            FUZZ_CHECK(f.header_size == header);
            FUZZ_CHECK(f.total_size >= header && f.total_size <= in.size() && f.total_size <= cap);
            FUZZ_CHECK(f.bytes == in.substr(0, f.total_size));
            FUZZ_CHECK(f.body().size() == f.total_size - header);
            FUZZ_CHECK(f.tag == (startup ? 0 : in[0]));
            break;
        case FrameStatus::need_more:
            if (in.size() >= header) {
                FUZZ_CHECK(f.total_size > in.size() && f.total_size <= cap);
                FUZZ_CHECK(f.bytes == in);
            }
            break;
        case FrameStatus::too_short:
            FUZZ_CHECK(in.size() >= header && load_u32(in.data() + header - 4) < 4);
            break;
        case FrameStatus::too_long:
            FUZZ_CHECK(in.size() >= header && f.total_size > cap);
            FUZZ_CHECK(f.total_size == uint64_t{load_u32(in.data() + header - 4)} + header - 4);
            break;
    }
}

// --- decoders: accepted input re-encodes to the same bytes ---

void check_startup(std::string_view body) {
    auto p = decode_startup(body);
    if (!p) return;
    std::string again;
    switch (p->kind) {
        case StartupKind::startup:
            FUZZ_CHECK((p->code >> 16) == 3);
            // "_pq_." options are kept apart (NegotiateProtocolVersion): only a packet
            // without any re-encodes from its parameters.
            if (p->code == kProtocolV3 && p->startup.protocol_options.empty()) {
                build::startup(again, p->startup.params);
                FUZZ_CHECK(std::string_view(again).substr(4) == body);
            }
            for (const auto& [k, v] : p->startup.params) {
                FUZZ_CHECK(!k.empty());
                FUZZ_CHECK(p->startup.find(k) == &v);  // names are unique
            }
            break;
        case StartupKind::cancel:
            build::cancel_request(again, p->cancel.pid, p->cancel.key);
            FUZZ_CHECK(std::string_view(again).substr(4) == body);
            break;
        case StartupKind::ssl_request:
        case StartupKind::gssenc_request:
            FUZZ_CHECK(body.size() == 4);
            break;
        case StartupKind::unsupported_version:
            FUZZ_CHECK((p->code >> 16) != 3);
            break;
    }
}

void check_frontend(std::string_view body) {
    // Decoded once for the session: the same parts as each decoder's, or none.
    for (char tag : {'Q', 'P', 'B', 'D', 'C'}) {
        std::string msg;
        MessageWriter(msg).begin(tag).bytes(body).end();
        auto m = decode_client_message(msg);
        if (tag == 'Q') FUZZ_CHECK(m.has_value() == decode_query(body).has_value());
        if (tag == 'P') FUZZ_CHECK(m.has_value() == decode_parse(body).has_value());
        if (!m) continue;
        FUZZ_CHECK(m->tag == tag && m->body() == body);
        if (tag == 'Q') FUZZ_CHECK(m->text == *decode_query(body));
        if (tag == 'P') FUZZ_CHECK(m->name == decode_parse(body)->name);
    }
    if (auto q = decode_query(body)) {
        std::string again;
        build::query(again, *q);
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
    }
    if (auto p = decode_parse(body)) {
        std::string again;
        MessageWriter w(again);
        w.begin('P').cstring(p->name).cstring(p->query);
        w.int16(static_cast<int16_t>(p->param_types.size()));
        for (int32_t t : p->param_types) w.int32(t);
        w.end();
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
    }
    if (auto s = decode_sasl_initial(body)) {
        std::string again;
        if (s->data) {
            build::sasl_initial(again, s->mechanism, *s->data);
        } else {
            MessageWriter(again).begin('p').cstring(s->mechanism).int32(-1).end();
        }
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
    }
}

void check_backend(std::string_view body) {
    if (auto a = decode_authentication(body)) {
        std::string again;
        MessageWriter(again).begin('R').int32(a->code).bytes(a->data).end();
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
        for (auto m : split_sasl_mechanisms(a->data)) {
            FUZZ_CHECK(!m.empty() && m.find('\0') == std::string_view::npos);
        }
    }
    if (auto p = decode_parameter_status(body)) {
        std::string again;
        build::parameter_status(again, p->name, p->value);
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
    }
    if (auto k = decode_backend_key_data(body)) {
        std::string again;
        build::backend_key_data(again, k->pid, k->key);
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
    }
    if (auto e = decode_error_fields(body)) {
        std::string again;
        encode_error_fields(again, *e);
        FUZZ_CHECK(std::string_view(again).substr(5) == body);
        (void)e->severity();
        (void)e->sqlstate();
        (void)e->message();
    }
}

// RowDescription / NoData, as the session reads a Describe's answer: the shape is a pure
// function of the bytes. (Only for those tags: a body claiming 32767 columns costs as many
// rounds even when it is short, which would slow every other input down.)
void check_row_shape(char tag, std::string_view body) {
    const auto shape = row_shape(tag, body);
    FUZZ_CHECK(shape == row_shape(tag, body));
    if (tag == 'n') FUZZ_CHECK(shape.has_value() == body.empty());
    if (tag != 'T' && tag != 'n') FUZZ_CHECK(!shape);
}

void check_all_decoders(std::string_view body) {
    check_startup(body);
    check_frontend(body);
    check_backend(body);
}

// --- the tracker, driven by one byte per step ---

constexpr Request kRequests[] = {Request::query, Request::function_call, Request::parse,
                                 Request::bind,  Request::describe,      Request::execute,
                                 Request::close, Request::sync};
// Backend tags, weighted towards those the tracker distinguishes.
constexpr char kReplyTags[] = {'Z', 'E', 'E', '1', '2', '3', 't', 'T', 'n', 'D', 'C',
                               'I', 's', 'G', 'H', 'd', 'c', 'V', 'N', 'S', 'A', 'K',
                               'R', 'W', 'Z', 'C', '1', '2', 'D', 'E', 'x', '\0'};

void drive_tracker(std::string_view in) {
    ReplyTracker t;
    // The origins of what is outstanding, as far as the verdicts tell: checked, not modelled.
    for (unsigned char b : in) {
        const std::size_t before = t.outstanding();
        const bool skipping = t.skipping_to_sync();
        if (b == 0xff) {
            const std::size_t client = t.abandon().size();
            FUZZ_CHECK(client <= before);
            FUZZ_CHECK(t.idle() && !t.skipping_to_sync() && !t.front_errored());
        } else if (b < 0x60) {
            const Request r = kRequests[b % 8];
            const auto origin =
                b < 0x40 ? Origin::client : ((b & 8) ? Origin::injected : Origin::substitute);
            const bool recorded = t.sent(r, origin, static_cast<Cookie>(b) + 1);
            const bool ignored = skipping && r != Request::sync;
            FUZZ_CHECK(recorded == !ignored);
            FUZZ_CHECK(t.outstanding() == before + (ignored ? 0 : 1));
        } else {
            const char tag = kReplyTags[b % sizeof(kReplyTags)];
            const bool injected = t.front_injected();
            const auto reply = t.on_reply(tag);
            const auto v = reply.verdict;
            // Every request an error ended is reported, and nothing else.
            FUZZ_CHECK(t.failed().size() <= before - t.outstanding());
            FUZZ_CHECK(!reply.completes || t.outstanding() < before);
            const bool async = tag == 'N' || tag == 'S' || tag == 'A';
            FUZZ_CHECK(t.outstanding() <= before);
            if (async) FUZZ_CHECK(v == ReplyTracker::Verdict::forward && t.outstanding() == before);
            if (before == 0) {
                FUZZ_CHECK(async || v == ReplyTracker::Verdict::unexpected);
            }
            switch (v) {
                case ReplyTracker::Verdict::drop:
                    FUZZ_CHECK(injected);
                    break;
                case ReplyTracker::Verdict::injected_error:
                    FUZZ_CHECK(injected && tag == 'E' && t.outstanding() == before);
                    break;
                case ReplyTracker::Verdict::substitute_error:
                    FUZZ_CHECK(!injected && tag == 'E');
                    break;
                case ReplyTracker::Verdict::unexpected:
                    FUZZ_CHECK(t.outstanding() == before);
                    break;
                case ReplyTracker::Verdict::forward:
                    FUZZ_CHECK(!injected || async);
                    break;
            }
        }
        // The server skips only while no Sync is outstanding.
        if (t.skipping_to_sync()) FUZZ_CHECK(t.idle());
        if (t.front_injected() || t.front_errored()) FUZZ_CHECK(!t.idle());
        Request front{};
        FUZZ_CHECK(t.front(front) == !t.idle());
    }
}

// A stream of tagged frames, as a server connection would deliver it.
void walk_frames(std::string_view in) {
    ReplyTracker t;
    while (!in.empty()) {
        Frame f;
        if (peek_frame(in, 1 << 16, f) != FrameStatus::complete) break;
        check_all_decoders(f.body());
        if (f.tag == 'T' || f.tag == 'n') check_row_shape(f.tag, f.body());
        (void)t.on_reply(f.tag);
        in.remove_prefix(f.total_size);
    }
}

void fuzz_one(std::string_view in) {
    g_input = in;
    for (std::size_t cap : {std::size_t{0}, std::size_t{8}, std::size_t{64}, in.size(),
                            std::size_t{std::numeric_limits<uint32_t>::max()},
                            std::numeric_limits<std::size_t>::max()}) {
        check_frame(in, cap, false);
        check_frame(in, cap, true);
    }
    check_all_decoders(in);
    if (in.size() >= 4) check_all_decoders(in.substr(4));
    if (in.size() >= 5) check_all_decoders(in.substr(5));
    walk_frames(in);
    drive_tracker(in);
}

}  // namespace
}  // namespace pgtenant::protocol

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::protocol::fuzz_one(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
