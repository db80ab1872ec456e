#pragma once
// The oracle of session_fuzz_test: reads a side's replies to one step and reduces them to what
// must be equal through pgtenant and directly on PostgreSQL.
//
// Compared: the sequence of message tags; CommandComplete tags; ReadyForQuery statuses;
// SQLSTATEs; RowDescription column names and types; DataRow, CopyData and ParameterDescription
// contents. Ignored, with the reason:
// - ParameterStatus ('S'): pgtenant applies the client's settings again on each server
//   connection and reports them (wire_client.h); they are state, not replies.
// - NoticeResponse ('N'), NotificationResponse ('A'): warnings such as "there is no
//   transaction in progress" carry no state the oracle checks; pgtenant may add its own.
// - error message texts: only the SQLSTATE and the severity are a contract.
// - BackendKeyData and backend pids: libpq logs in, and pgtenant hands out its own keys.
// Errors pgtenant raises itself (0A000 refused in transaction pooling, 42501 refused by policy,
// 53400 pool wait timeout, 57P03 server unreachable) are the caller's business: the
// generator never sends what pgtenant refuses by design, and a 53400/57P03 (load, not logic)
// abandons the sequence instead of failing it.
#include <chrono>
#include <string>
#include <vector>

#include "tests/support/net.h"

namespace pgtenant::testing::fuzz {

struct Transcript {
    std::vector<std::string> items;  // normalised replies, e.g. "C:INSERT 0 1", "Z:T"
    int ready = 0;                   // ReadyForQuery messages
    char status = 'I';               // the last ReadyForQuery status
    bool closed = false;             // the peer closed (or reset) the connection
    bool timed_out = false;          // no (further) reply within the deadline
    bool errored = false;            // at least one ErrorResponse

    bool has_sqlstate(const std::string& code) const;
    std::string text() const;  // for failure reports, one item per line
};

// Reads messages until `max_z` ReadyForQuery, or `min_z` of them and `quiet` without another
// byte, or close, or the timeout.
Transcript read_replies(RawSocket& s, int min_z, int max_z, std::chrono::milliseconds timeout,
                        std::chrono::milliseconds quiet = std::chrono::milliseconds(500));

// Reads until an ErrorResponse, a close or a ReadyForQuery (in that case more may follow),
// for hostile input: "" when pgtenant answered with an error or closed within the timeout.
std::string expect_refusal(RawSocket& s, std::chrono::milliseconds timeout, Transcript* seen);

// "" when equal, else a side-by-side of the first difference and both transcripts.
std::string compare(const Transcript& direct, const Transcript& proxy);

}  // namespace pgtenant::testing::fuzz
