#pragma once
// The metrics endpoint: a small HTTP/1.1 server (Boost.Beast) on server.metrics_addr and
// server.metrics_port. GET /metrics answers the Prometheus text format; GET /healthz answers
// 200 "ok" while pgtenant can serve, 503 with the reason otherwise. Anything else is 404 (405
// for another method). Each connection has 10 s to send a request; at most 64 at once.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/asio.h"

namespace pgtenant::proxy::admin {

struct MetricsHandlers {
    std::function<std::string()> metrics;
    // nullopt while healthy; otherwise why not.
    std::function<std::optional<std::string>()> unhealthy;
};

class MetricsServer {
  public:
    // Throws std::runtime_error when it cannot listen. `stopped` runs on `ex` once the accept
    // loop has ended after stop(): only then may `ex`'s io_context stop (its pending accept
    // refers to the acceptor).
    MetricsServer(asio::any_io_executor ex, const std::string& addr, uint16_t port,
                  MetricsHandlers handlers, std::function<void()> stopped);
    ~MetricsServer();
    uint16_t port() const { return port_; }
    void stop();
    struct State;  // defined in metrics_http.cpp

  private:
    std::shared_ptr<State> state_;
    uint16_t port_ = 0;
};

}  // namespace pgtenant::proxy::admin
