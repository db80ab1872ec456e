#pragma once
// Hand-built frontend messages and a tiny reader for backend replies, for tests that must
// send what libpq never would (malformed startup packets, oversized lengths, raw handshakes).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pgtenant::testing::wire {

std::string be32(uint32_t v);

// StartupMessage: length, version, then name/value pairs and a terminating zero byte.
std::string startup_message(const std::vector<std::pair<std::string, std::string>>& params,
                            uint32_t version = 196608 /* 3.0 */);
std::string ssl_request();
// A typed frontend message with an explicit length field (which may lie).
std::string message(char tag, const std::string& body);
std::string message_with_length(char tag, uint32_t length, const std::string& body);

// Extended-query messages, for tests that must send exactly what a driver sends (pgJDBC Binds
// a described statement without describing it again). Parameters and results are text.
std::string parse(const std::string& statement, const std::string& sql);
std::string bind(const std::string& portal, const std::string& statement,
                 const std::vector<std::string>& params = {});
std::string describe(char kind, const std::string& name);  // 'S' statement or 'P' portal
std::string execute(const std::string& portal = "");
std::string close(char kind, const std::string& name);
std::string sync();
std::string flush();
std::string query(const std::string& sql);

// Column names of a RowDescription ('T'); empty when msg is not one.
std::vector<std::string> row_description_names(const std::string& msg);
// Values of a DataRow ('D'), "<NULL>" for NULL; empty when msg is not one.
std::vector<std::string> data_row_values(const std::string& msg);

// Fields of an ErrorResponse/NoticeResponse keyed by field code ('C' SQLSTATE, 'M' message).
// Empty when msg is not a well-formed 'E' or 'N' message.
std::map<char, std::string> error_fields(const std::string& msg);

// For 'R' messages: the authentication request code (10 = SASL); -1 otherwise.
int auth_request_code(const std::string& msg);

}  // namespace pgtenant::testing::wire
