#pragma once
// Typed views of the messages pgtenant acts on. Everything else is forwarded as raw bytes.
// Decoders take a frame body and return nullopt on any malformation.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgtenant::protocol {

inline constexpr int32_t kProtocolV3 = 196608;  // 3.0, the newest version pgtenant speaks
inline constexpr std::string_view kProtocolOptionPrefix = "_pq_.";
inline constexpr int32_t kSslRequestCode = 80877103;
inline constexpr int32_t kGssEncRequestCode = 80877104;
inline constexpr int32_t kCancelRequestCode = 80877102;

// --- startup family (no tag) ---

struct StartupMessage {
    // Everything but protocol options: user, database, options and session settings.
    std::vector<std::pair<std::string, std::string>> params;
    // Names of "_pq_." parameters: protocol extensions, never settings; pgtenant supports
    // none, so each is reported back to the client in NegotiateProtocolVersion and dropped.
    std::vector<std::string> protocol_options;
    const std::string* find(std::string_view name) const;
};

struct CancelRequest {
    int32_t pid = 0;
    int32_t key = 0;
};

enum class StartupKind { startup, ssl_request, gssenc_request, cancel, unsupported_version };

struct StartupPacket {
    StartupKind kind = StartupKind::startup;
    int32_t code = 0;
    StartupMessage startup;  // kind == startup
    CancelRequest cancel;    // kind == cancel

    int minor_version() const { return code & 0xffff; }
    // A 3.x StartupMessage that PostgreSQL answers with NegotiateProtocolVersion before the
    // authentication request: a minor version above 0, or any "_pq_." option.
    bool needs_negotiation() const {
        return kind == StartupKind::startup &&
               (minor_version() != 0 || !startup.protocol_options.empty());
    }
};

// body = everything after the length word. nullopt: malformed.
std::optional<StartupPacket> decode_startup(std::string_view body);

// --- frontend messages ---

struct ParseMessage {
    std::string_view name;
    std::string_view query;
    std::vector<int32_t> param_types;
};
std::optional<std::string_view> decode_query(std::string_view body);
std::optional<ParseMessage> decode_parse(std::string_view body);

// A frontend message of the serving phase (tag and length included), decoded once into what
// pgtenant acts on, as views into its bytes. Other messages carry only their tag and bytes.
struct ClientMessage {
    char tag = 0;
    std::string_view bytes;
    std::string_view text;             // Query: its SQL; Parse: the statement's text
    std::string_view name;             // Parse, Bind: the statement; Describe, Close: the target
    char kind = 0;                     // Describe, Close: 'S' (statement) or 'P' (portal)
    std::vector<int32_t> param_types;  // Parse
    // Bind, Describe, Close: false when the name cannot be read (the server answers those).
    bool names_read = false;
    std::string_view body() const { return bytes.substr(5); }
};
// nullopt for a malformed Query or Parse: pgtenant reads their text, so the stream cannot be
// trusted.
std::optional<ClientMessage> decode_client_message(std::string_view msg);

struct SaslInitialResponse {
    std::string_view mechanism;
    std::optional<std::string_view> data;  // nullopt when the length is -1
};
std::optional<SaslInitialResponse> decode_sasl_initial(std::string_view body);

// --- backend messages ---

struct Authentication {
    int32_t code = 0;       // 0 ok, 3 cleartext, 5 md5, 10 SASL, 11 continue, 12 final
    std::string_view data;  // the rest: md5 salt, SASL mechanisms or data
};
std::optional<Authentication> decode_authentication(std::string_view body);

struct ParameterStatus {
    std::string_view name;
    std::string_view value;
};
std::optional<ParameterStatus> decode_parameter_status(std::string_view body);

// DataRow: each column's value, nullopt for NULL.
using DataRow = std::vector<std::optional<std::string_view>>;
std::optional<DataRow> decode_data_row(std::string_view body);
// Whether `body` frames as decode_data_row reads it (a column count, then each column's length
// and bytes, ending exactly at its end), without building the row.
bool well_formed_row(std::string_view body);

struct BackendKeyData {
    int32_t pid = 0;
    int32_t key = 0;
};
std::optional<BackendKeyData> decode_backend_key_data(std::string_view body);

// ErrorResponse / NoticeResponse: (code byte, value) pairs.
struct ErrorFields {
    std::vector<std::pair<char, std::string>> fields;
    std::string_view get(char code) const;
    std::string_view severity() const { return get('V').empty() ? get('S') : get('V'); }
    std::string_view sqlstate() const { return get('C'); }
    std::string_view message() const { return get('M'); }
};
std::optional<ErrorFields> decode_error_fields(std::string_view body);

// SASL mechanism list of AuthenticationSASL.
std::vector<std::string_view> split_sasl_mechanisms(std::string_view data);

}  // namespace pgtenant::protocol
