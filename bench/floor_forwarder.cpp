// bench_floor_forwarder: the cheapest proxy pgtenant's runtime allows, as a reference target
// for the bench ("Asio floor"). It accepts TCP clients and gives each a server connection of its
// own (1:1, no pooling), then relays bytes both ways without reading them: one Asio coroutine per
// direction, a read that waits through the reactor and a write tried at once, as pgtenant's
// sessions do. No parsing, no authentication of its own (SCRAM passes through to PostgreSQL), no
// binding. Whatever CPU per transaction it spends, any proxy built on the same runtime (Boost.Asio
// coroutines on epoll, DESIGN.md) spends at least that; what PgBouncer spends beyond it is what is
// left for everything pgtenant does per transaction.
//
//   bench_floor_forwarder <listen port> <server port>      (both on 127.0.0.1)
//
// Runs until killed. Exit status 2 on bad arguments, 1 if it cannot listen.
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <charconv>
#include <cstdio>
#include <string_view>

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> relay(tcp::socket& from, tcp::socket& to) {
    std::array<char, 16384> buffer;
    for (;;) {
        auto [read_error, n] = co_await from.async_read_some(asio::buffer(buffer), kTuple);
        if (read_error) break;
        error_code write_error;
        std::size_t written = to.write_some(asio::buffer(buffer.data(), n), write_error);
        if (write_error == asio::error::would_block) {
            written = 0;
            write_error = {};
        }
        if (write_error) break;
        if (written < n) {
            auto [rest_error, _] = co_await asio::async_write(
                to, asio::buffer(buffer.data() + written, n - written), kTuple);
            if (rest_error) break;
        }
    }
    // Either side gone: end both directions, so that the other relay's read ends too.
    error_code ignored;
    from.close(ignored);
    to.close(ignored);
}

asio::awaitable<void> serve(tcp::socket client, tcp::endpoint server_endpoint) {
    tcp::socket server(co_await asio::this_coro::executor);
    auto [connect_error] = co_await server.async_connect(server_endpoint, kTuple);
    if (connect_error) co_return;
    for (tcp::socket* socket : {&client, &server}) {
        socket->set_option(tcp::no_delay(true));
        socket->non_blocking(true);
    }
    using namespace asio::experimental::awaitable_operators;
    co_await (relay(client, server) && relay(server, client));
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, tcp::endpoint server_endpoint) {
    for (;;) {
        auto [error, client] = co_await acceptor.async_accept(kTuple);
        if (error) continue;
        asio::co_spawn(acceptor.get_executor(), serve(std::move(client), server_endpoint),
                       asio::detached);
    }
}

bool parse_port(std::string_view text, unsigned short& port) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    return error == std::errc{} && end == text.data() + text.size() && port != 0;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short listen_port = 0, server_port = 0;
    if (argc != 3 || !parse_port(argv[1], listen_port) || !parse_port(argv[2], server_port)) {
        std::fprintf(stderr, "usage: bench_floor_forwarder <listen port> <server port>\n");
        return 2;
    }
    const auto loopback = asio::ip::make_address_v4("127.0.0.1");
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    try {
        acceptor = tcp::acceptor(io, tcp::endpoint(loopback, listen_port));
    } catch (const boost::system::system_error& e) {
        std::fprintf(stderr, "bench_floor_forwarder: cannot listen on port %u: %s\n", listen_port,
                     e.what());
        return 1;
    }
    asio::co_spawn(io, accept_loop(acceptor, tcp::endpoint(loopback, server_port)), asio::detached);
    io.run();
}
