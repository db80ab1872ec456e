#pragma once
// A client's session settings, exactly as PostgreSQL would hold them for it, and how to bring a
// pooled server connection to them.
//
// A server connection leased to one client holds that client's settings at session level: they
// are applied before its transaction begins, in a transaction of their own, so nothing the
// client's transaction does (ROLLBACK, a rolled-back savepoint, SET LOCAL) can revert them. While
// the client's transaction runs, PostgreSQL itself keeps its settings: whatever a SET, RESET,
// set_config() or savepoint does is what the client gets. Once a transaction in which a statement
// wrote settings is over, pgtenant reads the values back from the connection (in the same write
// as the statement that ended it): the values PostgreSQL reports are the client's from then on.
// Reported settings (TimeZone, DateStyle, ...) are learned from ParameterStatus as well.
//
// Pure bookkeeping: no sockets, no protocol I/O.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/guard/facts.h"
#include "proxy/client_params.h"

namespace pgtenant::proxy {

// What a server connection holds at session level, where it may differ from the pool role's
// defaults (lower-cased name -> value). kUnknownSetting: changed, value not known.
using HeldSettings = SessionParams;
inline constexpr std::string_view kUnknownSetting = "\x01";

struct SettingChange {
    std::string name;
    std::optional<std::string> value;  // nullopt: back to the connection's default
};

class ClientSettings {
  public:
    explicit ClientSettings(SessionParams startup = {})
        : startup_(startup), values_(std::move(startup)) {}
    // A session taken over from another process, with its settings as they are now.
    ClientSettings(SessionParams startup, SessionParams values)
        : startup_(std::move(startup)), values_(std::move(values)) {}

    const SessionParams& values() const { return values_; }
    const SessionParams& startup() const { return startup_; }

    bool held_by(const HeldSettings& held) const { return held == values_; }
    // What to run on a connection that holds `held` so that it holds this client's settings.
    std::vector<SettingChange> changes_for(const HeldSettings& held) const;
    // The changes ran and committed: `held` is now this client's.
    void applied(const std::vector<SettingChange>& changes, HeldSettings& held) const;

    // A statement of the client's transaction writes settings.
    void note_writes(const protocol::guard::SettingWrites& w);
    bool has_unsettled() const { return !unsettled_.empty(); }
    // Names whose values are to be read back once the transaction is over (empty: nothing).
    std::vector<std::string> unsettled() const;
    // The transaction that wrote them is over; `read` holds the connection's value for each of
    // `names` (an earlier unsettled()), nullopt for a setting that does not exist there.
    void settle(const std::vector<std::string>& names,
                const std::vector<std::optional<std::string>>& read, HeldSettings& held);
    // The values of `names` could not be read: the connection's are unknown from now on.
    void give_up(const std::vector<std::string>& names, HeldSettings& held);
    // The client's transaction reported a setting's value (ParameterStatus).
    void reported(const std::string& name, const std::string& value, HeldSettings& held);
    // The transaction died with its server connection: what it wrote is gone with it.
    void forget_transaction() { unsettled_.clear(); }

    // RESET ALL / DISCARD ALL answered without a server: back to the startup values.
    void reset_all() {
        values_ = startup_;
        unsettled_.clear();
    }

  private:
    SessionParams startup_;
    SessionParams values_;
    // A setting written in the current transaction: whether the last write was a RESET, and
    // the client's value before the transaction (ParameterStatus may change values_ meanwhile).
    struct Written {
        bool reset = false;
        std::optional<std::string> before;
    };
    std::map<std::string, Written> unsettled_;
    void note(const std::string& name, std::optional<bool> reset);
};

}  // namespace pgtenant::proxy
