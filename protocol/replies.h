#pragma once
// The expected-replies queue of one server connection. Every message sent to the server
// that produces replies is recorded in order; each reply from the server is matched to the
// oldest outstanding request. Requests pgtenant injected itself are marked `drop`, so their
// replies never reach the client. No sockets: driven by message tags only.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "protocol/ring_queue.h"

namespace pgtenant::protocol {

enum class Request : uint8_t {
    query,          // 'Q': everything up to and including ReadyForQuery
    function_call,  // 'F': FunctionCallResponse then ReadyForQuery
    parse,          // 'P': ParseComplete
    bind,           // 'B': BindComplete
    describe,       // 'D': [ParameterDescription] RowDescription | NoData
    execute,        // 'E': rows, then CommandComplete | EmptyQueryResponse | PortalSuspended
    close,          // 'C': CloseComplete
    sync,           // 'S': ReadyForQuery
};

// Which requests a frontend message tag makes (0 for none: Flush, CopyData, ...).
bool request_for_tag(char tag, Request& out);

// Who a request is for: the client's own; pgtenant's injected ones (replies dropped, a failure
// is pgtenant's problem); hidden ones pgtenant sends on the client's behalf (success replies
// dropped, an error is the client's, e.g. re-preparing its statement on another connection);
// a substitute pgtenant sent in place of a refused client message to make the server fail
// it (its error is replaced by pgtenant's own); or a probe: pgtenant's own, whose replies and
// errors alike are pgtenant's business (reading settings back, which fails harmlessly inside a
// failed transaction).
enum class Origin : uint8_t { client, injected, hidden, substitute, probe };

// The sender's own tag for one request (0: none), handed back with each reply to it and when
// the request ends unanswered. Opaque to the tracker: it lets the sender keep per-request
// bookkeeping (which statement a Parse creates, which a Describe describes) without a
// parallel queue of its own.
using Cookie = uint32_t;

class ReplyTracker {
  public:
    enum class Verdict : uint8_t {
        forward,           // send to the client
        drop,              // reply to an injected request (or a probe's error): swallow
        injected_error,    // an injected request failed: nothing was consumed; the session
                           // must abandon this server connection
        substitute_error,  // the expected failure of a substitute: send pgtenant's error instead
        unexpected,        // not a reply to anything outstanding (e.g. a FATAL on an idle link)
    };

    struct Reply {
        Verdict verdict = Verdict::unexpected;
        Cookie cookie = 0;       // of the request this message answers (0: none, or async)
        bool completes = false;  // the request's last reply (its error included)
    };

    // Record a request sent to the server. Requests sent while the server is skipping to the
    // next Sync after an error produce no replies and are not recorded: returns false then.
    bool sent(Request r, Origin origin = Origin::client, Cookie cookie = 0);

    // Classify the next server message by tag. Async messages (Notice, ParameterStatus,
    // Notification) are always forwarded and change nothing.
    Reply on_reply(char tag);

    // A DataRow ('D') that on_reply would forward without completing anything: one of the
    // client's own Queries or Executes is at the front. Then it counts as that on_reply (true);
    // otherwise nothing changes (false) and the row goes through on_reply. Result rows are most
    // of a large reply: this keeps each one to a few instructions.
    bool on_client_row() {
        if (queue_.empty()) return false;
        const Entry& front = queue_.front();
        if (front.origin != Origin::client ||
            (front.request != Request::query && front.request != Request::execute))
            return false;
        failed_.clear();
        return true;
    }

    // Whether the three oldest requests are pgtenant's injected Bind, Execute and Close (the
    // binding of a transaction).
    bool binding_next() const;
    // The binding's four successful replies (BindComplete, one DataRow, CommandComplete,
    // CloseComplete) at once, as four on_reply calls that each drop them. Only when
    // binding_next().
    void on_binding_replies();
    // The cookies (non-zero ones) of the requests the last on_reply ended without success:
    // the extended-protocol request that failed, and those the server skips up to the next
    // Sync. Valid until the next on_reply.
    const std::vector<Cookie>& failed() const { return failed_; }

    bool idle() const { return queue_.empty(); }
    std::size_t outstanding() const { return queue_.size(); }
    // True while the server discards messages until a Sync that has not been sent yet.
    bool skipping_to_sync() const { return skipping_; }
    // The front request, for callers that synthesise replies when the server is lost.
    bool front(Request& r) const;
    // Forget everything (server connection gone). Returns the client's outstanding requests
    // (substitutes included, injected ones not), oldest first.
    std::deque<Request> abandon();
    // Has the client already received an error for the request at the front?
    bool front_errored() const { return front_errored_; }
    // Is the front request one of pgtenant's own (its side effects are not the client's)?
    bool front_injected() const {
        return !queue_.empty() && (queue_.front().origin == Origin::injected ||
                                   queue_.front().origin == Origin::probe);
    }

  private:
    struct Entry {
        Request request;
        Origin origin;
        Cookie cookie;
    };
    Verdict classify(const Entry& front, char tag);
    void pop();
    void fail_until_sync();

    RingQueue<Entry> queue_;
    std::vector<Cookie> failed_;
    bool skipping_ = false;
    bool front_errored_ = false;
};

}  // namespace pgtenant::protocol
