#pragma once
// The listener: accepts clients, gives each its own Session on one of the worker threads, and shuts down on
// SIGINT/SIGTERM.
#include <memory>

#include "proxy/app.h"

namespace pgtenant::proxy {

// Builds the TLS context from server.tls_cert / tls_key; throws std::runtime_error.
std::unique_ptr<asio::ssl::context> make_tls_context(const config::ServerConfig& cfg);

// Runs until a signal arrives. Returns the process exit code.
int run_server(App& app);

}  // namespace pgtenant::proxy
