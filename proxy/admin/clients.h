#pragma once
// The sessions the console can see and steer (SHOW CLIENTS, KILL), without the console knowing
// what a session is: each logged-in session registers a ClientHandle with its worker thread's
// list, and only that thread touches the list or the handle. The console reaches them by
// running on each worker in turn.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "auth/directory.h"

namespace pgtenant::proxy::admin {

// One client as SHOW CLIENTS reports it.
struct ClientInfo {
    uint64_t id = 0;
    std::string user;
    std::string practice;  // empty for an admin login
    std::string database;
    std::string state;  // "active" (holds a server connection), "waiting", "idle"
    std::string addr;
    int port = 0;
    std::chrono::system_clock::time_point connect_time;
    std::chrono::system_clock::time_point request_time;  // its last message
    std::chrono::microseconds wait{0};                   // waiting for a server connection
    bool tls = false;
    std::string application_name;
    uint64_t server = 0;  // the server connection it holds (pgtenant's id), 0 if none
    int worker = 0;
    std::size_t prepared_statements = 0;
};

class ClientHandle {
  public:
    virtual ~ClientHandle() = default;
    ClientHandle* prev_ = nullptr;  // ClientRegistry's links
    ClientHandle* next_ = nullptr;
    virtual ClientInfo describe() const = 0;
    virtual const std::string& practice() const = 0;
    virtual bool is_admin() const = 0;
    // Ends the session with 57P01, as PostgreSQL's pg_terminate_backend: an open transaction
    // is rolled back (its server connection is closed).
    virtual void terminate() = 0;
    // Called every sweep of its worker: ends or cancels what overstayed a timeout of
    // server.idle_transaction_timeout_ms, query_timeout_ms or client_idle_timeout_ms.
    virtual void enforce_timeouts(std::chrono::steady_clock::time_point now) = 0;
    // While pgtenant drains: ends the session (57P01) if it is between transactions.
    virtual void end_if_idle() = 0;
    // While pgtenant drains into a successor (server.handover_socket): moves the session to it
    // if it is between transactions, or ends it (57P01) if it cannot move.
    virtual void hand_over_if_idle() = 0;
    // After a reload: a session whose login is gone from the users file (or now names another
    // practice) finishes its transaction and is then ended (28000). True while such a session
    // is still in its transaction (to be checked again).
    virtual bool check_login(const auth::PracticeDirectory& directory) = 0;
};

// Per worker thread: the sessions living there, linked through the handles themselves (no
// allocation per session: an idle client must cost little). Only that thread reads or writes
// its list.
class ClientRegistry {
  public:
    void resize(int workers) { heads_.resize(static_cast<std::size_t>(workers), nullptr); }
    void add(int worker, ClientHandle* h) {
        auto& head = heads_[static_cast<std::size_t>(worker)];
        h->next_ = head;
        h->prev_ = nullptr;
        if (head) head->prev_ = h;
        head = h;
    }
    void remove(int worker, ClientHandle* h) {
        if (h->prev_) {
            h->prev_->next_ = h->next_;
        } else {
            heads_[static_cast<std::size_t>(worker)] = h->next_;
        }
        if (h->next_) h->next_->prev_ = h->prev_;
        h->prev_ = h->next_ = nullptr;
    }
    // Calls f(handle) for each session of `worker`; f must not add or remove sessions.
    template <typename F>
    void for_each(int worker, F f) {
        for (ClientHandle* h = heads_[static_cast<std::size_t>(worker)]; h; h = h->next_) f(*h);
    }

  private:
    std::vector<ClientHandle*> heads_;
};

}  // namespace pgtenant::proxy::admin
