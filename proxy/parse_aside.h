#pragma once
// Parsing long statement texts off the event loop. libpg_query may take a long time (hundreds
// of milliseconds for a megabyte of nested expressions) and needs a deep stack for them; a
// worker thread that waited for it would stall every other client on that worker. One thread
// with a large stack parses them in turn; the session that asked waits for the answer as for
// any I/O, and its worker goes on serving the others.
#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "protocol/guard/facts.h"
#include "proxy/asio.h"

namespace pgtenant::proxy {

class ParseAside {
  public:
    ParseAside();
    ~ParseAside();  // after the workers stopped: an unanswered parse is never resumed
    ParseAside(const ParseAside&) = delete;
    ParseAside& operator=(const ParseAside&) = delete;

    // The facts of `sql` (protocol::guard::parse_facts_here), resumed on the caller's executor.
    awaitable<protocol::guard::Facts> parse(std::string sql);

  private:
    struct Job {
        std::string sql;
        std::function<void(protocol::guard::Facts)> done;
    };
    static void* run(void* self);
    std::mutex mu_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    bool stop_ = false;
    bool started_ = false;
    pthread_t thread_{};
};

}  // namespace pgtenant::proxy
