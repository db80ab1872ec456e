#include "protocol/builders.h"

#include "protocol/messages.h"
#include "protocol/wire.h"

namespace pgtenant::protocol::build {

void startup(std::string& out, const std::vector<std::pair<std::string, std::string>>& params) {
    MessageWriter w(out);
    w.begin_untagged().int32(kProtocolV3);
    for (const auto& [k, v] : params) w.cstring(k).cstring(v);
    w.byte(0).end();
}

void cancel_request(std::string& out, int32_t pid, int32_t key) {
    MessageWriter(out).begin_untagged().int32(kCancelRequestCode).int32(pid).int32(key).end();
}

void ssl_request(std::string& out) {
    MessageWriter(out).begin_untagged().int32(kSslRequestCode).end();
}

void password(std::string& out, std::string_view pw) {
    MessageWriter(out).begin('p').cstring(pw).end();
}

void sasl_initial(std::string& out, std::string_view mechanism, std::string_view data) {
    MessageWriter(out)
        .begin('p')
        .cstring(mechanism)
        .int32(static_cast<int32_t>(data.size()))
        .bytes(data)
        .end();
}

void sasl_response(std::string& out, std::string_view data) {
    MessageWriter(out).begin('p').bytes(data).end();
}

void query(std::string& out, std::string_view sql) {
    MessageWriter(out).begin('Q').cstring(sql).end();
}

void parse(std::string& out, std::string_view name, std::string_view sql,
           const std::vector<int32_t>& param_types) {
    MessageWriter w(out);
    w.begin('P').cstring(name).cstring(sql).int16(static_cast<int16_t>(param_types.size()));
    for (int32_t t : param_types) w.int32(t);
    w.end();
}

void describe(std::string& out, char kind, std::string_view name) {
    MessageWriter(out).begin('D').byte(static_cast<uint8_t>(kind)).cstring(name).end();
}

void close(std::string& out, char kind, std::string_view name) {
    MessageWriter(out).begin('C').byte(static_cast<uint8_t>(kind)).cstring(name).end();
}

bool rebind(std::string& out, std::string_view body, std::string_view statement) {
    MessageReader r(body);
    auto portal = r.cstring();
    r.cstring();
    auto rest = r.rest();
    if (!r.ok()) return false;
    MessageWriter(out).begin('B').cstring(portal).cstring(statement).bytes(rest).end();
    return true;
}

void bind_portal(std::string& out, std::string_view portal, std::string_view statement,
                 std::initializer_list<std::optional<std::string_view>> params) {
    MessageWriter w(out);
    w.begin('B').cstring(portal).cstring(statement).int16(0);
    w.int16(static_cast<int16_t>(params.size()));
    for (const auto& p : params) {
        if (!p) {
            w.int32(-1);
        } else {
            w.int32(static_cast<int32_t>(p->size())).bytes(*p);
        }
    }
    w.int16(0).end();
}

void execute(std::string& out, std::string_view portal, int32_t max_rows) {
    MessageWriter(out).begin('E').cstring(portal).int32(max_rows).end();
}

void sync(std::string& out) { MessageWriter(out).begin('S').end(); }
void flush(std::string& out) { MessageWriter(out).begin('H').end(); }
void terminate(std::string& out) { MessageWriter(out).begin('X').end(); }

void auth_ok(std::string& out) { MessageWriter(out).begin('R').int32(0).end(); }

void auth_sasl(std::string& out, std::string_view mechanism) {
    MessageWriter(out).begin('R').int32(10).cstring(mechanism).byte(0).end();
}

void auth_sasl_continue(std::string& out, std::string_view data) {
    MessageWriter(out).begin('R').int32(11).bytes(data).end();
}

void auth_sasl_final(std::string& out, std::string_view data) {
    MessageWriter(out).begin('R').int32(12).bytes(data).end();
}

void auth_md5(std::string& out, std::string_view salt4) {
    MessageWriter(out).begin('R').int32(5).bytes(salt4).end();
}

void parameter_status(std::string& out, std::string_view name, std::string_view value) {
    MessageWriter(out).begin('S').cstring(name).cstring(value).end();
}

void backend_key_data(std::string& out, int32_t pid, int32_t key) {
    MessageWriter(out).begin('K').int32(pid).int32(key).end();
}

void ready_for_query(std::string& out, char status) {
    MessageWriter(out).begin('Z').byte(static_cast<uint8_t>(status)).end();
}

void command_complete(std::string& out, std::string_view tag) {
    MessageWriter(out).begin('C').cstring(tag).end();
}

void row_description(std::string& out,
                     const std::vector<std::pair<std::string, int32_t>>& columns) {
    MessageWriter w(out);
    w.begin('T').int16(static_cast<int16_t>(columns.size()));
    for (const auto& [name, type] : columns) {
        // table OID, column number, type OID, type size, type modifier, text format
        w.cstring(name).int32(0).int16(0).int32(type).int16(-1).int32(-1).int16(0);
    }
    w.end();
}

void data_row(std::string& out, const std::vector<std::optional<std::string>>& values) {
    MessageWriter w(out);
    w.begin('D').int16(static_cast<int16_t>(values.size()));
    for (const auto& v : values) {
        if (!v) {
            w.int32(-1);
            continue;
        }
        w.int32(static_cast<int32_t>(v->size())).bytes(*v);
    }
    w.end();
}

void negotiate_protocol_version(std::string& out, int32_t newest_version,
                                const std::vector<std::string>& unrecognised_options) {
    MessageWriter w(out);
    w.begin('v').int32(newest_version).int32(static_cast<int32_t>(unrecognised_options.size()));
    for (const auto& name : unrecognised_options) w.cstring(name);
    w.end();
}

}  // namespace pgtenant::protocol::build
