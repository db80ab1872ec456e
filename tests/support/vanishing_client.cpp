#include "tests/support/vanishing_client.h"

#include <poll.h>

#include <chrono>
#include <thread>

#include "tests/support/pq.h"
#include "tests/support/wire.h"
#include "tests/support/wire_client.h"

namespace pgtenant::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string update_sql(long id, int val) {
    return "UPDATE vanish_rows SET val = " + std::to_string(val) +
           " WHERE id = " + std::to_string(id);
}

std::string command_tag(const std::string& msg) {
    if (msg.size() < 6 || msg[0] != 'C') return {};
    return msg.substr(5, msg.find('\0', 5) - 5);
}

// Reads replies up to ReadyForQuery (skipping ParameterStatus and notices); "" when the
// command tags and the final transaction status are the expected ones, else what was wrong.
std::string expect_replies(RawSocket& s, const std::vector<std::string>& tags, char status,
                           const std::string& step) {
    std::vector<std::string> got;
    const auto asked = Clock::now();
    auto wrong = [&](const std::string& what) {
        return step + ": " + what + " (after " +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked)
                       .count()) +
               " ms)";
    };
    for (;;) {
        auto msg = s.read_message(5s);
        if (msg.empty())
            return wrong("no ReadyForQuery within 5 s, " + std::to_string(got.size()) +
                         " replies before");
        if (msg[0] == 'S' || msg[0] == 'N') continue;
        if (msg[0] == 'E')
            return wrong("error " + wire::error_fields(msg)['C'] + " " +
                         wire::error_fields(msg)['M']);
        if (msg[0] == 'C') got.push_back(command_tag(msg));
        if (msg[0] == 'Z') {
            if (got != tags || msg.size() < 6 || msg[5] != status) {
                std::string seen;
                for (const auto& g : got) seen += "'" + g + "' ";
                return wrong("replies " + seen + "status '" +
                             (msg.size() > 5 ? msg.substr(5, 1) : "?") + "'");
            }
            return {};
        }
    }
}

// Waits until replies are readable (without reading them), then a little longer.
void wait_replies_arrived(RawSocket& s) {
    pollfd p{s.fd(), POLLIN, 0};
    ::poll(&p, 1, 2000);
    std::this_thread::sleep_for(50ms);
}

}  // namespace

const char* name_of(Scenario s) {
    switch (s) {
        case Scenario::after_begin:
            return "AfterBegin";
        case Scenario::after_update:
            return "AfterUpdate";
        case Scenario::mid_statement:
            return "MidStatement";
        case Scenario::mid_extended_no_sync:
            return "MidExtendedNoSync";
        case Scenario::extended_sync_unread:
            return "ExtendedSyncUnread";
        case Scenario::extended_sync_arrived:
            return "ExtendedSyncRepliesArrived";
        case Scenario::pipelined_begins:
            return "PipelinedBegins";
        case Scenario::pipelined_begins_arrived:
            return "PipelinedBeginsRepliesArrived";
        case Scenario::pipelined_update:
            return "PipelinedBeginUpdate";
        case Scenario::pipelined_update_arrived:
            return "PipelinedBeginUpdateRepliesArrived";
    }
    return "?";
}

const char* name_of(Way w) {
    switch (w) {
        case Way::fin:
            return "Fin";
        case Way::close:
            return "Close";
        case Way::rst:
            return "Rst";
        case Way::terminate:
            return "Terminate";
    }
    return "?";
}

void PrintTo(Scenario s, std::ostream* os) { *os << name_of(s); }
void PrintTo(Way w, std::ostream* os) { *os << name_of(w); }

bool makes_sense(Scenario s, Way w) {
    return !(s == Scenario::mid_statement && w == Way::terminate);
}

// Logs in through pgtenant with libpq, takes the socket, does what `scenario` says to row
// `id` and vanishes `way`. Returns "" or what went wrong before vanishing; `kept` holds the
// socket of a FIN (half-closed) client until the caller drops it.
std::string vanish(Pgtenant& proxy, const std::string& login, Scenario scenario, Way way, long id,
                   RawSocket* kept) {
    auto outcome = try_connect(proxy.conninfo(login), 10s);
    if (!outcome.ok()) return "login failed: " + outcome.sqlstate + " " + outcome.message;
    RawSocket s = take_socket(std::move(outcome.conn));
    std::string problem;
    auto send = [&](const std::string& bytes) {
        if (!s.send_all(bytes) && problem.empty()) problem = "send failed";
    };
    const std::string update = update_sql(id, 1);
    switch (scenario) {
        case Scenario::after_begin:
            send(wire::query("BEGIN"));
            problem = expect_replies(s, {"BEGIN"}, 'T', "BEGIN");
            break;
        case Scenario::after_update:
        case Scenario::mid_statement:
            send(wire::query("BEGIN"));
            problem = expect_replies(s, {"BEGIN"}, 'T', "BEGIN");
            if (!problem.empty()) break;
            send(wire::query(update));
            problem = expect_replies(s, {"UPDATE 1"}, 'T', "UPDATE");
            if (scenario == Scenario::mid_statement && problem.empty()) {
                auto half = wire::query(update_sql(id, 2));
                send(half.substr(0, half.size() / 2));
                std::this_thread::sleep_for(20ms);
            }
            break;
        case Scenario::mid_extended_no_sync:
            send(wire::query("BEGIN"));
            problem = expect_replies(s, {"BEGIN"}, 'T', "BEGIN");
            if (!problem.empty()) break;
            send(wire::parse("", update) + wire::bind("", "") + wire::execute());
            std::this_thread::sleep_for(20ms);
            break;
        case Scenario::extended_sync_unread:
        case Scenario::extended_sync_arrived:
            send(wire::parse("", "BEGIN") + wire::bind("", "") + wire::execute() +
                 wire::parse("", update) + wire::bind("", "") + wire::execute() + wire::sync());
            if (scenario == Scenario::extended_sync_arrived) wait_replies_arrived(s);
            break;
        case Scenario::pipelined_begins:
        case Scenario::pipelined_begins_arrived:
            send(wire::query("BEGIN") + wire::query("BEGIN") + wire::query("BEGIN"));
            if (scenario == Scenario::pipelined_begins_arrived) wait_replies_arrived(s);
            break;
        case Scenario::pipelined_update:
        case Scenario::pipelined_update_arrived:
            send(wire::query("BEGIN") + wire::query(update));
            if (scenario == Scenario::pipelined_update_arrived) wait_replies_arrived(s);
            break;
    }
    switch (way) {
        case Way::fin:
            s.shutdown_write();
            if (kept) *kept = std::move(s);
            break;
        case Way::close:
            s.close();
            break;
        case Way::rst:
            s.reset();
            break;
        case Way::terminate:
            s.send_all(wire::message('X', ""));
            s.close();
            break;
    }
    return problem;
}

}  // namespace pgtenant::testing
