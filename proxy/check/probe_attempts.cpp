// `pgtenant probe`: the common ways a client holding one practice's credentials tries to bind
// another practice (DESIGN 3.3). Each attempt runs on a fresh login; whether pgtenant refuses
// it or not, the login must afterwards still see only its own rows.
#include <cstdio>
#include <ctime>

#include "proxy/check/probe_detail.h"

namespace pgtenant::proxy::probe_detail {
namespace {

struct SqlAttempt {
    std::string name;
    std::string sql;
    bool in_transaction = false;  // run inside BEGIN ... ROLLBACK, checked before the ROLLBACK
};

constexpr const char* kContext = "pgtenant.context";

// "App.Current_Practice_Id": every word capitalised; PostgreSQL matches setting names
// case-insensitively, quoted or not.
std::string mixed_case(const std::string& name) {
    std::string out = name;
    bool word_start = true;
    for (char& c : out) {
        if (word_start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        word_start = c == '.' || c == '_';
    }
    return out;
}

// U&"\0061pp.current_practice_id": the first character as a Unicode escape.
std::string unicode_escaped(const std::string& name) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\%04x", static_cast<unsigned char>(name.at(0)));
    return "U&\"" + std::string(buf) + name.substr(1) + "\"";
}

// A token of the sealed-context format for the other practice, signed with no key.
std::string forged_token(const std::string& practice) {
    return "v1.probe." + practice + ".0." + std::to_string(std::time(nullptr) + 3600) + "." +
           std::string(64, '0');
}

std::vector<SqlAttempt> sql_attempts(const std::string& setting, const std::string& bait) {
    const std::string v = sql_literal(bait);
    const std::string s = sql_literal(setting);
    const std::string token = sql_literal(forged_token(bait));
    return {
        {"set", "SET " + setting + " = " + v},
        {"set_session", "SET SESSION " + setting + " = " + v},
        {"set_local", "SET LOCAL " + setting + " = " + v, true},
        {"set_config_session", "SELECT set_config(" + s + ", " + v + ", false)"},
        {"set_config_local", "SELECT set_config(" + s + ", " + v + ", true)", true},
        {"set_quoted_mixed_case", "SET \"" + mixed_case(setting) + "\" = " + v},
        {"set_quoted_mixed_case_local", "SET LOCAL \"" + mixed_case(setting) + "\" = " + v, true},
        {"set_unicode_escaped", "SET " + unicode_escaped(setting) + " = " + v},
        {"set_config_mixed_case",
         "SELECT set_config(" + sql_literal(mixed_case(setting)) + ", " + v + ", false)"},
        {"set_config_mixed_case_local",
         "SELECT set_config(" + sql_literal(mixed_case(setting)) + ", " + v + ", true)", true},
        {"reset", "RESET " + setting},
        {"reset_local", "RESET " + setting, true},
        {"set_default", "SET " + setting + " TO DEFAULT"},
        {"reset_all", "RESET ALL"},
        {"context_set", std::string("SET ") + kContext + " = " + token},
        {"context_set_local", std::string("SET LOCAL ") + kContext + " = " + token, true},
        {"context_set_config",
         "SELECT set_config(" + sql_literal(kContext) + ", " + token + ", false)"},
        {"context_set_config_local",
         "SELECT set_config(" + sql_literal(kContext) + ", " + token + ", true)", true},
        {"context_reset", std::string("RESET ") + kContext},
    };
}

// set_config hidden where no statement guard can see it (DESIGN 3.3). Sealed mode must make
// them harmless; compat mode does not claim to (a DO block or a function can always set a
// plain setting), so they are tried in sealed mode only.
std::vector<SqlAttempt> hidden_attempts(const std::string& setting, const std::string& bait) {
    const std::string set_setting =
        "set_config(" + sql_literal(setting) + ", " + sql_literal(bait) + ", true)";
    const std::string set_context =
        "set_config(" + sql_literal(kContext) + ", " + sql_literal(forged_token(bait)) + ", true)";
    auto in_do = [](const std::string& call) {
        return "DO $pgtenant_probe$BEGIN PERFORM " + call + "; END$pgtenant_probe$";
    };
    return {
        {"do_block_set_config", in_do(set_setting), true},
        {"do_block_context", in_do(set_context), true},
        {"query_to_xml_set_config",
         "SELECT query_to_xml(" + sql_literal("SELECT " + set_setting) + ", false, false, '')",
         true},
        {"query_to_xml_context",
         "SELECT query_to_xml(" + sql_literal("SELECT " + set_context) + ", false, false, '')",
         true},
    };
}

std::string sqlstate_text(const std::string& sqlstate, const std::string& message) {
    std::string m = message;
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return sqlstate.empty() ? m : "SQLSTATE " + sqlstate + ": " + m;
}

ProbeCheck connection_lost(ProbeCheck c, const std::string& what) {
    c.outcome = ProbeOutcome::inconclusive;
    c.detail = "Could not log in for this attempt: " + what;
    return c;
}

ProbeCheck run_sql_attempt(ProbeRun& run, const Tenant& self, const SqlAttempt& a) {
    ProbeCheck c{"forgery", a.name, self.login->name, ""};
    std::unique_ptr<CheckDb> db;
    try {
        db = connect_login(run.options, *self.login);
    } catch (const std::exception& e) {
        return connection_lost(c, e.what());
    }
    bool in_tx = a.in_transaction && db->try_query("BEGIN").ok;
    QueryOutcome r = db->try_query(a.sql);
    if (!r.ok && in_tx) {
        db->try_query("ROLLBACK");
        in_tx = false;
    }
    c.sqlstate = r.sqlstate;
    LeakScan scan = scan_for_leaks(*db, run.tables, self.practice, in_tx);
    if (in_tx) db->try_query("ROLLBACK");
    judge_attempt(c, self, !r.ok, sqlstate_text(r.sqlstate, r.message), scan);
    return c;
}

// The setting changed by a condition of the query that reads the table: the planner may run
// the column-free condition before the policy (DESIGN 3.3).
ProbeCheck run_inline_attempt(ProbeRun& run, const Tenant& self, const std::string& name,
                              const std::string& setting, const std::string& value) {
    ProbeCheck c{"forgery", name, self.login->name, ""};
    std::unique_ptr<CheckDb> db;
    try {
        db = connect_login(run.options, *self.login);
    } catch (const std::exception& e) {
        return connection_lost(c, e.what());
    }
    LeakScan scan;
    bool all_refused = true;
    std::string refusal;
    for (const auto& t : run.tables) {
        if (!t.readable || t.key.empty()) continue;
        QueryOutcome r = db->try_query(
            "SELECT count(*) FROM " + t.name + " WHERE set_config(" + sql_literal(setting) + ", " +
                sql_literal(value) + ", true) IS NOT NULL AND " + t.key + " <> $1::" + t.key_type,
            {self.practice});
        if (!r.ok) {
            if (refusal.empty()) refusal = sqlstate_text(r.sqlstate, r.message);
            if (c.sqlstate.empty()) c.sqlstate = r.sqlstate;
            continue;
        }
        all_refused = false;
        if (!r.rows.empty() && r.rows[0][0] != "0") scan.leaking.push_back(t.name);
    }
    judge_attempt(c, self, all_refused, refusal, scan);
    return c;
}

// A startup parameter sent through libpq's `options` (-c name=value).
ProbeCheck run_options_attempt(ProbeRun& run, const Tenant& self, const std::string& name,
                               const std::string& setting, const std::string& value) {
    ProbeCheck c{"forgery", name, self.login->name, ""};
    const std::string extra =
        "options=" + check_detail::conninfo_value("-c " + setting + "=" + value);
    std::unique_ptr<CheckDb> db;
    try {
        db = connect_login(run.options, *self.login, extra);
    } catch (const check_detail::ConnectError& e) {
        c.sqlstate = e.sqlstate();
        if (e.sqlstate() == "42501") {
            judge_attempt(c, self, true, sqlstate_text(e.sqlstate(), e.reason()), {});
        } else {
            c.outcome = ProbeOutcome::inconclusive;
            c.detail = "The login failed, but not as a refused setting (" +
                       sqlstate_text(e.sqlstate(), e.reason()) + ").";
        }
        return c;
    }
    judge_attempt(c, self, false, "", scan_for_leaks(*db, run.tables, self.practice, false));
    return c;
}

// A startup parameter named like the setting. libpq sends only the parameters it knows, so
// the StartupMessage is written by hand; pgtenant must refuse it before authentication.
ProbeCheck run_raw_startup_attempt(ProbeRun& run, const Tenant& self, const std::string& name,
                                   const std::string& setting, const std::string& value) {
    ProbeCheck c{"forgery", name, self.login->name, ""};
    StartupReply reply = raw_startup(
        run.options.host, run.options.port,
        {{"user", self.login->name}, {"database", run.options.dbname}, {setting, value}},
        run.options.connect_timeout_s);
    c.sqlstate = reply.sqlstate;
    if (reply.answered && !reply.accepted && reply.sqlstate == "42501") {
        judge_attempt(c, self, true, sqlstate_text(reply.sqlstate, reply.error), {});
        return c;
    }
    c.outcome = ProbeOutcome::inconclusive;
    c.detail = !reply.answered ? "No answer to the StartupMessage: " + reply.error
               : reply.accepted
                   ? "pgtenant accepted the parameter and asked for authentication (the effect "
                     "of the parameter was not checked)."
                   : "Refused, but not as a reserved setting (" +
                         sqlstate_text(reply.sqlstate, reply.error) + ").";
    return c;
}

}  // namespace

void judge_attempt(ProbeCheck& c, const Tenant& self, bool refused, const std::string& refusal,
                   const LeakScan& scan) {
    std::vector<std::string> added, before;
    for (const auto& t : scan.leaking) {
        (self.leaking_without_attempt.count(t) ? before : added).push_back(t);
    }
    const std::string reason = refused ? "Refused (" + refusal + ")" : "Accepted";
    if (!added.empty()) {
        c.outcome = ProbeOutcome::leak;
        c.object = join(added, 100);
        c.detail = reason + (refused ? ", yet afterwards" : ", and afterwards") +
                   " the login sees other practices' rows in " + c.object + ".";
        return;
    }
    c.outcome = refused ? ProbeOutcome::refused : ProbeOutcome::no_effect;
    c.detail = reason + (refused ? "; " : ", but ");
    if (!scan.failed.empty()) {
        c.detail += "reading " + join(scan.failed) + " failed afterwards (" + scan.first_error +
                    "), so the login saw no other practice's rows there";
    } else if (before.empty()) {
        c.detail += "the login still sees only its own rows";
    } else {
        c.detail +=
            "it opened no further table (" + join(before) + " already leaks without any attempt)";
    }
    c.detail += ".";
}

void run_forgery_attempts(ProbeRun& run, const Tenant& self, const Tenant& other) {
    const std::string& setting = run.options.tenant.tenant_setting;
    const std::string& bait = other.practice;
    for (const auto& a : sql_attempts(setting, bait)) {
        run.out.push_back(run_sql_attempt(run, self, a));
    }
    if (run.options.tenant.sealed) {
        for (const auto& a : hidden_attempts(setting, bait)) {
            run.out.push_back(run_sql_attempt(run, self, a));
        }
    }
    run.out.push_back(run_inline_attempt(run, self, "set_config_in_where", setting, bait));
    run.out.push_back(
        run_inline_attempt(run, self, "context_set_config_in_where", kContext, forged_token(bait)));
    run.out.push_back(run_options_attempt(run, self, "startup_options", setting, bait));
    run.out.push_back(
        run_options_attempt(run, self, "startup_options_mixed_case", mixed_case(setting), bait));
    run.out.push_back(
        run_options_attempt(run, self, "startup_options_context", kContext, forged_token(bait)));
    run.out.push_back(run_raw_startup_attempt(run, self, "startup_parameter", setting, bait));
    run.out.push_back(run_raw_startup_attempt(run, self, "startup_parameter_mixed_case",
                                              mixed_case(setting), bait));
    run.out.push_back(run_raw_startup_attempt(run, self, "startup_parameter_context", kContext,
                                              forged_token(bait)));
}

}  // namespace pgtenant::proxy::probe_detail
