#pragma once
// The one place that pulls in Boost.Asio. Compiled separately (BOOST_ASIO_SEPARATE_COMPILATION,
// see asio_impl.cpp) so each translation unit that includes this stays quick to build.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace pgtenant::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
template <typename T = void>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace pgtenant::proxy
