#pragma once
// A client that logs in through pgtenant, starts something and vanishes: the scenarios and
// ways of issue 14 (after BEGIN, after an UPDATE, halfway through a message, mid extended
// batch, with pipelined replies unread; by FIN, close, RST or Terminate). It logs in with
// libpq, then takes the socket over and speaks the protocol itself.
#include <ostream>
#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/pgtenant_process.h"

namespace pgtenant::testing {

// How a client vanishes.
enum class Way {
    fin,        // shutdown(SHUT_WR): pgtenant reads end-of-file; the socket stays open a while
    close,      // close(): FIN, or RST when replies sit unread (the kernel's choice)
    rst,        // SO_LINGER 0, then close(): always RST
    terminate,  // a Terminate message, then close()
};

// What the client did before vanishing, to a row of table vanish_rows (id, val): each
// UPDATE sets val to 1 and is never committed.
enum class Scenario {
    after_begin,               // BEGIN answered
    after_update,              // BEGIN; UPDATE answered: an uncommitted change
    mid_statement,             // ... then half of a Query message
    mid_extended_no_sync,      // BEGIN; then Parse/Bind/Execute of an UPDATE, no Sync
    extended_sync_unread,      // Parse/Bind/Execute BEGIN and UPDATE, Sync; gone at once
    extended_sync_arrived,     // the same, gone once the replies have arrived, unread
    pipelined_begins,          // BEGIN, BEGIN, BEGIN as three Queries in one write; gone at once
    pipelined_begins_arrived,  // the same, gone once the replies have arrived, unread
    pipelined_update,          // BEGIN, UPDATE as two Queries in one write; gone at once
    pipelined_update_arrived,  // the same, gone once the replies have arrived, unread
};

inline constexpr Scenario kScenarios[] = {
    Scenario::after_begin,          Scenario::after_update,
    Scenario::mid_statement,        Scenario::mid_extended_no_sync,
    Scenario::extended_sync_unread, Scenario::extended_sync_arrived,
    Scenario::pipelined_begins,     Scenario::pipelined_begins_arrived,
    Scenario::pipelined_update,     Scenario::pipelined_update_arrived,
};
inline constexpr Way kWays[] = {Way::fin, Way::close, Way::rst, Way::terminate};

const char* name_of(Scenario s);
const char* name_of(Way w);
void PrintTo(Scenario s, std::ostream* os);
void PrintTo(Way w, std::ostream* os);

// A Terminate in the middle of a half-written message would be read as the rest of it.
bool makes_sense(Scenario s, Way w);

// Logs in as `login`, does what `scenario` says to row `id` of vanish_rows and vanishes
// `way`. Returns "" or what was wrong with the client's own replies before it vanished (an
// error, a reply not its own, no reply within 5 s). `kept` receives the socket of a FIN
// (half-closed) client, to be closed by the caller later.
std::string vanish(Pgtenant& proxy, const std::string& login, Scenario scenario, Way way, long id,
                   RawSocket* kept);

}  // namespace pgtenant::testing
