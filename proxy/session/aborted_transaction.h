#pragma once
// A client whose transaction died with its server connection (terminated backend, crash,
// idle_in_transaction_session_timeout, a cut network) must not drift into autocommit: its
// following statements would commit on another connection, and its COMMIT would "succeed" with
// half the transaction gone. PostgreSQL would have closed the client's connection. pgtenant keeps
// the client, and answers it as PostgreSQL answers inside a failed transaction block: the first
// statement gets the error that ended the transaction, every further one 25P02, until the client
// ends the block with ROLLBACK (or COMMIT, which then reports ROLLBACK, as PostgreSQL does).
// A COMMIT as the very first message after the loss fails with the loss's error, so no client is
// told that work it never saw fail was committed.
//
// Pure logic: takes the client's messages, appends the replies. No server connection is used
// while the client is in this state.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/errors.h"
#include "proxy/statements.h"

namespace pgtenant::proxy {

class AbortedTransaction {
  public:
    // `reported`: the client already got `cause` (for a request under way when it happened).
    // `mid_batch`: the client's extended batch goes on until its Sync, which gets 'E'.
    AbortedTransaction(protocol::Error cause, bool reported, bool mid_batch)
        : cause_(std::move(cause)), cause_reported_(reported), skip_until_sync_(mid_batch) {}

    // Answers one client message (tag, length and body). Named statements the client prepares
    // meanwhile (only transaction-ending ones succeed) go into `statements`, which also tells
    // what a Bind refers to.
    void on_message(std::string_view msg, ClientStatements& statements, std::string& out);
    // The client ended the block: its next message starts afresh on a server connection.
    bool over() const { return over_; }
    // The error pgtenant answered the last message with, other than the cause (for the log).
    std::optional<protocol::Error> take_answered() {
        return std::exchange(answered_, std::nullopt);
    }

    // ROLLBACK, ABORT, COMMIT or END (with WORK or TRANSACTION, AND NO CHAIN), alone: the
    // statements PostgreSQL accepts in a failed transaction block.
    static bool ends_block(std::string_view sql);

  private:
    void fail(std::string& out);
    void answer_error(protocol::Error e, std::string& out);
    void ready(std::string& out);

    protocol::Error cause_;
    std::optional<protocol::Error> answered_;
    bool cause_reported_ = false;
    bool over_ = false;
    bool ended_ = false;            // an ending statement ran; the next Sync reports 'I'
    bool skip_until_sync_ = false;  // an extended-protocol message failed
    bool unnamed_ends_ = false;     // the unnamed statement is a transaction end
    bool portal_ends_ = false;      // the unnamed portal is bound to one
};

}  // namespace pgtenant::proxy
