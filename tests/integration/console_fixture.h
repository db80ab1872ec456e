#pragma once
// The admin console and the metrics endpoint, as an operator reaches them: an admin login
// ("ops") on database "pgtenant" with libpq, and plain HTTP/1.0 GETs.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>

#include "tests/support/integration_env.h"
#include "tests/support/net.h"
#include "tests/support/pq.h"

namespace pgtenant::testing {

inline const std::string kOps = "ops";

// The default logins and an admin login.
inline std::vector<LoginSpec> logins_with_admin() {
    auto logins = default_logins();
    LoginSpec ops;
    ops.name = kOps;
    ops.password = "ops-secret";
    ops.admin = true;
    logins.push_back(ops);
    return logins;
}

inline std::string console_conninfo(const Pgtenant& p) {
    return p.conninfo(kOps, p.login(kOps).password, "dbname=pgtenant");
}

// One HTTP/1.0 GET on 127.0.0.1:port: the status code and the body.
struct HttpReply {
    int status = 0;
    std::string body;
};
inline HttpReply http_get(uint16_t port, const std::string& path) {
    // The metrics endpoint starts listening just after the client port (the harness waits for
    // that one): a test that scrapes at once may be a moment early.
    std::optional<RawSocket> socket;
    for (int attempt = 0; !socket; ++attempt) {
        try {
            socket.emplace(RawSocket::connect(port));
        } catch (const std::exception&) {
            if (attempt >= 100) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    auto& s = *socket;
    s.send_all("GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    const std::string reply = s.read_until_close(std::chrono::seconds(10));
    HttpReply r;
    if (reply.size() > 12) r.status = std::atoi(reply.substr(9, 3).c_str());
    const auto body = reply.find("\r\n\r\n");
    if (body != std::string::npos) r.body = reply.substr(body + 4);
    return r;
}

// The value of a sample line "name{labels} value" (or "name value"); -1 when absent.
inline double metric(const std::string& text, const std::string& series) {
    std::size_t at = 0;
    while ((at = text.find(series, at)) != std::string::npos) {
        const bool line_start = at == 0 || text[at - 1] == '\n';
        const std::size_t after = at + series.size();
        if (line_start && after < text.size() && text[after] == ' ')
            return std::stod(text.substr(after + 1, text.find('\n', after) - after - 1));
        at = after;
    }
    return -1;
}

// The column of a SHOW result, by name, for every row.
inline std::vector<std::string> show_column(PGconn* c, const std::string& show,
                                            const std::string& column) {
    PGresult* res = PQexec(c, show.c_str());
    std::vector<std::string> out;
    const int col = PQfnumber(res, column.c_str());
    if (PQresultStatus(res) == PGRES_TUPLES_OK && col >= 0) {
        for (int i = 0; i < PQntuples(res); ++i) out.emplace_back(PQgetvalue(res, i, col));
    }
    PQclear(res);
    return out;
}

// The value in `column` of the row whose `key_column` is `key`; "" when none.
inline std::string show_value(PGconn* c, const std::string& show, const std::string& key_column,
                              const std::string& key, const std::string& column) {
    const auto keys = show_column(c, show, key_column);
    const auto values = show_column(c, show, column);
    for (std::size_t i = 0; i < keys.size() && i < values.size(); ++i)
        if (keys[i] == key) return values[i];
    return "";
}

}  // namespace pgtenant::testing
