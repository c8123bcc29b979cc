#pragma once
// Shared by the CLI tests: the phantom's truth.json, and making odd DICOM files from phantom slices.

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "CliRunner.h"
#include "TestData.h"
#include "jumeau/imaging/ImageGeometry.h"

namespace jumeau::test {

using Json = nlohmann::json;

// The phantom's truth.json (made by the `phantom` fixture, or generated here when run outside CTest).
inline Json phantomTruth() {
    std::ifstream in(phantomCase() / "truth.json");
    return Json::parse(in);
}

// The geometry truth.json states for series `which` ("ct", "mr", "us"). Its "direction" is the matrix row by row
// (rows of ImageGeometry::direction), whereas inspect prints one LPS unit vector per index axis.
inline imaging::ImageGeometry truthGeometry(const Json& truth, const std::string& which) {
    const Json& g = truth.at("series").at(which).at("geometry");
    imaging::ImageGeometry out;
    for (int a = 0; a < 3; ++a) {
        out.size[a] = g.at("size").at(a).get<int>();
        out.spacing[a] = g.at("spacing").at(a).get<double>();
        out.origin[a] = g.at("origin").at(a).get<double>();
        for (int c = 0; c < 3; ++c) out.direction.m[a][c] = g.at("direction").at(a).at(c).get<double>();
    }
    return out;
}

// stdout of a run as JSON; a parse failure fails the test and returns null.
inline Json parseJson(const CliRun& run) {
    try {
        return Json::parse(run.out);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "): " << run.out.substr(0, 500) << "\n" << run.describe();
        return Json();
    }
}

inline std::array<double, 3> vec3(const Json& j) {
    return {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>()};
}

// The JSON series entry with this UID (the first part when the reader split it), or null.
inline Json findSeries(const Json& doc, const std::string& uid) {
    for (const auto& s : doc.at("series"))
        if (s.at("seriesUid") == uid) return s;
    return Json();
}

} // namespace jumeau::test
