// jumeau-cli labels import|edit|export on the phantom: what a batch user relies on (volumes that change as the tool
// says, structures that arrive with their names, meshes that are valid and in the asked frame, clear refusals).
#include <gtest/gtest.h>

#include "CliTestSupport.h"

using namespace jumeau;
using jumeau::test::Json;
namespace fs = std::filesystem;

namespace {

Json runJson(const std::vector<std::string>& args, int expectedExit = 0) {
    const auto r = test::runCli(args);
    EXPECT_EQ(r.exitCode, expectedExit) << r.describe();
    if (r.exitCode != expectedExit) return {};
    try {
        return Json::parse(r.out);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out;
        return {};
    }
}

} // namespace

TEST(CliLabels, ImportPutsTheLabelFileOnTheReferenceGrid) {
    const fs::path dir = test::outputDir("cli-labels-import");
    const fs::path phantom = test::phantomCase();
    const Json truth = test::phantomTruth();
    const Json j = runJson({"labels", "import", (phantom / "ct").string(), (phantom / "labels" / "labels.seg.nrrd").string(),
                            "--out", (dir / "imported.seg.nrrd").string(), "--json"});
    ASSERT_TRUE(j.contains("structures")) << j.dump();
    EXPECT_EQ(j.at("structures").size(), truth.at("structures").size());
    for (const auto& s : j.at("structures")) {
        EXPECT_FALSE(s.at("resampled").get<bool>()) << s.dump(); // the labels are on the CT grid already
        EXPECT_NEAR(s.at("volumeMl").get<double>(), s.at("sourceVolumeMl").get<double>(), 1e-6) << s.dump();
    }
    EXPECT_TRUE(fs::exists(dir / "imported.seg.nrrd"));
}

TEST(CliLabels, EditToolsChangeVolumesAsSaid) {
    const fs::path dir = test::outputDir("cli-labels-edit");
    const fs::path labels = test::phantomCase() / "labels" / "labels.seg.nrrd";
    // A 3 mm dilation of the liver grows it (into the body outline around it), an erosion shrinks it.
    const Json dilated = runJson({"labels", "edit", labels.string(), "--op", "dilate", "--structure", "Liver", "--mm",
                                  "3", "--out", (dir / "dilated.seg.nrrd").string(), "--json"});
    ASSERT_TRUE(dilated.contains("volumeMlAfter")) << dilated.dump();
    const double before = dilated.at("volumeMlBefore").get<double>();
    // Surface area of the ~660 ml liver is several hundred cm²: 3 mm adds well over 100 ml (less where other
    // structures, which are not overwritten, touch it).
    EXPECT_GT(dilated.at("volumeMlAfter").get<double>(), before + 100);
    const Json eroded = runJson({"labels", "edit", labels.string(), "--op", "erode", "--structure", "Liver", "--mm", "3",
                                 "--out", (dir / "eroded.seg.nrrd").string(), "--json"});
    EXPECT_LT(eroded.at("volumeMlAfter").get<double>(), before - 100);
    // A 10 mm safety margin around a tumour inside the liver, as a new structure (taking liver voxels: --overwrite):
    // a shell of the right size around the tumour, which keeps all its voxels.
    const Json margin = runJson({"labels", "edit", labels.string(), "--op", "margin", "--structure", "Tumour 1", "--mm",
                                 "10", "--into", "Tumour 1 margin", "--overwrite", "--out",
                                 (dir / "margin.seg.nrrd").string(), "--json"});
    ASSERT_TRUE(margin.contains("volumeMlAfter")) << margin.dump();
    const double tumour = margin.at("volumeMlBefore").get<double>();
    const double r = std::cbrt(3 * tumour * 1000 / (4 * 3.14159265358979));
    const double shell = 4.0 / 3.0 * 3.14159265358979 * (std::pow(r + 10, 3) - std::pow(r, 3)) / 1000;
    EXPECT_NEAR(margin.at("volumeMlAfter").get<double>(), shell, 0.12 * shell);
    // Threshold with a preset makes a new structure from the CT.
    const Json bone = runJson({"labels", "edit", labels.string(), "--op", "threshold", "--preset", "bone", "--structure",
                               "Bone (threshold)", "--reference", (test::phantomCase() / "ct").string(), "--overwrite",
                               "--out", (dir / "bone.seg.nrrd").string(), "--json"});
    EXPECT_GT(bone.at("volumeMlAfter").get<double>(), 50);
    // Refusals name the problem.
    const auto unknown = test::runCli({"labels", "edit", labels.string(), "--op", "dilate", "--structure", "Nope",
                                       "--mm", "3", "--out", (dir / "x.seg.nrrd").string()});
    EXPECT_EQ(unknown.exitCode, 1);
    EXPECT_NE(unknown.err.find("no structure named 'Nope'"), std::string::npos) << unknown.err;
    const auto outside = test::runCli({"labels", "edit", labels.string(), "--op", "grow", "--structure", "G", "--seed",
                                       "0,0,0", "--range", "80", "200", "--reference",
                                       (test::phantomCase() / "ct").string(), "--out", (dir / "g.seg.nrrd").string()});
    EXPECT_EQ(outside.exitCode, 1);
    EXPECT_NE(outside.err.find("outside the range"), std::string::npos) << outside.err;
    EXPECT_FALSE(fs::exists(dir / "x.seg.nrrd"));
}

TEST(CliLabels, ExportWritesValidMeshesInTheAskedFrame) {
    const fs::path dir = test::outputDir("cli-labels-export");
    const fs::path labels = test::phantomCase() / "labels" / "labels.seg.nrrd";
    const Json j = runJson({"labels", "export", labels.string(), "--structure", "Tumour 1", "--structure", "Portal vein",
                            "--frame", "LPS", "--out", (dir / "meshes").string(), "--json"});
    ASSERT_TRUE(j.contains("meshes")) << j.dump();
    ASSERT_EQ(j.at("meshes").size(), 2u);
    EXPECT_EQ(j.at("frame"), "LPS");
    for (const auto& m : j.at("meshes")) {
        EXPECT_TRUE(m.at("closed").get<bool>()) << m.dump();
        EXPECT_TRUE(m.at("manifold").get<bool>()) << m.dump();
        EXPECT_FALSE(m.at("selfIntersecting").get<bool>()) << m.dump();
        EXPECT_NEAR(m.at("volumeMl").get<double>(), m.at("voxelVolumeMl").get<double>(),
                    0.03 * m.at("voxelVolumeMl").get<double>());
        EXPECT_TRUE(fs::exists(m.at("file").get<std::string>()));
    }
    const auto stlScene = test::runCli({"labels", "export", labels.string(), "--combined", "--out",
                                        (dir / "scene.stl").string()});
    EXPECT_EQ(stlScene.exitCode, 1);
    EXPECT_NE(stlScene.err.find("STL"), std::string::npos) << stlScene.err;
}
