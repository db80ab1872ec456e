// Fuzz target: the config loader (config/config.cpp) on arbitrary TOML text, as
// `pgtenant --config FILE` and a reload read it (parse_config is load_config without the file).
//
// Checked besides "no crash": the only exception is ConfigError (toml++'s parse errors
// included, with a message naming where); an accepted config holds every documented range and
// rule, with relative paths resolved against the config file's directory.
#include <string>
#include <string_view>

#include "config/config.h"
#include "fuzz_support.h"

namespace pgtenant::fuzz {
namespace {

const std::string kBaseDir = "/etc/pgtenant";

bool is_resolved(const std::string& path) { return path.empty() || path.starts_with("/"); }

void check_config(const config::Config& c) {
    const auto& s = c.server;
    FUZZ_CHECK(!s.listen_addr.empty() && s.listen_port >= 1);
    FUZZ_CHECK(s.workers >= 1 && s.workers <= 64);
    FUZZ_CHECK(s.max_client_conn >= 1 && s.max_client_conn <= 1'000'000);
    FUZZ_CHECK(s.max_message_bytes >= 1024 && s.max_message_bytes <= (std::size_t{1} << 30));
    FUZZ_CHECK(s.tls_cert.empty() == s.tls_key.empty());
    FUZZ_CHECK(!s.tls_required || !s.tls_cert.empty());
    FUZZ_CHECK(is_resolved(s.tls_cert) && is_resolved(s.tls_key));
    const std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                       "error", "critical", "off"};
    bool level_ok = false;
    for (auto l : levels) level_ok = level_ok || s.log_level == l;
    FUZZ_CHECK(level_ok);

    const auto& b = c.backend;
    FUZZ_CHECK(!b.host.empty() && !b.database.empty() && !b.user.empty() && b.port >= 1);
    FUZZ_CHECK(b.connect_timeout.count() >= 1 && b.connect_timeout.count() <= 3'600'000);

    const auto& p = c.pool;
    FUZZ_CHECK(p.size >= 1 && p.size <= 10'000);
    FUZZ_CHECK(p.min_idle >= 0 && p.min_idle <= p.size);
    FUZZ_CHECK(p.wait_timeout.count() >= 1 && p.wait_timeout.count() <= 3'600'000);

    const auto& t = c.tenant;
    FUZZ_CHECK(!t.users_file.empty() && is_resolved(t.users_file));
    FUZZ_CHECK(t.mode == config::TenantMode::compat || !t.key_file.empty());
    FUZZ_CHECK(is_resolved(t.key_file));
    FUZZ_CHECK(t.token_lifetime.count() >= 60 && t.token_lifetime.count() <= 86400);
    // The tenant setting is a lower-case custom GUC outside the proxy's own namespace.
    FUZZ_CHECK(t.setting.find('.') != std::string::npos && !t.setting.starts_with("pgtenant."));
    for (char ch : t.setting) {
        FUZZ_CHECK(ch == '.' || ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'));
    }
}

void fuzz_one(std::string_view text) {
    try {
        const auto c = config::parse_config(text, kBaseDir);
        FUZZ_CHECK(c != nullptr);
        check_config(*c);
    } catch (const config::ConfigError& e) {
        FUZZ_CHECK(std::string_view(e.what()).find(": ") != std::string_view::npos);
    }
}

}  // namespace
}  // namespace pgtenant::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pgtenant::fuzz::fuzz_one(pgtenant::fuzz::as_view(data, size));
    return 0;
}
