#pragma once
// A server connection's protocol bookkeeping, apart from its socket: what a session needs to
// know to decide what to send it. ServerConnection adds the socket; tests drive a
// Conversation over connections of their own with one of these each.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/replies.h"
#include "proxy/client_params.h"
#include "proxy/statements.h"

namespace pgtenant::proxy {

// Names of pgtenant's statements on every server connection. Client statement names never
// collide with them: issue-level virtualisation maps client names elsewhere.
inline constexpr std::string_view kBindStatement = "pgtenant_bind";
inline constexpr std::string_view kSetStatement = "pgtenant_set";
inline constexpr std::string_view kResetStatement = "pgtenant_reset";

inline constexpr std::string_view kNoneStatement = "pgtenant_none";  // never exists
inline constexpr std::string_view kBindSealedStatement = "pgtenant_bind_sealed";
inline constexpr std::string_view kReadStatement = "pgtenant_read";  // settings' values
inline constexpr int kPgtenantStatementCount = 5;
// The binding's portal: named, so that a client's Execute of the unnamed portal never runs it
// (and closed at once).
inline constexpr std::string_view kBindPortal = "pgtenant_bind";
// Appends Parse messages for pgtenant's statements (no Sync).
void append_pgtenant_statements(std::string& out);

class ServerState {
  public:
    protocol::ReplyTracker& tracker() { return tracker_; }
    const protocol::ReplyTracker& tracker() const { return tracker_; }
    // Client statements prepared here under their server names.
    ServerStatements& statements() { return statements_; }
    // Settings currently differing from the role's defaults on this connection.
    SessionParams& params() { return params_; }
    // The practice whose transaction ran here last (for affinity and hygiene).
    std::string& last_practice() { return last_practice_; }
    // Whose unnamed statement the server holds: (session id, that session's generation of it);
    // {0, 0} for none known. A client may use only its own.
    std::pair<uint64_t, uint64_t>& unnamed_owner() { return unnamed_owner_; }
    // A client's DEALLOCATE ALL or DISCARD ALL ran here: pgtenant's own statements may be gone
    // and are prepared again before their next use.
    bool& own_statements_lost() { return own_statements_lost_; }
    // What the statements run here since the last practice switch may have left in the
    // session (protocol::guard::Effect bits): what the next switch must undo.
    uint8_t& effects() { return effects_; }
    // Learned when the connection opened (ServerConnection::open): whether the pool role can
    // read this session's prepared statements (pg_prepared_statements shows their text, so
    // they cannot outlive a practice switch), and whether it can create objects in a schema
    // (then a harmless-looking statement may run a function of a client's: every switch resets
    // in full).
    bool& statements_visible() { return statements_visible_; }
    bool& can_create() { return can_create_; }
    // The connection cannot serve again (lost, or a FATAL arrived): it is closed, not reused.
    bool broken() const { return broken_; }
    void mark_broken() { broken_ = true; }

  private:
    protocol::ReplyTracker tracker_;
    SessionParams params_;
    ServerStatements statements_;
    std::string last_practice_;
    std::pair<uint64_t, uint64_t> unnamed_owner_{0, 0};
    bool own_statements_lost_ = false;
    uint8_t effects_ = 0;
    bool statements_visible_ = true;  // until the connection says otherwise
    bool can_create_ = true;
    bool broken_ = false;
};

// The same, as requests of pgtenant's own on `server` (their replies are dropped).
void append_own_statements(ServerState& server, std::string& out);
// After a client's DEALLOCATE ALL or DISCARD ALL: pgtenant's statements, closed (a Close of a
// statement that is gone is no error) and prepared again, in the same write as their next use.
void restore_own_statements(ServerState& server, std::string& out);

}  // namespace pgtenant::proxy
