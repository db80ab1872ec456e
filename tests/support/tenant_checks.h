#pragma once
// Tenant-aware assertions shared by the integration suites: which tables are tenant tables,
// how many demo rows each practice owns, and "every row belongs to practice X".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/demo_fixture.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pq.h"

namespace pgtenant::testing {

struct TenantTable {
    std::string name;
    std::size_t practice_column;  // position of the practice column in SELECT *
    std::string practice_key;     // its name
    int rows_a;
    int rows_b;
};

const std::vector<TenantTable>& tenant_tables();
int expected_rows(const TenantTable& table, const std::string& practice);
const std::string& other_practice(const std::string& practice);

// Counted by the superuser, which bypasses RLS: the ground truth.
int count_as_superuser(PGconn* superuser, const std::string& table, const std::string& key,
                       const std::string& practice);

// An unbound statement "fails closed": an error (compat policies cast an unset setting), or no
// rows at all (sealed policies compare with a NULL practice). A bare count must be 0.
::testing::AssertionResult fails_closed(const QueryResult& r);

::testing::AssertionResult all_rows_in_practice(const Rows& rows, std::size_t column,
                                                const std::string& practice);

}  // namespace pgtenant::testing
