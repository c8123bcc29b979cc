#include "TestData.h"

namespace jumeau::test {

std::filesystem::path sharedData(const std::string& relative) {
    const std::filesystem::path p = std::filesystem::path(JUMEAU_SHARED_DATA_DIR) / relative;
    std::error_code ec;
    return std::filesystem::exists(p, ec) ? p : std::filesystem::path();
}

std::filesystem::path outputDir(const std::string& name) {
    const std::filesystem::path p = std::filesystem::path(JUMEAU_TEST_OUTPUT_DIR) / name;
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

std::filesystem::path cliExecutable() { return JUMEAU_CLI; }

} // namespace jumeau::test
