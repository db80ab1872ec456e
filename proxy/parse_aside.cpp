#include "proxy/parse_aside.h"

#include <sys/resource.h>
#include <unistd.h>

#include <memory>

#include "protocol/guard/guard.h"

namespace pgtenant::proxy {

namespace guard = protocol::guard;

namespace {
// Reserved, touched only as deep as a text nests (as guard.cpp's own big-stack thread).
constexpr std::size_t kStackBytes = 256u << 20;
// The thread's nice value: a long parse yields the CPU to the event loops (and to PostgreSQL on
// the same machine), so the clients the parse is not for are not delayed by it either.
constexpr int kNice = 10;
}  // namespace

ParseAside::ParseAside() {
    pthread_attr_t attr;
    started_ = pthread_attr_init(&attr) == 0 &&
               pthread_attr_setstacksize(&attr, kStackBytes) == 0 &&
               pthread_create(&thread_, &attr, &ParseAside::run, this) == 0;
    pthread_attr_destroy(&attr);
}

ParseAside::~ParseAside() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_one();
    if (started_) pthread_join(thread_, nullptr);
}

void* ParseAside::run(void* p) {
    auto& self = *static_cast<ParseAside*>(p);
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kNice);  // this thread only (Linux)
    for (;;) {
        Job job;
        {
            std::unique_lock lock(self.mu_);
            self.wake_.wait(lock, [&] { return self.stop_ || !self.jobs_.empty(); });
            if (self.stop_) return nullptr;
            job = std::move(self.jobs_.front());
            self.jobs_.pop_front();
        }
        guard::Facts facts;
        try {
            facts = guard::parse_facts_here(job.sql);
        } catch (...) {
            facts.parse_error = true;  // out of memory: unclassified, as a text not parsed
            facts.effects = guard::kAnything;
        }
        job.done(std::move(facts));
    }
}

awaitable<guard::Facts> ParseAside::parse(std::string sql) {
    if (!started_) co_return guard::parse_facts(sql);  // no thread: parse here, as before
    auto executor = co_await asio::this_coro::executor;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(guard::Facts)>(
        [this, executor, &sql](auto handler) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            {
                std::lock_guard lock(mu_);
                jobs_.push_back({std::move(sql), [executor, h](guard::Facts f) {
                                     asio::post(executor, [h, f = std::move(f)]() mutable {
                                         (*h)(std::move(f));
                                     });
                                 }});
            }
            wake_.notify_one();
        },
        asio::use_awaitable);
}

}  // namespace pgtenant::proxy
