#pragma once
// One PostgreSQL cluster and one pgtenant per integration binary, shared by all its cases.
// Each *_test.cpp registers the environment once at namespace scope:
//
//     const auto* const env = pgtenant::testing::register_integration_env();
//
// and its tests reach the cluster and the proxy through integration_env().
#include <gtest/gtest.h>

#include <memory>

#include "tests/support/pg_cluster.h"
#include "tests/support/pgtenant_process.h"

namespace pgtenant::testing {

class IntegrationEnv : public ::testing::Environment {
  public:
    explicit IntegrationEnv(PgtenantOptions options) : options_(std::move(options)) {}

    void SetUp() override;
    void TearDown() override;

    PgCluster& cluster() { return *cluster_; }
    Pgtenant& proxy() { return *proxy_; }
    PgConn connect_as(const std::string& login) { return proxy_->connect_as(login); }
    PgConn superuser() { return cluster_->superuser(); }

  private:
    PgtenantOptions options_;
    std::unique_ptr<PgCluster> cluster_;
    std::unique_ptr<Pgtenant> proxy_;
};

// gtest owns the returned environment; call once per binary, at static-initialisation time.
IntegrationEnv* register_integration_env(PgtenantOptions options = {});
IntegrationEnv& integration_env();

// Base fixture: skips nothing, but after each failed case prints the end of pgtenant's log
// and fails the case if the proxy process died during it.
class ProxyTest : public ::testing::Test {
  protected:
    void TearDown() override;
    IntegrationEnv& env() { return integration_env(); }
};

}  // namespace pgtenant::testing
