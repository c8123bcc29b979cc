// Transform files: TRANSFORM.json and ITK .tfm round trips (rigid and deformable), our B-spline evaluation against
// ITK's BSplineTransform (the .tfm another tool reads must move points exactly as we do), landmark files, and bad
// files with messages naming the file and the problem.

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include <itkBSplineTransform.h>
#include <itkTransformFileReader.h>

#include <nlohmann/json.hpp>

#include "TestData.h"
#include "jumeau/imaging/TransformIO.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

SpatialTransform rigidExample() {
    SpatialTransform t;
    t.matrix = Transform::rigid(Mat3::rotationXYZ(0.1, -0.05, 0.2), {12, -8, 15});
    return t;
}

SpatialTransform deformableExample() {
    SpatialTransform t;
    t.matrix = Transform{Mat3::rotationXYZ(0.02, 0.03, -0.01), {1, 2, 3}};
    t.matrix.linear.m[0][0] *= 1.02; // affine, not rigid
    BSplineDeformation d;
    d.gridSize = {6, 5, 7};
    d.gridSpacing = {30, 35, 28};
    d.gridOrigin = {-90, -80, -100};
    d.gridDirection = Mat3::rotationXYZ(0, 0, 0.1); // an oblique control grid
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> u(-3, 3);
    for (int n = 0; n < 6 * 5 * 7; ++n) d.coefficients.push_back({u(rng), u(rng), u(rng)});
    t.deformation = d;
    return t;
}

std::vector<Vec3> probePoints() {
    std::vector<Vec3> pts;
    std::mt19937 rng(2);
    std::uniform_real_distribution<double> u(-80, 80);
    for (int i = 0; i < 200; ++i) pts.push_back({u(rng), u(rng), u(rng)});
    return pts;
}

void expectSameMapping(const SpatialTransform& a, const SpatialTransform& b, double tolMm) {
    for (const auto& p : probePoints()) EXPECT_LT(geometry::distance(a.apply(p), b.apply(p)), tolMm);
}

void writeText(const fs::path& f, const std::string& s) {
    std::ofstream(f) << s;
}

} // namespace

TEST(TransformIO, JsonRoundTripRigidKeepsTheMatrixRowMajorLps) {
    const fs::path dir = test::outputDir("transform-io-json");
    const SpatialTransform t = rigidExample();
    TransformFileInfo info;
    info.mode = "rigid";
    info.quality = RegistrationQuality{};
    info.quality->iterations = 42;
    info.quality->warnings = {"a warning"};
    ASSERT_TRUE(writeTransformJson(t, dir / "t.json", info).ok());
    std::ifstream in(dir / "t.json");
    const auto j = nlohmann::json::parse(in);
    // Row-major: row 0 holds r00 r01 r02 tx.
    EXPECT_DOUBLE_EQ(j.at("matrix").at(0).at(3).get<double>(), 12.0);
    EXPECT_DOUBLE_EQ(j.at("matrix").at(0).at(1).get<double>(), t.matrix.linear.m[0][1]);
    EXPECT_DOUBLE_EQ(j.at("matrix").at(3).at(3).get<double>(), 1.0);
    EXPECT_EQ(j.at("mode"), "rigid");
    EXPECT_EQ(j.at("quality").at("iterations"), 42);
    EXPECT_EQ(j.at("quality").at("warnings").at(0), "a warning");
    auto back = readTransformJson(dir / "t.json");
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_FALSE(back->isDeformable());
    expectSameMapping(t, *back, 1e-9);
}

TEST(TransformIO, JsonRoundTripDeformableKeepsTheBSpline) {
    const fs::path dir = test::outputDir("transform-io-json-bspline");
    const SpatialTransform t = deformableExample();
    ASSERT_TRUE(writeTransformJson(t, dir / "t.json").ok());
    auto back = readTransformJson(dir / "t.json");
    ASSERT_TRUE(back.ok()) << back.error().describe();
    ASSERT_TRUE(back->isDeformable());
    expectSameMapping(t, *back, 1e-9);
    // The deformation is not trivially zero where we probe.
    double moved = 0;
    for (const auto& p : probePoints()) moved = std::max(moved, geometry::norm(t.deformation->displacement(p)));
    EXPECT_GT(moved, 0.5);
}

TEST(TransformIO, TfmRoundTripRigidAndDeformable) {
    const fs::path dir = test::outputDir("transform-io-tfm");
    for (const auto& t : {rigidExample(), deformableExample()}) {
        const fs::path f = dir / (t.isDeformable() ? "deformable.tfm" : "rigid.tfm");
        ASSERT_TRUE(exportTransform(t, f).ok());
        std::ifstream in(f);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_NE(text.find("#Insight Transform File V1.0"), std::string::npos);
        EXPECT_NE(text.find(t.isDeformable() ? "CompositeTransform_double_3_3" : "AffineTransform_double_3_3"),
                  std::string::npos);
        auto back = readItkTransform(f);
        ASSERT_TRUE(back.ok()) << back.error().describe();
        EXPECT_EQ(back->isDeformable(), t.isDeformable());
        expectSameMapping(t, *back, 1e-6);
    }
}

TEST(TransformIO, OurBSplineMovesPointsExactlyAsItkReadingOurFileDoes) {
    // What Slicer or antsApplyTransforms get from our .tfm: ITK's own reader and TransformPoint.
    const fs::path dir = test::outputDir("transform-io-itk");
    const SpatialTransform t = deformableExample();
    ASSERT_TRUE(writeItkTransform(t, dir / "t.tfm").ok());
    auto reader = itk::TransformFileReaderTemplate<double>::New();
    reader->SetFileName((dir / "t.tfm").string());
    reader->Update();
    ASSERT_EQ(reader->GetTransformList()->size(), 1u);
    auto* itkT = dynamic_cast<itk::Transform<double, 3, 3>*>(reader->GetTransformList()->front().GetPointer());
    ASSERT_NE(itkT, nullptr);
    int inside = 0;
    for (const auto& p : probePoints()) {
        itk::Point<double, 3> q;
        for (unsigned a = 0; a < 3; ++a) q[a] = p[static_cast<int>(a)];
        const auto r = itkT->TransformPoint(q);
        const Vec3 ours = t.apply(p);
        EXPECT_NEAR(r[0], ours.x, 1e-6);
        EXPECT_NEAR(r[1], ours.y, 1e-6);
        EXPECT_NEAR(r[2], ours.z, 1e-6);
        if (geometry::norm(t.deformation->displacement(p)) > 0) ++inside;
    }
    EXPECT_GT(inside, 20) << "enough probe points inside the B-spline's support";
}

TEST(TransformIO, LandmarksRoundTripAndRasIsConverted) {
    const fs::path dir = test::outputDir("transform-io-landmarks");
    const std::vector<LandmarkPair> pairs = {{"portal bifurcation", {1, 2, 3}, {4, 5, 6}}, {"", {7, 8, 9}, {1, 1, 1}}};
    ASSERT_TRUE(writeLandmarks(pairs, dir / "lm.json").ok());
    auto back = readLandmarks(dir / "lm.json");
    ASSERT_TRUE(back.ok()) << back.error().describe();
    ASSERT_EQ(back->size(), 2u);
    EXPECT_EQ((*back)[0].name, "portal bifurcation");
    EXPECT_EQ((*back)[0].moving, (Vec3{4, 5, 6}));
    writeText(dir / "ras.json", R"({"frame": "RAS", "landmarks": [{"fixed": [10, 20, 30], "moving": [1, -2, 3]}]})");
    auto ras = readLandmarks(dir / "ras.json");
    ASSERT_TRUE(ras.ok()) << ras.error().describe();
    EXPECT_EQ((*ras)[0].fixed, (Vec3{-10, -20, 30}));
    EXPECT_EQ((*ras)[0].moving, (Vec3{-1, 2, 3}));
    EXPECT_EQ((*ras)[0].name, "landmark 1");
}

TEST(TransformIO, BadFilesNameTheFileAndTheProblem) {
    const fs::path dir = test::outputDir("transform-io-bad");
    struct Case {
        std::string name, text, expect;
    };
    const std::vector<Case> cases = {
        {"notjson.json", "matrix: identity", "not valid JSON"},
        {"nomatrix.json", R"({"mode": "rigid"})", "no \"matrix\""},
        {"short.json", R"({"matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0]]})", "4 rows of 4 numbers"},
        {"lastrow.json", R"({"matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,1,1]]})", "last row"},
        {"singular.json", R"({"matrix": [[1,0,0,0],[1,0,0,0],[0,0,1,0],[0,0,0,1]]})", "singular"},
        {"bspline.json", R"({"matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]], "bspline": {"gridSize": [4,4,4]}})",
         "bspline"},
    };
    for (const auto& c : cases) {
        writeText(dir / c.name, c.text);
        auto r = readTransformJson(dir / c.name);
        ASSERT_FALSE(r.ok()) << c.name;
        EXPECT_NE(r.error().message.find(c.name), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.name << ": " << r.error().message;
    }
    auto missing = readTransformJson(dir / "absent.json");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ErrorCode::NotFound);

    writeText(dir / "lm-bad.json", R"({"landmarks": [{"fixed": [1, 2], "moving": [1, 2, 3]}]})");
    auto lm = readLandmarks(dir / "lm-bad.json");
    ASSERT_FALSE(lm.ok());
    EXPECT_NE(lm.error().message.find("landmark 1 \"fixed\""), std::string::npos) << lm.error().message;
    writeText(dir / "lm-frame.json", R"({"frame": "voxels", "landmarks": []})");
    lm = readLandmarks(dir / "lm-frame.json");
    ASSERT_FALSE(lm.ok());
    EXPECT_NE(lm.error().message.find("frame"), std::string::npos) << lm.error().message;

    writeText(dir / "junk.tfm", "not a transform\n");
    auto tfm = readItkTransform(dir / "junk.tfm");
    ASSERT_FALSE(tfm.ok());
    EXPECT_NE(tfm.error().message.find("junk.tfm"), std::string::npos) << tfm.error().message;
    EXPECT_FALSE(exportTransform(rigidExample(), dir / "t.xyz").ok());
}
