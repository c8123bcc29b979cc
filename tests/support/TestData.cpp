#include "TestData.h"

#include <cstdlib>
#include <stdexcept>

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

std::filesystem::path phantomCase() {
    const std::filesystem::path dir = JUMEAU_TEST_PHANTOM_DIR;
    std::error_code ec;
    if (!std::filesystem::exists(dir / "truth.json", ec)) {
        const std::string cmd = "\"" + cliExecutable().string() + "\" phantom --out \"" + dir.string() + "\" --seed 1 > /dev/null";
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("could not generate the test phantom: " + cmd);
    }
    return dir;
}

} // namespace jumeau::test
