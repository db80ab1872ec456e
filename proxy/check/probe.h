#pragma once
// `pgtenant probe`: a live cross-practice self-test for deploy pipelines. It logs in through a
// running pgtenant as two logins of different practices, finds every tenant table the way
// the logins see the catalog, and checks that each login sees only its own practice's rows,
// that the two logins' rows are disjoint, that the usual ways of forging the tenant binding
// (SET / set_config / RESET of the setting in every spelling, startup parameters, a forged
// pgtenant.context) change nothing, and (with write_checks) that writes into the other
// practice's rows fail or touch nothing. Writes run in transactions that are always rolled
// back: the probe never commits anything.
//
// Exit code of probe_command:
//   0  no leak
//   1  the probe could not run (connection or authentication failure, bad arguments)
//   2  at least one check found a leak
#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/check/check.h"

namespace pgtenant::proxy {

struct ProbeLogin {
    std::string name;
    std::string password;
};

struct ProbeOptions {
    std::string host = "127.0.0.1";  // where pgtenant listens
    uint16_t port = 6432;
    std::string dbname = "postgres";
    ProbeLogin a, b;  // two logins of two different practices
    // The tenant column and setting, and whether policies use the sealed context.
    CheckOptions tenant;
    bool write_checks = false;
    int connect_timeout_s = 10;
};

// What a check found. Only `leak` fails the probe; `inconclusive` is reported (the check
// could not tell, e.g. an INSERT failed for another reason than the policy) but never
// counted as a leak.
enum class ProbeOutcome { pass, refused, no_effect, leak, skipped, inconclusive };

struct ProbeCheck {
    std::string kind;    // visibility | disjoint | forgery | write
    std::string name;    // stable id, e.g. "set_session" or "insert_other_practice"
    std::string login;   // the login that ran it ("" for checks across both)
    std::string object;  // the table, when the check concerns one
    ProbeOutcome outcome = ProbeOutcome::pass;
    std::string sqlstate;  // the error the attempt got, when it got one
    std::string detail;    // one sentence
};

struct ProbeReport {
    std::string mode;                                         // compat | sealed
    std::vector<std::pair<std::string, std::string>> logins;  // login, practice
    std::vector<std::string> tables;                          // tenant tables found
    std::vector<ProbeCheck> checks;
};

// The probe could not run: connection refused, authentication failed, no binding visible.
class ProbeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

const char* probe_outcome_name(ProbeOutcome outcome);

// Runs every check; throws ProbeError when it cannot run.
ProbeReport run_probe(const ProbeOptions& options);

std::string format_probe_text(const ProbeReport& report);
// {"mode":..,"logins":[{"login":..,"practice":..}],"tables":[..],
//  "checks":[{"kind":..,"name":..,"login":..,"object":..,"outcome":..,"sqlstate":..,
//             "detail":..}],
//  "summary":{"checks":n,"leaks":n,"inconclusive":n}}
std::string format_probe_json(const ProbeReport& report);
int probe_exit_code(const ProbeReport& report);

// Host and port from [server] (a wildcard listen address becomes loopback), database from
// [backend], tenant setting and mode from [tenant]. Logins are left empty.
ProbeOptions probe_options(const config::Config& cfg);
// Runs the probe and prints the report; see the exit codes above.
int probe_command(const ProbeOptions& options, bool json, std::ostream& out);

}  // namespace pgtenant::proxy
