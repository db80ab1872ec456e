#include "protocol/messages.h"

#include <algorithm>

#include "protocol/wire.h"

namespace pgtenant::protocol {

const std::string* StartupMessage::find(std::string_view name) const {
    for (const auto& [k, v] : params)
        if (k == name) return &v;
    return nullptr;
}

std::optional<StartupPacket> decode_startup(std::string_view body) {
    MessageReader r(body);
    StartupPacket p;
    p.code = r.int32();
    if (!r.ok()) return std::nullopt;
    switch (p.code) {
        case kSslRequestCode:
            p.kind = StartupKind::ssl_request;
            return r.at_end() ? std::optional(p) : std::nullopt;
        case kGssEncRequestCode:
            p.kind = StartupKind::gssenc_request;
            return r.at_end() ? std::optional(p) : std::nullopt;
        case kCancelRequestCode:
            p.kind = StartupKind::cancel;
            p.cancel.pid = r.int32();
            p.cancel.key = r.int32();
            return r.ok() && r.at_end() ? std::optional(p) : std::nullopt;
        default:
            break;
    }
    if ((p.code >> 16) != 3) {
        p.kind = StartupKind::unsupported_version;
        return p;
    }
    // Any minor version of 3 is served as 3.0: the session answers a minor version above 0
    // (and "_pq_." options) with NegotiateProtocolVersion, as PostgreSQL does.
    p.kind = StartupKind::startup;
    for (;;) {
        auto name = r.cstring();
        if (!r.ok()) return std::nullopt;
        if (name.empty()) break;
        auto value = r.cstring();  // a protocol option's value is ignored
        if (!r.ok()) return std::nullopt;
        if (p.startup.find(name) != nullptr ||
            std::find(p.startup.protocol_options.begin(), p.startup.protocol_options.end(), name) !=
                p.startup.protocol_options.end())
            return std::nullopt;  // duplicate names are malformed
        if (name.starts_with(kProtocolOptionPrefix)) {
            p.startup.protocol_options.emplace_back(name);
        } else {
            p.startup.params.emplace_back(std::string(name), std::string(value));
        }
    }
    if (!r.at_end()) return std::nullopt;
    return p;
}

std::optional<std::string_view> decode_query(std::string_view body) {
    MessageReader r(body);
    auto q = r.cstring();
    if (!r.ok() || !r.at_end()) return std::nullopt;
    return q;
}

std::optional<ParseMessage> decode_parse(std::string_view body) {
    MessageReader r(body);
    ParseMessage m;
    m.name = r.cstring();
    m.query = r.cstring();
    int n = r.int16();
    if (!r.ok() || n < 0 || static_cast<std::size_t>(n) * 4 != r.remaining()) return std::nullopt;
    m.param_types.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) m.param_types.push_back(r.int32());
    return m;
}

std::optional<ClientMessage> decode_client_message(std::string_view msg) {
    ClientMessage m;
    m.tag = msg.empty() ? '\0' : msg[0];
    m.bytes = msg;
    if (msg.size() < 5) return m.tag == 'Q' || m.tag == 'P' ? std::nullopt : std::optional(m);
    switch (m.tag) {
        case 'Q': {
            auto text = decode_query(m.body());
            if (!text) return std::nullopt;
            m.text = *text;
            break;
        }
        case 'P': {
            auto p = decode_parse(m.body());
            if (!p) return std::nullopt;
            m.name = p->name;
            m.text = p->query;
            m.param_types = std::move(p->param_types);
            break;
        }
        case 'B': {
            MessageReader r(m.body());
            r.cstring();  // the portal
            m.name = r.cstring();
            m.names_read = r.ok();
            break;
        }
        case 'D':
        case 'C': {
            MessageReader r(m.body());
            m.kind = static_cast<char>(r.byte());
            m.name = r.cstring();
            m.names_read = r.ok();
            break;
        }
        default:
            break;
    }
    return m;
}

std::optional<SaslInitialResponse> decode_sasl_initial(std::string_view body) {
    MessageReader r(body);
    SaslInitialResponse m;
    m.mechanism = r.cstring();
    int32_t len = r.int32();
    if (!r.ok()) return std::nullopt;
    if (len == -1) {
        if (!r.at_end()) return std::nullopt;
        return m;
    }
    if (len < 0 || static_cast<std::size_t>(len) != r.remaining()) return std::nullopt;
    m.data = r.bytes(static_cast<std::size_t>(len));
    return m;
}

std::optional<Authentication> decode_authentication(std::string_view body) {
    MessageReader r(body);
    Authentication a;
    a.code = r.int32();
    a.data = r.rest();
    if (!r.ok()) return std::nullopt;
    return a;
}

std::optional<ParameterStatus> decode_parameter_status(std::string_view body) {
    MessageReader r(body);
    ParameterStatus p;
    p.name = r.cstring();
    p.value = r.cstring();
    if (!r.ok() || !r.at_end()) return std::nullopt;
    return p;
}

namespace {
// Walks a DataRow's body: the column count, then each column's length and bytes, which must end
// exactly at its end. `on_column` gets each value (nullopt for NULL); `on_count` the count.
template <typename OnCount, typename OnColumn>
bool read_row(std::string_view body, OnCount&& on_count, OnColumn&& on_column) {
    MessageReader r(body);
    const int16_t columns = r.int16();
    if (!r.ok() || columns < 0) return false;
    on_count(columns);
    for (int16_t i = 0; i < columns && r.ok(); ++i) {
        const int32_t size = r.int32();
        if (size < -1) return false;
        on_column(size == -1 ? std::nullopt
                             : std::optional(r.bytes(static_cast<std::size_t>(size))));
    }
    return r.ok() && r.at_end();
}
}  // namespace

std::optional<DataRow> decode_data_row(std::string_view body) {
    DataRow row;
    if (!read_row(
            body, [&](int16_t columns) { row.reserve(static_cast<std::size_t>(columns)); },
            [&](std::optional<std::string_view> value) { row.push_back(value); }))
        return std::nullopt;
    return row;
}

bool well_formed_row(std::string_view body) {
    return read_row(
        body, [](int16_t) {}, [](std::optional<std::string_view>) {});
}

std::optional<BackendKeyData> decode_backend_key_data(std::string_view body) {
    MessageReader r(body);
    BackendKeyData k;
    k.pid = r.int32();
    k.key = r.int32();
    if (!r.ok() || !r.at_end()) return std::nullopt;
    return k;
}

std::string_view ErrorFields::get(char code) const {
    for (const auto& [c, v] : fields)
        if (c == code) return v;
    return {};
}

std::optional<ErrorFields> decode_error_fields(std::string_view body) {
    MessageReader r(body);
    ErrorFields e;
    for (;;) {
        auto code = static_cast<char>(r.byte());
        if (!r.ok()) return std::nullopt;
        if (code == '\0') break;
        auto value = r.cstring();
        if (!r.ok()) return std::nullopt;
        e.fields.emplace_back(code, std::string(value));
    }
    if (!r.at_end()) return std::nullopt;
    return e;
}

std::vector<std::string_view> split_sasl_mechanisms(std::string_view data) {
    std::vector<std::string_view> out;
    MessageReader r(data);
    for (;;) {
        auto m = r.cstring();
        if (!r.ok() || m.empty()) break;
        out.push_back(m);
    }
    return out;
}

}  // namespace pgtenant::protocol
