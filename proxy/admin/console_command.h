#pragma once
// The admin console's command language: what a line of text asks for (pure; no I/O).
//
//   SHOW POOLS | CLIENTS | SERVERS | STATS | STATS_TOTALS | STATS_AVERAGES | DATABASES | CONFIG
//        | VERSION | LISTS | PRACTICES | HELP
//   PAUSE [<database> | PRACTICE '<uuid>']     RESUME [...]     KILL [...]
//   RELOAD     SHUTDOWN
//
// Keywords are case-insensitive; a trailing semicolon is allowed.
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgtenant::proxy::admin {

struct Command {
    enum class Kind { show, pause, resume, kill, reload, shutdown };
    Kind kind = Kind::show;
    std::string subject;   // SHOW's, upper-case ("POOLS")
    std::string database;  // PAUSE/RESUME/KILL <database>; empty: every practice
    std::string practice;  // PAUSE/RESUME/KILL PRACTICE '<uuid>', canonical lower case
    std::string text;      // the command as written, for the audit log
};

struct CommandError {
    std::string message;
    std::string sqlstate;
};

std::variant<Command, CommandError> parse_command(std::string_view text);

// A Query's text split into its commands at semicolons outside quotes; empty ones dropped.
std::vector<std::string> split_commands(std::string_view text);

// The SHOW subjects, in the order SHOW HELP lists them.
const std::vector<std::string>& show_subjects();

}  // namespace pgtenant::proxy::admin
