#include "tests/support/tenant_checks.h"

namespace pgtenant::testing {

const std::vector<TenantTable>& tenant_tables() {
    static const std::vector<TenantTable> tables{
        {"practices", 0, "id", 1, 1},
        {"patients", 1, "practice_id", demo::kPatientsA, demo::kPatientsB},
        {"meal_logs", 1, "practice_id", demo::kMealLogsA, demo::kMealLogsB},
    };
    return tables;
}

int expected_rows(const TenantTable& table, const std::string& practice) {
    return practice == demo::kPracticeA ? table.rows_a : table.rows_b;
}

const std::string& other_practice(const std::string& practice) {
    return practice == demo::kPracticeA ? demo::kPracticeB : demo::kPracticeA;
}

int count_as_superuser(PGconn* superuser, const std::string& table, const std::string& key,
                       const std::string& practice) {
    auto rows = query_params(
        superuser, "SELECT count(*) FROM " + table + " WHERE " + key + " = $1::uuid", {practice});
    return std::stoi(rows.at(0).at(0));
}

::testing::AssertionResult all_rows_in_practice(const Rows& rows, std::size_t column,
                                                const std::string& practice) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (column >= rows[i].size() || rows[i][column] != practice) {
            return ::testing::AssertionFailure()
                   << "row " << i << " belongs to "
                   << (column < rows[i].size() ? rows[i][column] : "<no column>")
                   << ", expected practice " << practice;
        }
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult fails_closed(const QueryResult& r) {
    if (!r.ok()) return ::testing::AssertionSuccess() << "error " << r.sqlstate;
    if (r.rows.empty()) return ::testing::AssertionSuccess() << "no rows";
    if (r.rows.size() == 1 && r.rows[0].size() == 1 && r.rows[0][0] == "0")
        return ::testing::AssertionSuccess() << "count 0";
    auto failure = ::testing::AssertionFailure() << r.rows.size() << " row(s) returned, first:";
    for (const auto& v : r.rows[0]) failure << " " << v;
    return failure;
}

}  // namespace pgtenant::testing
