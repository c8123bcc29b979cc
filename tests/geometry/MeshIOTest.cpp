#include "jumeau/geometry/MeshIO.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "AdmeshCheck.h"
#include "MeshTestShapes.h"
#include "TestData.h"
#include "jumeau/geometry/LabelMesher.h"

using namespace jumeau;
using namespace jumeau::geometry;
using namespace jumeau::geometry::testing;

namespace {

// A small closed, outward-oriented, asymmetric mesh (a meshed off-centre ellipsoid) so that a swapped axis or a
// flipped triangle changes something measurable.
const Mesh& sampleMesh() {
    static const Mesh mesh = [] {
        const Vec3 c{30, -12, 7};
        const BinaryGrid g = sampleGrid({20, 16, 12}, {1, 1, 1.2}, c, Mat3::identity(), [&](const Vec3& p) {
            const Vec3 q = p - c;
            return q.x * q.x / 64 + q.y * q.y / 36 + q.z * q.z / 16 <= 1;
        });
        auto r = meshBinaryGrid(g, {});
        return r.ok() ? r->mesh : Mesh{};
    }();
    return mesh;
}

std::string fileText(const std::filesystem::path& p) {
    std::ifstream is(p, std::ios::binary);
    std::ostringstream ss;
    ss << is.rdbuf();
    return ss.str();
}

void expectSameSurface(const Mesh& a, const Mesh& b) {
    ASSERT_EQ(a.triangleCount(), b.triangleCount());
    EXPECT_TRUE(b.isClosedAndOriented());
    EXPECT_NEAR(b.signedVolumeMm3(), a.signedVolumeMm3(), 1e-4 * a.signedVolumeMm3());
    EXPECT_NEAR(b.areaMm2(), a.areaMm2(), 1e-4 * a.areaMm2());
    // Same bounding box, axis by axis (catches a frame not converted back).
    for (int ax = 0; ax < 3; ++ax) {
        float lo1 = 1e9f, hi1 = -1e9f, lo2 = 1e9f, hi2 = -1e9f;
        for (const auto& p : a.points) lo1 = std::min(lo1, p[ax]), hi1 = std::max(hi1, p[ax]);
        for (const auto& p : b.points) lo2 = std::min(lo2, p[ax]), hi2 = std::max(hi2, p[ax]);
        EXPECT_NEAR(lo1, lo2, 1e-4);
        EXPECT_NEAR(hi1, hi2, 1e-4);
    }
}

} // namespace

TEST(MeshIO, RoundTripEveryFormatAndFrame) {
    const Mesh& mesh = sampleMesh();
    ASSERT_FALSE(mesh.empty());
    const auto dir = test::outputDir("meshio-roundtrip");
    for (Frame frame : {Frame::LPS, Frame::RAS})
        for (const char* ext : {".stl", ".obj", ".ply"})
            for (bool binary : {true, false}) {
                const auto file = dir / (std::string(toString(frame)) + (binary ? "-bin" : "-ascii") + ext);
                SCOPED_TRACE(file.string());
                MeshWriteOptions o;
                o.frame = frame;
                o.binary = binary;
                o.name = "left kidney";
                o.colour = std::array<double, 3>{0.8, 0.2, 0.1};
                ASSERT_TRUE(writeMesh(mesh, file, o).ok());
                auto back = readMesh(file);
                ASSERT_TRUE(back.ok()) << back.error().describe();
                EXPECT_EQ(back->fileFrame, frame);
                EXPECT_TRUE(back->frameDeclared);
                EXPECT_EQ(back->name, "left kidney");
                expectSameSurface(mesh, back->mesh);
            }
}

TEST(MeshIO, RasFlipsXAndYInTheFile) {
    Mesh m;
    m.points = {{10, 20, 30}, {11, 20, 30}, {10, 21, 30}};
    m.triangles = {{0, 1, 2}};
    const auto dir = test::outputDir("meshio-ras");
    MeshWriteOptions o;
    o.frame = Frame::RAS;
    o.name = "liver";
    ASSERT_TRUE(writeMesh(m, dir / "t.obj", o).ok());
    const std::string obj = fileText(dir / "t.obj");
    EXPECT_NE(obj.find("frame=RAS units=mm structure=liver"), std::string::npos);
    EXPECT_NE(obj.find("v -10 -20 30"), std::string::npos) << obj;
    // Orientation kept: (-x,-y,z) is a rotation, the normal (0,0,1) stays (0,0,1).
    o.binary = false;
    ASSERT_TRUE(writeMesh(m, dir / "t.stl", o).ok());
    const std::string stl = fileText(dir / "t.stl");
    EXPECT_EQ(stl.rfind("solid Jumeau mesh, frame=RAS, units=mm, structure=liver", 0), 0u);
    EXPECT_NE(stl.find("facet normal 0 0 1"), std::string::npos) << stl;
    o.binary = true;
    ASSERT_TRUE(writeMesh(m, dir / "b.stl", o).ok());
    EXPECT_EQ(fileText(dir / "b.stl").rfind("Jumeau mesh, frame=RAS, units=mm, structure=liver", 0), 0u);
    ASSERT_TRUE(writeMesh(m, dir / "t.ply", o).ok());
    EXPECT_NE(fileText(dir / "t.ply").find("comment frame=RAS units=mm structure=liver"), std::string::npos);
}

TEST(MeshIO, SceneKeepsStructuresAndColours) {
    const Mesh& mesh = sampleMesh();
    Mesh moved = mesh;
    moved.transform(Transform::rigid(Mat3::identity(), {40, 0, 0}));
    const std::vector<SceneItem> items{{"liver", {0.8, 0.4, 0.3}, mesh}, {"portal vein", {0.1, 0.2, 0.9}, moved}};
    const auto dir = test::outputDir("meshio-scene");
    ASSERT_TRUE(writeScene(items, dir / "scene.obj").ok());
    const std::string mtl = fileText(dir / "scene.mtl");
    EXPECT_NE(mtl.find("newmtl portal vein\nKd 0.1 0.2 0.9"), std::string::npos) << mtl;
    EXPECT_NE(fileText(dir / "scene.obj").find("usemtl liver"), std::string::npos);
    auto obj = readMesh(dir / "scene.obj");
    ASSERT_TRUE(obj.ok());
    EXPECT_EQ(obj->mesh.triangleCount(), 2 * mesh.triangleCount());
    EXPECT_NEAR(obj->mesh.signedVolumeMm3(), 2 * mesh.signedVolumeMm3(), 1e-3 * mesh.signedVolumeMm3());

    ASSERT_TRUE(writeScene(items, dir / "scene.ply").ok());
    const std::string ply = fileText(dir / "scene.ply");
    EXPECT_NE(ply.find("property uchar red"), std::string::npos);
    auto back = readMesh(dir / "scene.ply");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->mesh.triangleCount(), 2 * mesh.triangleCount());
    EXPECT_FALSE(writeScene(items, dir / "scene.stl").ok());
}

TEST(MeshIO, BadFilesAreErrors) {
    const auto dir = test::outputDir("meshio-bad");
    EXPECT_EQ(readMesh(dir / "missing.stl").error().code, ErrorCode::NotFound);
    EXPECT_EQ(writeMesh(sampleMesh(), dir / "x.vtk").error().code, ErrorCode::Unsupported);
    ASSERT_TRUE(writeMesh(sampleMesh(), dir / "cut.ply").ok());
    const std::string ply = fileText(dir / "cut.ply");
    std::ofstream(dir / "cut.ply", std::ios::binary) << ply.substr(0, ply.size() / 2);
    EXPECT_EQ(readMesh(dir / "cut.ply").error().code, ErrorCode::Corrupt);
    std::ofstream(dir / "junk.stl", std::ios::binary) << "this is not an STL file at all, not even close to one";
    EXPECT_FALSE(readMesh(dir / "junk.stl").ok());
    std::ofstream(dir / "badindex.obj") << "v 0 0 0\nv 1 0 0\nf 1 2 7\n";
    EXPECT_EQ(readMesh(dir / "badindex.obj").error().code, ErrorCode::Corrupt);
}

TEST(MeshIO, AdmeshFindsNothingToRepair) {
    if (!admeshAvailable()) GTEST_SKIP() << "admesh not installed (cmake/setup-deps.sh installs it)";
    const auto dir = test::outputDir("meshio-admesh");
    for (bool binary : {true, false}) {
        const auto file = dir / (binary ? "bin.stl" : "ascii.stl");
        MeshWriteOptions o;
        o.binary = binary;
        o.frame = Frame::RAS;
        ASSERT_TRUE(writeMesh(sampleMesh(), file, o).ok());
        const auto repairs = admeshRepairs(file);
        ASSERT_EQ(repairs.size(), 8u) << "admesh output not understood for " << file;
        for (const auto& [what, count] : repairs) EXPECT_EQ(count, 0) << what << " in " << file;
    }
}
