#pragma once
// Facts about config/demo_data.sql and the logins the harness creates, in one place so a
// change to the demo data is a change to one file.
#include <string>

namespace pgtenant::testing::demo {

inline const std::string kPracticeA = "11111111-1111-1111-1111-111111111111";  // Riverside
inline const std::string kPracticeB = "22222222-2222-2222-2222-222222222222";  // Harbor

constexpr int kPatientsA = 3;
constexpr int kPatientsB = 2;
constexpr int kMealLogsA = 5;
constexpr int kMealLogsB = 3;

// A patient of each practice, for meal logs that must satisfy the foreign key.
inline const std::string kPatientA = "a0000000-0000-0000-0000-000000000001";
inline const std::string kPatientB = "b0000000-0000-0000-0000-000000000001";

// Logins: alice and bob share nothing; carol is practice A in session pool mode.
inline const std::string kAlice = "alice";
inline const std::string kBob = "bob";
inline const std::string kCarol = "carol";

}  // namespace pgtenant::testing::demo
