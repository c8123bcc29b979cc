// jumeau-cli register, end to end: the contract (TRANSFORM.json's fixed->moving LPS matrix against truth.json, the
// --json quality report, --resampled on the fixed grid, --tfm), landmarks, and bad input (exit non-zero with a clear
// message, never the toolkit's text alone).

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "CliTestSupport.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::test;
namespace fs = std::filesystem;

namespace {

using Mat4 = std::array<std::array<double, 4>, 4>;

Mat4 matrixOf(const Json& j) {
    Mat4 m{};
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c) m[r][c] = j.at(r).at(c).get<double>();
    return m;
}

std::array<double, 3> apply(const Mat4& m, const std::array<double, 3>& p) {
    std::array<double, 3> out{};
    for (std::size_t r = 0; r < 3; ++r) out[r] = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
    return out;
}

// Largest distance between where the two matrices send points spread over the liver region of the phantom.
double maxDisagreementMm(const Mat4& a, const Mat4& b) {
    double worst = 0;
    for (double x = -60; x <= 20; x += 20)
        for (double y = -40; y <= 40; y += 20)
            for (double z = -40; z <= 60; z += 25) {
                const auto p = apply(a, {x, y, z}), q = apply(b, {x, y, z});
                worst = std::max(worst, std::hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]));
            }
    return worst;
}

Json readJson(const fs::path& f) {
    std::ifstream in(f);
    return Json::parse(in);
}

} // namespace

TEST(CliRegister, PhantomCtToMrMatchesTruthAndPrintsTheQualityReport) {
    const fs::path dir = outputDir("cli-register-ctmr");
    const fs::path ph = phantomCase();
    const auto run =
        runCli({"register", (ph / "ct").string(), (ph / "mr").string(), "--out", (dir / "t.json").string(),
                "--resampled", (dir / "mr-on-ct.nrrd").string(), "--tfm", (dir / "t.tfm").string(), "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json report = parseJson(run);
    ASSERT_TRUE(report.is_object());
    for (const char* key :
         {"metric", "finalMetric", "iterations", "converged", "overlap", "landmarks", "warnings", "seconds"})
        EXPECT_TRUE(report.contains(key)) << key;
    EXPECT_TRUE(report.at("converged").get<bool>());
    EXPECT_GT(report.at("overlap").get<double>(), 0.8);
    EXPECT_GT(report.at("iterations").get<int>(), 0);

    const Json t = readJson(dir / "t.json");
    const Mat4 found = matrixOf(t.at("matrix"));
    const Mat4 truth = matrixOf(phantomTruth().at("transforms").at("mr").at("matrix"));
    EXPECT_LT(maxDisagreementMm(found, truth), 0.5) << t.dump();
    EXPECT_EQ(t.at("mode"), "rigid");
    EXPECT_TRUE(fs::exists(dir / "t.tfm"));

    // The resampled MR is on the CT grid.
    auto resampled = imaging::readVolume(dir / "mr-on-ct.nrrd");
    ASSERT_TRUE(resampled.ok()) << resampled.error().describe();
    EXPECT_TRUE(resampled->geometry().sameGrid(truthGeometry(phantomTruth(), "ct"), 1e-3))
        << resampled->geometry().describe();
}

TEST(CliRegister, ExactLandmarksOnlyGiveTheTruthAndZeroResiduals) {
    const fs::path dir = outputDir("cli-register-landmarks");
    const fs::path ph = phantomCase();
    const Mat4 truth = matrixOf(phantomTruth().at("transforms").at("mr").at("matrix"));
    Json lm = {{"frame", "LPS"}, {"landmarks", Json::array()}};
    int n = 0;
    for (const auto& p :
         std::vector<std::array<double, 3>>{{-40, 20, 10}, {35, -15, 40}, {10, 60, -30}, {-5, -50, -60}}) {
        const auto q = apply(truth, p);
        lm["landmarks"].push_back({{"name", "L" + std::to_string(++n)}, {"fixed", p}, {"moving", q}});
    }
    std::ofstream(dir / "lm.json") << lm.dump(2);
    const auto run =
        runCli({"register", (ph / "ct").string(), (ph / "mr").string(), "--landmarks", (dir / "lm.json").string(),
                "--landmarks-only", "--out", (dir / "t.json").string(), "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    const Json report = parseJson(run);
    ASSERT_EQ(report.at("landmarks").size(), 4u);
    for (const auto& l : report.at("landmarks")) EXPECT_LT(l.at("errorMm").get<double>(), 1e-6) << l.dump();
    EXPECT_EQ(report.at("landmarks").at(1).at("name"), "L2");
    EXPECT_LT(maxDisagreementMm(matrixOf(readJson(dir / "t.json").at("matrix")), truth), 1e-6);
}

TEST(CliRegister, BadInputExitsNonZeroWithAPlainMessage) {
    const fs::path dir = outputDir("cli-register-bad");
    const fs::path ph = phantomCase();
    // Missing image.
    auto run =
        runCli({"register", (dir / "nothing").string(), (ph / "mr").string(), "--out", (dir / "t.json").string()});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find("no such file or folder"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("FIXED"), std::string::npos) << run.err;
    // Bad mode.
    run = runCli({"register", (ph / "ct").string(), (ph / "mr").string(), "--mode", "elastic", "--out",
                  (dir / "t.json").string()});
    EXPECT_EQ(run.exitCode, 2) << run.describe();
    EXPECT_NE(run.err.find("--mode"), std::string::npos) << run.err;
    // Images far apart (a nudge of 400 mm): refused with advice, not a toolkit exception.
    run = runCli({"register", (ph / "ct").string(), (ph / "mr").string(), "--init", "identity", "--translate",
                  "400,0,0", "--out", (dir / "t.json").string()});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find("overlap by only"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("landmarks"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("Too many samples"), std::string::npos) << run.err;
    EXPECT_FALSE(fs::exists(dir / "t.json"));
    // Landmarks file with two pairs only.
    std::ofstream(dir / "two.json")
        << R"({"landmarks": [{"fixed": [0,0,0], "moving": [1,1,1]}, {"fixed": [9,0,0], "moving": [9,1,1]}]})";
    run = runCli({"register", (ph / "ct").string(), (ph / "mr").string(), "--landmarks", (dir / "two.json").string(),
                  "--landmarks-only", "--out", (dir / "t.json").string()});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find("at least 3"), std::string::npos) << run.err;
    // An empty mask.
    run = runCli({"convert", (ph / "ct").string(), "--out", (dir / "ct.nrrd").string()});
    ASSERT_EQ(run.exitCode, 0) << run.describe();
    auto ct = imaging::readVolume(dir / "ct.nrrd");
    ASSERT_TRUE(ct.ok());
    std::vector<std::uint8_t> zeros(ct->geometry().voxelCount(), 0);
    ASSERT_TRUE(
        imaging::writeVolume(imaging::Volume::create(ct->geometry(), std::move(zeros)), dir / "empty-mask.nrrd").ok());
    run = runCli({"register", (dir / "ct.nrrd").string(), (ph / "mr").string(), "--mask",
                  (dir / "empty-mask.nrrd").string(), "--out", (dir / "t.json").string()});
    EXPECT_EQ(run.exitCode, 1) << run.describe();
    EXPECT_NE(run.err.find("mask is empty"), std::string::npos) << run.err;
}
