// `pgtenant probe`: the report, as text or JSON (the style of `pgtenant check --json`).
#include <sstream>

#include "proxy/check/json.h"
#include "proxy/check/probe.h"

namespace pgtenant::proxy {
namespace {

struct Counts {
    int leaks = 0;
    int inconclusive = 0;
};

Counts count(const ProbeReport& report) {
    Counts c;
    for (const auto& check : report.checks) {
        if (check.outcome == ProbeOutcome::leak) ++c.leaks;
        if (check.outcome == ProbeOutcome::inconclusive) ++c.inconclusive;
    }
    return c;
}

std::string check_line(const ProbeCheck& c) {
    std::string line =
        "[" + std::string(probe_outcome_name(c.outcome)) + "] " + c.kind + " " + c.name;
    if (!c.login.empty()) line += " as " + c.login;
    if (!c.object.empty()) line += " on " + c.object;
    return line;
}

}  // namespace

const char* probe_outcome_name(ProbeOutcome outcome) {
    switch (outcome) {
        case ProbeOutcome::pass:
            return "pass";
        case ProbeOutcome::refused:
            return "refused";
        case ProbeOutcome::no_effect:
            return "no_effect";
        case ProbeOutcome::leak:
            return "LEAK";
        case ProbeOutcome::skipped:
            return "skipped";
        case ProbeOutcome::inconclusive:
            return "inconclusive";
    }
    return "unknown";
}

int probe_exit_code(const ProbeReport& report) { return count(report).leaks > 0 ? 2 : 0; }

std::string format_probe_text(const ProbeReport& report) {
    std::ostringstream out;
    out << "pgtenant probe (" << report.mode << " mode)\n";
    for (const auto& [login, practice] : report.logins) {
        out << "  login " << login << ": practice " << practice << "\n";
    }
    out << "  tenant tables:";
    for (const auto& t : report.tables) out << " " << t;
    out << (report.tables.empty() ? " none found\n\n" : "\n\n");
    // Leaks and inconclusive checks first: they are what a reader looks for.
    for (bool problems : {true, false}) {
        for (const auto& c : report.checks) {
            const bool problem =
                c.outcome == ProbeOutcome::leak || c.outcome == ProbeOutcome::inconclusive;
            if (problem != problems) continue;
            out << check_line(c) << "\n    " << c.detail << "\n";
        }
    }
    const Counts n = count(report);
    out << "\n"
        << report.checks.size() << " checks, " << n.leaks << " leaks, " << n.inconclusive
        << " inconclusive: " << (n.leaks ? "PRACTICES ARE NOT ISOLATED" : "no leak found") << "\n";
    return out.str();
}

std::string format_probe_json(const ProbeReport& report) {
    std::string out = "{\"mode\":" + json_quoted(report.mode) + ",\"logins\":[";
    for (std::size_t i = 0; i < report.logins.size(); ++i) {
        out += (i ? ",{" : "{") + std::string("\"login\":") + json_quoted(report.logins[i].first) +
               ",\"practice\":" + json_quoted(report.logins[i].second) + "}";
    }
    out += "],\"tables\":[";
    for (std::size_t i = 0; i < report.tables.size(); ++i) {
        out += (i ? "," : "") + json_quoted(report.tables[i]);
    }
    out += "],\"checks\":[";
    bool first = true;
    for (const auto& c : report.checks) {
        out += first ? "\n  {" : ",\n  {";
        first = false;
        out += "\"kind\":" + json_quoted(c.kind) + ",\"name\":" + json_quoted(c.name) +
               ",\"login\":" + json_quoted(c.login) + ",\"object\":" + json_quoted(c.object) +
               ",\"outcome\":" + json_quoted(probe_outcome_name(c.outcome)) +
               ",\"sqlstate\":" + json_quoted(c.sqlstate) + ",\"detail\":" + json_quoted(c.detail) +
               "}";
    }
    out += first ? "]" : "\n]";
    const Counts n = count(report);
    out += ",\"summary\":{\"checks\":" + std::to_string(report.checks.size()) +
           ",\"leaks\":" + std::to_string(n.leaks) +
           ",\"inconclusive\":" + std::to_string(n.inconclusive) + "}}\n";
    return out;
}

}  // namespace pgtenant::proxy
