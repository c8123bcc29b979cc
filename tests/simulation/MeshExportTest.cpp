// Exporting the phantom's structures as mesh files: the files re-read with the frame they declare, the meshes are
// valid and hold the structures' volumes, a combined scene keeps every structure, bad requests are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "TestData.h"
#include "jumeau/geometry/MeshAnalysis.h"
#include "jumeau/imaging/VolumeIO.h"
#include "jumeau/simulation/MeshExport.h"

using namespace jumeau;
namespace fs = std::filesystem;

namespace {

imaging::LabelMap phantomLabels() {
    auto labels = imaging::readLabelMap(test::phantomCase() / "labels" / "labels.seg.nrrd");
    EXPECT_TRUE(labels.ok()) << (labels.ok() ? "" : labels.error().describe());
    return labels.ok() ? *labels : imaging::LabelMap{};
}

std::vector<std::uint16_t> tumourLabels(const imaging::LabelMap& labels) {
    std::vector<std::uint16_t> out;
    for (const auto& s : labels.structures())
        if (s.category == imaging::StructureCategory::Tumour) out.push_back(s.label);
    return out;
}

} // namespace

TEST(MeshExport, OneFilePerStructureInRasReadsBackValid) {
    const auto labels = phantomLabels();
    ASSERT_FALSE(labels.empty());
    const auto tumours = tumourLabels(labels);
    ASSERT_EQ(tumours.size(), 3u);
    const fs::path dir = test::outputDir("mesh-export-files");
    simulation::MeshExportOptions options;
    options.labels = tumours;
    options.frame = geometry::Frame::RAS;
    auto report = simulation::exportMeshes(labels, dir, options);
    ASSERT_TRUE(report.ok()) << report.error().describe();
    ASSERT_EQ(report->meshes.size(), 3u);
    EXPECT_EQ(report->invalidCount(), 0u);
    for (const auto& m : report->meshes) {
        EXPECT_EQ(m.file.parent_path(), dir);
        EXPECT_EQ(m.file.extension(), ".stl");
        auto back = geometry::readMesh(m.file);
        ASSERT_TRUE(back.ok()) << back.error().describe();
        EXPECT_TRUE(back->frameDeclared);
        EXPECT_EQ(back->fileFrame, geometry::Frame::RAS);
        const auto analysed = geometry::analyseMesh(back->mesh);
        EXPECT_TRUE(analysed.valid()) << m.structure << ": " << analysed.describe();
        // Volume preserved (the mesher's contract: within 1% of the voxel volume for smooth shapes; these spheres
        // are a few hundred voxels, allow 3%).
        EXPECT_NEAR(analysed.volumeMl, m.voxelVolumeMl, 0.03 * m.voxelVolumeMl) << m.structure;
        EXPECT_NEAR(m.voxelVolumeMl, labels.volumeMl(m.label), 1e-9);
        // RAS in the file, LPS in memory again: the centre is where the label's voxels are (not mirrored).
        geometry::Vec3 c{0, 0, 0};
        for (const auto& v : back->mesh.points) c = c + geometry::Vec3{v[0], v[1], v[2]};
        c = c * (1.0 / static_cast<double>(back->mesh.points.size()));
        const auto& g = labels.geometry();
        geometry::Vec3 voxelCentre{0, 0, 0};
        std::size_t n = 0;
        for (int k = 0; k < g.size[2]; ++k)
            for (int j = 0; j < g.size[1]; ++j)
                for (int i = 0; i < g.size[0]; ++i)
                    if (labels.labelAt(i, j, k) == m.label) {
                        voxelCentre = voxelCentre + g.indexToLps({double(i), double(j), double(k)});
                        ++n;
                    }
        voxelCentre = voxelCentre * (1.0 / static_cast<double>(n));
        EXPECT_LT(geometry::norm(c - voxelCentre), 1.0) << m.structure;
    }
}

TEST(MeshExport, CombinedSceneHoldsEveryStructure) {
    const auto labels = phantomLabels();
    ASSERT_FALSE(labels.empty());
    const fs::path file = test::outputDir("mesh-export-scene") / "tumours.obj";
    simulation::MeshExportOptions options;
    options.labels = tumourLabels(labels);
    options.format = geometry::MeshFormat::Obj;
    options.combined = true;
    auto report = simulation::exportMeshes(labels, file, options);
    ASSERT_TRUE(report.ok()) << report.error().describe();
    std::ifstream in(file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& m : report->meshes) {
        EXPECT_EQ(m.file, file);
        EXPECT_NE(text.find(m.structure), std::string::npos) << m.structure << " missing from the scene";
    }
    EXPECT_NE(text.find("frame=RAS"), std::string::npos);
}

TEST(MeshExport, BadRequestsAreRefusedAndCancelWritesNothing) {
    const auto labels = phantomLabels();
    ASSERT_FALSE(labels.empty());
    const fs::path dir = test::outputDir("mesh-export-bad");
    simulation::MeshExportOptions options;
    options.combined = true; // STL cannot be combined
    auto stl = simulation::exportMeshes(labels, dir / "scene.stl", options);
    ASSERT_FALSE(stl.ok());
    EXPECT_NE(stl.error().message.find("STL"), std::string::npos);

    options = {};
    options.labels = {250};
    auto unknown = simulation::exportMeshes(labels, dir, options);
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("250"), std::string::npos);

    auto none = simulation::exportMeshes(imaging::LabelMap{}, dir, {});
    ASSERT_FALSE(none.ok());

    options.labels = tumourLabels(labels);
    const fs::path cancelled = dir / "cancelled";
    int calls = 0;
    auto r = simulation::exportMeshes(labels, cancelled, options, [&](double, const std::string&) { return ++calls < 5; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
    EXPECT_FALSE(fs::exists(cancelled)) << "a cancelled export must not leave files behind";

    EXPECT_EQ(simulation::meshFileStem("Portal vein/branch: 1"), "Portal vein_branch_ 1");
}
