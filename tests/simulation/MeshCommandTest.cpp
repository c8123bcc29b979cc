// jumeau-cli mesh end to end: label volume, DICOM mask folders, the JSON contract, and every bad input named.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "TestData.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/geometry/MeshIO.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
namespace fs = std::filesystem;

namespace {

struct CliRun {
    int exitCode = -1;
    std::string out, err;
};

CliRun runCli(const std::string& args, const fs::path& dir) {
    const fs::path errFile = dir / "stderr.txt";
    const std::string cmd = "'" + test::cliExecutable().string() + "' mesh " + args + " 2> '" + errFile.string() + "'";
    CliRun r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) r.out += buf;
    const int status = pclose(p);
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream es(errFile);
    std::ostringstream ss;
    ss << es.rdbuf();
    r.err = ss.str();
    return r;
}

// A small label map: liver (2) a ball, vessel (7) a tube through it, and "empty" (9) in the table with no voxel.
fs::path writeLabels(const fs::path& dir) {
    imaging::ImageGeometry g;
    g.size = {40, 36, 30};
    g.spacing = {1, 1, 1.5};
    g.origin = {-20, -18, -22};
    std::vector<std::uint8_t> v(g.voxelCount(), 0);
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const geometry::Vec3 p = g.indexToLps({double(i), double(j), double(k)});
                if (geometry::norm(p) <= 14) v[g.linearIndex(i, j, k)] = 2;
                if (std::hypot(p.x - 3, p.y + 2) <= 2.5) v[g.linearIndex(i, j, k)] = 7;
            }
    const std::vector<imaging::Structure> table{{2, "liver", {0.8, 0.4, 0.3}, imaging::StructureCategory::Organ},
                                                {7, "portal vein", {0.2, 0.3, 0.9}, imaging::StructureCategory::Vessel},
                                                {9, "empty", {1, 1, 1}, imaging::StructureCategory::Other}};
    const fs::path file = dir / "labels.seg.nrrd";
    EXPECT_TRUE(imaging::writeLabelMap(imaging::LabelMap(imaging::Volume::create(g, std::move(v)), table), file).ok());
    return file;
}

} // namespace

TEST(MeshCommand, LabelVolumeToRasStlWithJson) {
    const fs::path dir = test::outputDir("cli-mesh-labels");
    const fs::path labels = writeLabels(dir);
    const fs::path out = dir / "liver.stl";
    const CliRun r = runCli("'" + labels.string() + "' --structure Liver --frame RAS --target-triangles 3000 --out '" +
                                out.string() + "' --json",
                            dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"areaCm2", "closed", "manifold", "seconds", "selfIntersecting",
                                              "structure", "triangles", "volumeMl"}));
    EXPECT_EQ(j["structure"], "liver");
    EXPECT_TRUE(j["closed"].get<bool>());
    EXPECT_TRUE(j["manifold"].get<bool>());
    EXPECT_FALSE(j["selfIntersecting"].get<bool>());
    EXPECT_LE(j["triangles"].get<int>(), 3000);
    EXPECT_GT(j["seconds"].get<double>(), 0);
    // Ball of 14 mm radius minus the vessel running through it: between the two, and the file agrees.
    const double volumeMl = j["volumeMl"].get<double>();
    EXPECT_GT(volumeMl, 4.0 / 3.0 * 3.14159 * 14 * 14 * 14 / 1000 * 0.85);
    EXPECT_LT(volumeMl, 4.0 / 3.0 * 3.14159 * 14 * 14 * 14 / 1000 * 1.01);
    auto back = geometry::readMesh(out);
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_EQ(back->fileFrame, geometry::Frame::RAS);
    EXPECT_EQ(back->name, "liver");
    EXPECT_NEAR(back->mesh.signedVolumeMm3() / 1000, volumeMl, 1e-3 * volumeMl);
    EXPECT_TRUE(geometry::analyseMesh(back->mesh).valid());

    // The vessel by label value, to PLY, with colour; text output names it.
    const CliRun v = runCli("'" + labels.string() + "' --label 7 --out '" + (dir / "vein.ply").string() + "'", dir);
    ASSERT_EQ(v.exitCode, 0) << v.err;
    EXPECT_NE(v.out.find("portal vein"), std::string::npos) << v.out;
}

TEST(MeshCommand, BadInputsNameTheInputAndTheProblem) {
    const fs::path dir = test::outputDir("cli-mesh-bad");
    const fs::path labels = writeLabels(dir);
    const std::string out = " --out '" + (dir / "x.stl").string() + "'";
    auto expectFailure = [&](const std::string& args, const std::string& words) {
        const CliRun r = runCli(args + out, dir);
        EXPECT_NE(r.exitCode, 0) << args;
        EXPECT_NE(r.err.find(words), std::string::npos) << args << " -> " << r.err;
        EXPECT_EQ(r.err.find("fatal"), std::string::npos) << r.err;
    };
    const std::string in = "'" + labels.string() + "'";
    expectFailure(in + " --structure spleen", "no structure named 'spleen'");
    expectFailure(in + " --label 99", "no voxel has label 99");
    expectFailure(in + " --structure empty", "is empty");
    expectFailure(in, "several labels");
    expectFailure("'" + (dir / "missing.nrrd").string() + "' --label 1", "missing.nrrd");

    // An intensity image (a CT-like ramp of thousands of values) is not a label image.
    imaging::ImageGeometry g;
    g.size = {64, 64, 4};
    std::vector<std::int16_t> ct(g.voxelCount());
    std::iota(ct.begin(), ct.end(), 0); // 16384 distinct non-negative integers
    const fs::path ctFile = dir / "ct.nrrd";
    ASSERT_TRUE(imaging::writeVolume(imaging::Volume::create(g, std::move(ct)), ctFile).ok());
    expectFailure("'" + ctFile.string() + "' --label 1", "not a label image");

    const CliRun ext = runCli(in + " --label 2 --out '" + (dir / "x.vtk").string() + "'", dir);
    EXPECT_NE(ext.exitCode, 0);
    EXPECT_FALSE(fs::exists(dir / "x.stl"));
}

TEST(MeshCommand, IrcadFolderOfMaskSeries) {
    JUMEAU_REQUIRE_SHARED_DATA(masks, "ircad-3dircadb1.17-liver-ct/MASKS_DICOM_RLE");
    const fs::path dir = test::outputDir("cli-mesh-ircad");
    const CliRun r =
        runCli("'" + masks.string() + "' --structure livertumor2 --label 255 --target-triangles 20000 --out '" +
                   (dir / "tumour.obj").string() + "' --json",
               dir);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["structure"], "livertumor2");
    EXPECT_TRUE(j["closed"].get<bool>() && j["manifold"].get<bool>() && !j["selfIntersecting"].get<bool>());
    EXPECT_LE(j["triangles"].get<int>(), 20000);

    const std::string out = " --out '" + (dir / "x.stl").string() + "'";
    const CliRun none = runCli("'" + masks.string() + "' --structure pancreas" + out, dir);
    EXPECT_NE(none.exitCode, 0);
    EXPECT_NE(none.err.find("liver"), std::string::npos) << "should list the structures: " << none.err;
    const CliRun which = runCli("'" + masks.string() + "'" + out, dir);
    EXPECT_NE(which.exitCode, 0);
    EXPECT_NE(which.err.find("--structure"), std::string::npos) << which.err;
}
