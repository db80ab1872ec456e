#include "proxy/admin/metrics_http.h"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace pgtenant::proxy::admin {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr int kMaxConnections = 64;
constexpr auto kRequestTimeout = std::chrono::seconds(10);
}  // namespace

struct MetricsServer::State {
    State(asio::any_io_executor ex, MetricsHandlers h) : acceptor(ex), handlers(std::move(h)) {}
    tcp::acceptor acceptor;
    MetricsHandlers handlers;
    int connections = 0;
};

namespace {

http::response<http::string_body> answer(const MetricsServer::State& s,
                                         const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "pgtenant");
    const std::string target(req.target().substr(0, req.target().find('?')));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.body() = "only GET\n";
    } else if (target == "/metrics") {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = s.handlers.metrics();
    } else if (target == "/healthz") {
        const auto why = s.handlers.unhealthy();
        res.result(why ? http::status::service_unavailable : http::status::ok);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = why ? *why + "\n" : "ok\n";
    } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "pgtenant serves /metrics and /healthz\n";
    }
    if (req.method() == http::verb::head) {
        res.content_length(res.body().size());
        res.body().clear();
    }
    res.prepare_payload();
    return res;
}

awaitable<void> serve_connection(std::shared_ptr<MetricsServer::State> s, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        http::request_parser<http::string_body> parser;
        parser.body_limit(4096);
        stream.expires_after(kRequestTimeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec) break;
        req = parser.release();
        auto res = answer(*s, req);
        const bool keep = res.keep_alive();
        stream.expires_after(kRequestTimeout);
        auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
        if (wec || !keep) break;
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    --s->connections;
}

awaitable<void> accept_loop(std::shared_ptr<MetricsServer::State> s) {
    for (;;) {
        auto [ec, socket] = co_await s->acceptor.async_accept(use_tuple);
        if (ec) {
            if (!s->acceptor.is_open()) co_return;
            asio::steady_timer pause(s->acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        if (s->connections >= kMaxConnections) continue;  // closed as it goes out of scope
        ++s->connections;
        asio::co_spawn(s->acceptor.get_executor(), serve_connection(s, std::move(socket)),
                       asio::detached);
    }
}

}  // namespace

MetricsServer::MetricsServer(asio::any_io_executor ex, const std::string& addr, uint16_t port,
                             MetricsHandlers handlers, std::function<void()> stopped)
    : state_(std::make_shared<State>(ex, std::move(handlers))) {
    try {
        tcp::endpoint ep(asio::ip::make_address(addr == "localhost" ? "127.0.0.1" : addr), port);
        auto& a = state_->acceptor;
        a.open(ep.protocol());
        a.set_option(tcp::acceptor::reuse_address(true));
        a.bind(ep);
        a.listen();
        port_ = a.local_endpoint().port();
    } catch (const std::exception& e) {
        throw std::runtime_error(
            fmt::format("cannot serve metrics on {}:{}: {}", addr, port, e.what()));
    }
    asio::co_spawn(ex, accept_loop(state_),
                   [stopped = std::move(stopped)](std::exception_ptr) { stopped(); });
}

MetricsServer::~MetricsServer() { stop(); }

void MetricsServer::stop() {
    error_code ignored;
    state_->acceptor.close(ignored);
}

}  // namespace pgtenant::proxy::admin
