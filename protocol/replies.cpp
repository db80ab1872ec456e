#include "protocol/replies.h"

#include <array>
#include <string_view>

namespace pgtenant::protocol {

bool request_for_tag(char tag, Request& out) {
    switch (tag) {
        case 'Q':
            out = Request::query;
            return true;
        case 'F':
            out = Request::function_call;
            return true;
        case 'P':
            out = Request::parse;
            return true;
        case 'B':
            out = Request::bind;
            return true;
        case 'D':
            out = Request::describe;
            return true;
        case 'E':
            out = Request::execute;
            return true;
        case 'C':
            out = Request::close;
            return true;
        case 'S':
            out = Request::sync;
            return true;
        default:
            return false;
    }
}

bool ReplyTracker::sent(Request r, Origin origin, Cookie cookie) {
    if (skipping_) {
        if (r != Request::sync) return false;  // the server ignores it: no reply will come
        skipping_ = false;
    }
    queue_.push_back({r, origin, cookie});
    return true;
}

void ReplyTracker::pop() {
    queue_.pop_front();
    front_errored_ = false;
}

// An error in an extended-protocol request: the server skips every message up to the next
// Sync (simple Query messages included), then answers that Sync with ReadyForQuery.
void ReplyTracker::fail_until_sync() {
    while (!queue_.empty() && queue_.front().request != Request::sync) {
        if (queue_.front().cookie != 0) failed_.push_back(queue_.front().cookie);
        pop();
    }
    if (queue_.empty()) {
        skipping_ = true;
    } else {
        front_errored_ = true;  // the client has this batch's error; its Sync is what remains
    }
}

bool ReplyTracker::front(Request& r) const {
    if (queue_.empty()) return false;
    r = queue_.front().request;
    return true;
}

std::deque<Request> ReplyTracker::abandon() {
    std::deque<Request> out;
    queue_.for_each([&](const Entry& e) {
        if (e.origin != Origin::injected && e.origin != Origin::probe) out.push_back(e.request);
    });
    queue_.clear();
    skipping_ = false;
    front_errored_ = false;
    return out;
}

namespace {
// The message types a server sends after login (PostgreSQL's protocol, version 3). Any other
// byte where a message starts means the stream is misframed: nothing after it can be trusted.
constexpr auto kServerTags = [] {
    std::array<bool, 256> t{};
    for (unsigned char c : std::string_view("123ACDEGHIKNRSTVWZcdnstv")) t[c] = true;
    return t;
}();
}  // namespace

ReplyTracker::Reply ReplyTracker::on_reply(char tag) {
    failed_.clear();
    if (!kServerTags[static_cast<unsigned char>(tag)]) return {Verdict::unexpected};
    if (tag == 'N' || tag == 'S' || tag == 'A') return {Verdict::forward};
    if (queue_.empty()) return {Verdict::unexpected};
    const Entry front = queue_.front();
    const std::size_t before = queue_.size();
    Reply reply{classify(front, tag)};
    if (reply.verdict != Verdict::unexpected) {
        reply.cookie = front.cookie;
        // Popped by this reply: answered, or failed (then it heads failed_).
        reply.completes = queue_.size() < before;
    }
    return reply;
}

bool ReplyTracker::binding_next() const {
    static constexpr Request kBinding[] = {Request::bind, Request::execute, Request::close};
    if (queue_.size() < 3) return false;
    for (std::size_t i = 0; i < 3; ++i) {
        const Entry& e = queue_.at(i);
        if (e.request != kBinding[i] || e.origin != Origin::injected) return false;
    }
    return true;
}

void ReplyTracker::on_binding_replies() {
    for (int i = 0; i < 3; ++i) pop();
    failed_.clear();
}

// The verdict for `tag` as a reply to `front`; pops what it completes.
ReplyTracker::Verdict ReplyTracker::classify(const Entry& front, char tag) {
    const bool ours = front.origin == Origin::injected || front.origin == Origin::hidden ||
                      front.origin == Origin::probe;
    const Verdict pass = ours ? Verdict::drop : Verdict::forward;
    const Verdict on_error = front.origin == Origin::injected     ? Verdict::injected_error
                             : front.origin == Origin::substitute ? Verdict::substitute_error
                             : front.origin == Origin::probe      ? Verdict::drop
                                                                  : Verdict::forward;
    if (tag == 'E' && front.origin == Origin::injected) return Verdict::injected_error;
    switch (front.request) {
        case Request::query:
        case Request::function_call:
        case Request::sync:
            // Self-contained: errors and results are part of it until ReadyForQuery.
            if (tag == 'Z') {
                pop();
                return pass;
            }
            if (tag == 'E') {
                front_errored_ = true;
                return on_error;
            }
            // A Sync is answered by ReadyForQuery alone (after an error at commit, at most).
            if (front.request == Request::sync) return Verdict::unexpected;
            return pass;
        default:
            break;
    }
    if (tag == 'E') {
        fail_until_sync();
        return on_error;
    }
    switch (front.request) {
        case Request::parse:
            if (tag != '1') return Verdict::unexpected;
            break;
        case Request::bind:
            if (tag != '2') return Verdict::unexpected;
            break;
        case Request::close:
            if (tag != '3') return Verdict::unexpected;
            break;
        case Request::describe:
            if (tag == 't') return pass;  // ParameterDescription precedes the row shape
            if (tag != 'T' && tag != 'n') return Verdict::unexpected;
            break;
        case Request::execute:
            // Rows and COPY traffic belong to the Execute until its completion message.
            if (tag == 'Z') return Verdict::unexpected;
            if (tag != 'C' && tag != 'I' && tag != 's') return pass;
            break;
        default:
            return Verdict::unexpected;
    }
    pop();
    return pass;
}

}  // namespace pgtenant::protocol
