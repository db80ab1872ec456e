#include "proxy/session/settings.h"

#include <algorithm>
#include <array>

namespace pgtenant::proxy {

namespace {
// Reported by the server, never set by a client: not a setting of the client's to carry.
bool read_only_report(std::string_view name) {
    static constexpr std::array<std::string_view, 6> names = {
        "server_version", "server_encoding",       "integer_datetimes",
        "is_superuser",   "session_authorization", "in_hot_standby"};
    return std::find(names.begin(), names.end(), name) != names.end();
}
}  // namespace

std::vector<SettingChange> ClientSettings::changes_for(const HeldSettings& held) const {
    std::vector<SettingChange> out;
    for (const auto& [name, value] : values_) {
        auto it = held.find(name);
        if (it == held.end() || it->second != value) out.push_back({name, value});
    }
    for (const auto& [name, value] : held) {
        if (!values_.contains(name)) out.push_back({name, std::nullopt});
    }
    return out;
}

void ClientSettings::applied(const std::vector<SettingChange>& changes, HeldSettings& held) const {
    for (const auto& c : changes) {
        if (c.value) {
            held[c.name] = *c.value;
        } else {
            held.erase(c.name);
        }
    }
}

// `reset`: the write is a RESET (true) or a SET (false); nullopt when unknown (set_config).
void ClientSettings::note(const std::string& name, std::optional<bool> reset) {
    auto [it, added] = unsettled_.try_emplace(name);
    if (added) {
        auto v = values_.find(name);
        if (v != values_.end()) it->second.before = v->second;
    }
    if (reset) it->second.reset = *reset;
}

void ClientSettings::note_writes(const protocol::guard::SettingWrites& w) {
    for (const auto& name : w.names) note(name, std::nullopt);
    if (w.reset_all) {
        for (const auto& [name, value] : values_) note(name, true);
        for (const auto& [name, value] : startup_) note(name, true);
    }
    for (const auto& set : w.session_sets) note(set.name, !set.value.has_value());
}

std::vector<std::string> ClientSettings::unsettled() const {
    std::vector<std::string> out;
    for (const auto& [name, written] : unsettled_) {
        if (name == "transaction") continue;  // SET TRANSACTION: this transaction only
        if (name == "session characteristics") {
            for (const char* n : {"default_transaction_isolation", "default_transaction_deferrable",
                                  "default_transaction_read_only"})
                out.emplace_back(n);
            continue;
        }
        out.push_back(name);
    }
    return out;
}

void ClientSettings::settle(const std::vector<std::string>& names,
                            const std::vector<std::optional<std::string>>& read,
                            HeldSettings& held) {
    for (std::size_t i = 0; i < names.size() && i < read.size(); ++i) {
        const std::string& name = names[i];
        const auto& value = read[i];
        if (!value) {  // no such setting (a custom one never set): nothing to carry
            values_.erase(name);
            held.erase(name);
            continue;
        }
        held[name] = *value;
        auto written = unsettled_.find(name);
        auto start = startup_.find(name);
        const bool reset = written != unsettled_.end() && written->second.reset;
        if (reset && start != startup_.end() && written->second.before != value) {
            // PostgreSQL resets to the value the session started with; this connection started
            // with the pool's. The client's value is re-applied before its next transaction.
            values_[name] = start->second;
        } else {
            values_[name] = *value;
        }
    }
    unsettled_.clear();
}

void ClientSettings::give_up(const std::vector<std::string>& names, HeldSettings& held) {
    for (const auto& name : names) held[name].assign(1, kUnknownSetting[0]);
    unsettled_.clear();
}

void ClientSettings::reported(const std::string& name, const std::string& value,
                              HeldSettings& held) {
    if (read_only_report(name)) return;
    values_[name] = value;
    held[name] = value;
}

}  // namespace pgtenant::proxy
