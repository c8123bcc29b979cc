#pragma once
// The phantom's ground-truth transforms for tests and benchmarks below the simulation module (imaging tests,
// the registration benchmark), which cannot call simulation::readDemoCaseTruth.

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "jumeau/geometry/Vec.h"

namespace jumeau::test {

// truth.json's "transforms"/`which` ("mr", "us"): the 4x4 LPS matrix mapping CT points to that series' points.
inline geometry::Transform phantomTruthTransform(const std::filesystem::path& dir, const std::string& which) {
    std::ifstream in(dir / "truth.json");
    const auto j = nlohmann::json::parse(in);
    std::array<std::array<double, 4>, 4> m{};
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) m[r][c] = j.at("transforms").at(which).at("matrix").at(r).at(c).get<double>();
    return geometry::Transform::fromMatrix4(m);
}

} // namespace jumeau::test
