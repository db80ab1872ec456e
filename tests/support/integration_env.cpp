#include "tests/support/integration_env.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

namespace pgtenant::testing {
namespace {

IntegrationEnv* g_env = nullptr;

}  // namespace

void IntegrationEnv::SetUp() {
    try {
        cluster_ = std::make_unique<PgCluster>();
        proxy_ = std::make_unique<Pgtenant>(*cluster_, options_);
        // The same suite runs once more on the io_uring build (ctest's *_io_uring entries);
        // every other run must be on epoll, the default.
        // (pgtenant accepts connections a moment before it logs that it listens.)
        const char* io = std::getenv("PGTENANT_IO");
        const bool uring = io && std::string(io) == "io_uring";
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (proxy_->log().find("worker thread") == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ASSERT_NE(proxy_->log().find("worker thread"), std::string::npos) << proxy_->log();
        ASSERT_NE(proxy_->log().find(uring ? ", io_uring)" : ", epoll)"), std::string::npos)
            << proxy_->log();
    } catch (const std::exception& e) {
        // A fatal failure here makes gtest skip every case: nothing can run without them.
        FAIL() << "integration environment did not start: " << e.what();
    }
}

void IntegrationEnv::TearDown() {
    auto* unit = ::testing::UnitTest::GetInstance();
    bool failed = unit->failed_test_count() > 0 || unit->ad_hoc_test_result().Failed();
    if (proxy_ && failed) {
        std::cerr << "\n===== pgtenant log (last 150 lines) =====\n"
                  << proxy_->tail_log(150) << "\n===== end of pgtenant log =====\n";
    }
    if (proxy_) {
        bool was_running = proxy_->running();
        proxy_.reset();
        EXPECT_TRUE(was_running) << "pgtenant exited before the end of the suite";
    }
    cluster_.reset();
}

IntegrationEnv* register_integration_env(PgtenantOptions options) {
    g_env = new IntegrationEnv(std::move(options));
    ::testing::AddGlobalTestEnvironment(g_env);
    return g_env;
}

IntegrationEnv& integration_env() {
    if (g_env == nullptr) {
        throw std::logic_error("register_integration_env() was not called in this test binary");
    }
    return *g_env;
}

void ProxyTest::TearDown() {
    if (!env().proxy().running()) {
        ADD_FAILURE() << "pgtenant is no longer running (status " << env().proxy().exit_status()
                      << "); log tail:\n"
                      << env().proxy().tail_log(60);
        return;
    }
    if (HasFailure()) {
        std::cerr << "----- pgtenant log tail after failure -----\n"
                  << env().proxy().tail_log(40)
                  << "\n-------------------------------------------\n";
    }
}

}  // namespace pgtenant::testing
