#pragma once
// Where tests find real data (../shared/data) and write their outputs (build/test-output).

#include <filesystem>
#include <string>

namespace jumeau::test {

// Path under ../shared/data, or empty when that folder is absent (the caller GTEST_SKIPs with a message).
std::filesystem::path sharedData(const std::string& relative);
// A fresh folder under build/test-output/<name> (emptied first).
std::filesystem::path outputDir(const std::string& name);
// Path of the jumeau-cli executable built alongside the tests.
std::filesystem::path cliExecutable();

// The shared demo-case phantom (seed 1) made by the CTest fixture `fixture.phantom`; generated here with
// jumeau-cli when the test runs outside CTest. Read-only: tests that change a case copy it first.
std::filesystem::path phantomCase();

} // namespace jumeau::test

#define JUMEAU_REQUIRE_SHARED_DATA(var, rel)                                                              \
    const auto var = ::jumeau::test::sharedData(rel);                                                     \
    if (var.empty()) GTEST_SKIP() << "real test data not available: ../shared/data/" << (rel) << " is absent"
