#pragma once
// The fixture of the `pgtenant check` suites (check_test, check_scope_test): each case plants
// one misconfiguration as the superuser, runs the checks as the pool role, expects the finding,
// and undoes the plant (so order does not matter).
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "proxy/check/check.h"
#include "tests/support/integration_env.h"

namespace pgtenant::testing {

using proxy::Finding;
using proxy::Severity;

// The checks are written against the demo's compat policies (practice_isolation); sealed
// installs are covered by the sealed cases, startup_check_test and isolation_gate_test.
inline PgtenantOptions compat_demo() {
    PgtenantOptions o;
    o.tenant_mode = "compat";
    return o;
}

class CheckTest : public ProxyTest {
  protected:
    void SetUp() override { super_ = env().superuser(); }

    std::string pool_conninfo() {
        return "host=127.0.0.1 port=" + std::to_string(env().cluster().port()) +
               " dbname=postgres user=pgtenant_pool password=" + env().cluster().pool_password();
    }
    std::vector<Finding> checks(const proxy::CheckOptions& options = {}) {
        return proxy::run_checks(pool_conninfo(), options);
    }
    void su(const std::string& sql) { query(super_.get(), sql); }

    // Runs undo_sql as the superuser when the scope ends, even after a failed assertion.
    class Undo {
      public:
        Undo(CheckTest* t, std::string sql) : t_(t), sql_(std::move(sql)) {}
        ~Undo() {
            auto r = run(t_->super_.get(), sql_);
            EXPECT_TRUE(r.ok()) << sql_ << ": " << r.error;
        }

      private:
        CheckTest* t_;
        std::string sql_;
    };
    Undo plant(const std::string& sql, const std::string& undo_sql) {
        su(sql);
        return Undo(this, undo_sql);
    }

    bool verifier_installed() {
        return query(super_.get(),
                     "SELECT to_regprocedure('pgtenant.practice_id()') IS NOT NULL")[0][0] == "t";
    }
    // A stand-in SECURITY DEFINER pgtenant.practice_id() (returning NULL), unless sealed mode
    // is installed in the cluster; dropped at the end of the scope.
    Undo stub_verifier() {
        if (verifier_installed()) return Undo(this, "SELECT 1");
        return plant(
            "CREATE SCHEMA IF NOT EXISTS pgtenant; CREATE FUNCTION pgtenant.practice_id() "
            "RETURNS uuid LANGUAGE sql SECURITY DEFINER AS 'SELECT NULL::uuid'",
            "DROP FUNCTION pgtenant.practice_id(); DROP SCHEMA pgtenant");
    }

    static const Finding* find(const std::vector<Finding>& fs, const std::string& id,
                               const std::string& object = "") {
        for (const auto& f : fs) {
            if (f.id == id && (object.empty() || f.object.find(object) != std::string::npos)) {
                return &f;
            }
        }
        return nullptr;
    }
    static void expect_finding(const std::vector<Finding>& fs, const std::string& id,
                               Severity severity, const std::string& object) {
        const Finding* f = find(fs, id, object);
        ASSERT_NE(f, nullptr) << "no " << id << " on " << object << " in:\n"
                              << proxy::format_text(fs);
        EXPECT_EQ(f->severity, severity) << id;
        EXPECT_FALSE(f->message.empty());
        EXPECT_FALSE(f->fix_sql.empty());
    }
    static void expect_no_finding(const std::vector<Finding>& fs, const std::string& id,
                                  const std::string& object = "") {
        EXPECT_EQ(find(fs, id, object), nullptr)
            << "unexpected " << id << " on " << object << " in:\n"
            << proxy::format_text(fs);
    }
    static int count(const std::vector<Finding>& fs, Severity s) {
        return static_cast<int>(
            std::count_if(fs.begin(), fs.end(), [s](const Finding& f) { return f.severity == s; }));
    }

    PgConn super_;
};

}  // namespace pgtenant::testing
