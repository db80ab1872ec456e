// The hot path allocates nothing: once a client and its server connection are warm, a
// transaction through pgtenant (its practice binding included) makes no heap allocation in
// pgtenant. pgtenant runs with tests/support/alloc_counter.c preloaded, which counts every
// malloc, calloc, realloc and aligned allocation of the process in a file this test reads.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "tests/support/integration_env.h"

namespace pgtenant::testing {
namespace {

constexpr int kWarmUp = 200;
constexpr int kTransactions = 1000;

const std::string& counter_path() {
    static const std::string path =
        "/tmp/pgtenant-alloc-counter-" + std::to_string(::getpid());
    return path;
}

const auto* const kEnv = register_integration_env([] {
    PgtenantOptions options;
#ifndef PGTENANT_SANITIZED
    // A sanitizer's runtime replaces malloc itself and must come first: no counter there.
    options.env["LD_PRELOAD"] = PGTENANT_ALLOC_COUNTER_LIBRARY;
#endif
    options.env["PGTENANT_TEST_ALLOC_COUNTER"] = counter_path();
    return options;
}());

// Allocations pgtenant has made so far.
uint64_t allocations() {
    uint64_t n = 0;
    int fd = ::open(counter_path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + counter_path());
    const bool whole = ::pread(fd, &n, sizeof n, 0) == static_cast<ssize_t>(sizeof n);
    ::close(fd);
    if (!whole) throw std::runtime_error("short read of " + counter_path());
    return n;
}

class HotPathTest : public ProxyTest {
  protected:
    void SetUp() override {
#ifdef PGTENANT_SANITIZED
        GTEST_SKIP() << "allocation counts need the plain build: the " PGTENANT_SANITIZED
                        " sanitizer replaces malloc";
#endif
    }

  protected:
    static void TearDownTestSuite() { ::unlink(counter_path().c_str()); }

    // pgtenant's allocations per call of `transaction`, after a warm-up. One a message is often
    // a coroutine frame grown past what Asio's frame cache keeps (1,020 bytes): every
    // temporary of every co_await in the coroutine takes room in it (bench/README).
    template <typename F>
    double allocations_per_transaction(F transaction) {
        for (int i = 0; i < kWarmUp; ++i) transaction();
        const uint64_t before = allocations();
        for (int i = 0; i < kTransactions; ++i) transaction();
        return static_cast<double>(allocations() - before) / kTransactions;
    }
};

// Guards the other cases: a counter that does not count would let them pass.
TEST_F(HotPathTest, CounterSeesPgtenantAllocate) {
    const uint64_t before = allocations();
    auto conn = env().connect_as(demo::kAlice);  // a login: SCRAM, a session, buffers
    EXPECT_EQ(query(conn.get(), "SELECT 1")[0][0], "1");
    EXPECT_GT(allocations() - before, 50u);
}

TEST_F(HotPathTest, SimpleQueryTransactionsAllocateNothing) {
    auto conn = env().connect_as(demo::kAlice);
    const double per_tx = allocations_per_transaction([&] {
        ASSERT_EQ(query(conn.get(), "SELECT count(*) FROM patients")[0][0],
                  std::to_string(demo::kPatientsA));
    });
    EXPECT_LT(per_tx, 0.05);
}

TEST_F(HotPathTest, ExtendedQueryTransactionsAllocateNothing) {
    auto conn = env().connect_as(demo::kAlice);
    const double per_tx = allocations_per_transaction([&] {
        ASSERT_EQ(query_params(conn.get(), "SELECT count(*) FROM patients WHERE $1::int > 0",
                               {std::string("1")})[0][0],
                  std::to_string(demo::kPatientsA));
    });
    EXPECT_LT(per_tx, 0.05);
}

TEST_F(HotPathTest, ExplicitTransactionsAllocateNothing) {
    auto conn = env().connect_as(demo::kBob);
    const double per_tx = allocations_per_transaction([&] {
        auto r = run(conn.get(), "BEGIN; SELECT count(*) FROM patients; COMMIT");
        ASSERT_TRUE(r.ok()) << r.error;
    });
    EXPECT_LT(per_tx, 0.05);
}

// A named statement is carried across server connections: its Bind is translated to the
// server copy's name, which costs only the record that settles the Bind (its server name and
// its map entry: two allocations), whatever the length of the client's name.
TEST_F(HotPathTest, PreparedStatementTransactionsAllocateOnlyTheirRecord) {
    auto conn = env().connect_as(demo::kAlice);
    const char* name = "a_statement_name_longer_than_short_string_storage";
    auto prepared = to_query_result(
        PQprepare(conn.get(), name, "SELECT count(*) FROM patients", 0, nullptr));
    ASSERT_TRUE(prepared.ok()) << prepared.error;
    const double per_tx = allocations_per_transaction([&] {
        auto r = to_query_result(PQexecPrepared(conn.get(), name, 0, nullptr, nullptr, nullptr, 0));
        ASSERT_TRUE(r.ok()) << r.error;
        ASSERT_EQ(r.rows[0][0], std::to_string(demo::kPatientsA));
    });
    EXPECT_LT(per_tx, 2.05);
}

}  // namespace
}  // namespace pgtenant::testing
