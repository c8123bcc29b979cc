// Registration against known answers: the phantom's CT, MR and ultrasound (truth.json transforms), exact landmarks,
// a known smooth warp, and the real IRCAD CT against a moved, MR-like remapped copy of itself; and bad input, each
// with a plain-language message.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>

#include "MovedMrLikeCopy.h"
#include "PhantomTruth.h"
#include "TestData.h"
#include "jumeau/imaging/DicomSeriesReader.h"
#include "jumeau/imaging/Registration.h"
#include "jumeau/imaging/VolumeIO.h"

using namespace jumeau;
using namespace jumeau::imaging;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

Transform truthTransform(const std::string& which) {
    return test::phantomTruthTransform(test::phantomCase(), which);
}

Volume loadSeries(const fs::path& folder) {
    auto loaded = loadDicomFolder(folder);
    EXPECT_TRUE(loaded.ok()) << (loaded.ok() ? "" : loaded.error().describe());
    if (!loaded.ok() || loaded->series.empty()) return {};
    return loaded->series.front().volume;
}

struct Phantom {
    Volume ct, mr, us;
    LabelMap labels;
};

const Phantom& phantom() {
    static const Phantom p = [] {
        Phantom out;
        const fs::path dir = test::phantomCase();
        out.ct = loadSeries(dir / "ct");
        out.mr = loadSeries(dir / "mr");
        out.us = loadSeries(dir / "us");
        auto labels = readLabelMap(dir / "labels" / "labels.seg.nrrd");
        EXPECT_TRUE(labels.ok());
        if (labels) out.labels = *labels;
        return out;
    }();
    return p;
}

// Points of the reference grid (lattice) where `keep` holds.
template <typename Keep> std::vector<Vec3> latticePoints(const ImageGeometry& g, int stepVoxels, Keep&& keep) {
    std::vector<Vec3> pts;
    for (int k = 0; k < g.size[2]; k += stepVoxels)
        for (int j = 0; j < g.size[1]; j += stepVoxels)
            for (int i = 0; i < g.size[0]; i += stepVoxels)
                if (keep(i, j, k)) pts.push_back(g.indexToLps({double(i), double(j), double(k)}));
    return pts;
}

struct Tre {
    double maxMm = 0, meanMm = 0, rmsMm = 0;
    std::size_t points = 0;
};

template <typename Truth>
Tre targetError(const SpatialTransform& found, Truth&& truth, const std::vector<Vec3>& points) {
    Tre t;
    double sum = 0, sum2 = 0;
    for (const auto& p : points) {
        const double e = geometry::distance(found.apply(p), truth(p));
        t.maxMm = std::max(t.maxMm, e);
        sum += e;
        sum2 += e * e;
    }
    t.points = points.size();
    if (!points.empty()) {
        t.meanMm = sum / points.size();
        t.rmsMm = std::sqrt(sum2 / points.size());
    }
    return t;
}

// Angle (degrees) of the rotation between two linear parts.
double rotationErrorDeg(const Transform& a, const Transform& b) {
    const Mat3 d = a.linear.transposed() * b.linear;
    const double c = std::clamp((d.m[0][0] + d.m[1][1] + d.m[2][2] - 1) / 2, -1.0, 1.0);
    return std::acos(c) * 180 / kPi;
}

std::string describe(const RegistrationQuality& q, const Tre& t) {
    std::string w;
    for (const auto& s : q.warnings) w += " [" + s + "]";
    return "TRE max " + std::to_string(t.maxMm) + " mean " + std::to_string(t.meanMm) + " mm over " +
           std::to_string(t.points) + " points; " + std::to_string(q.iterations) + " iterations, " +
           std::to_string(q.seconds) + " s, overlap " + std::to_string(q.overlap) + ", " + q.stopReason + w;
}

// A small synthetic volume: a bright ellipsoid with an off-centre sphere on a dark background (not symmetric, so a
// rigid transform is determined), on an axis-aligned grid.
Volume blob(const ImageGeometry& g, const Transform& worldToObject = Transform::identity()) {
    std::vector<float> v(g.voxelCount());
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const Vec3 p = worldToObject.apply(g.indexToLps({double(i), double(j), double(k)}));
                float value = 10;
                if (p.x * p.x / 400 + p.y * p.y / 225 + p.z * p.z / 144 < 1) value = 100;
                if (geometry::distance(p, {8, 5, 3}) < 5) value = 200;
                if (geometry::distance(p, {-10, -2, -4}) < 3) value = 40;
                v[g.linearIndex(i, j, k)] = value;
            }
    return Volume::create(g, std::move(v));
}

bool detail_inside(const ImageGeometry& g, const Vec3& lps) {
    const Vec3 c = g.lpsToIndex(lps);
    return c.x >= 0 && c.y >= 0 && c.z >= 0 && c.x <= g.size[0] - 1 && c.y <= g.size[1] - 1 && c.z <= g.size[2] - 1;
}

ImageGeometry cubeGrid(int n, double spacing) {
    ImageGeometry g;
    g.size = {n, n, n};
    g.spacing = {spacing, spacing, spacing};
    const double half = (n - 1) * spacing / 2;
    g.origin = {-half, -half, -half};
    return g;
}

} // namespace

// ---- Phantom: CT <-> MR, CT <-> US --------------------------------------------------------------------------

TEST(Registration, PhantomCtMrRigidRecoversTruthWithinHalfMillimetreAndHalfDegree) {
    const Phantom& p = phantom();
    ASSERT_FALSE(p.ct.empty());
    ASSERT_FALSE(p.mr.empty());
    const Transform truth = truthTransform("mr");
    auto r = registerVolumes(p.ct, p.mr, RegistrationOptions{});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    // Liver points, and points spread over the whole body.
    const auto& lab = p.labels;
    const auto liver = latticePoints(lab.geometry(), 4, [&](int i, int j, int k) { return lab.labelAt(i, j, k) == 2; });
    const auto body = latticePoints(lab.geometry(), 8, [&](int i, int j, int k) { return lab.labelAt(i, j, k) != 0; });
    ASSERT_GT(liver.size(), 1000u);
    const Tre tl = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, liver);
    const Tre tb = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, body);
    EXPECT_LT(tl.maxMm, 0.5) << "liver: " << describe(r->quality, tl);
    EXPECT_LT(tb.maxMm, 0.5) << "body: " << describe(r->quality, tb);
    EXPECT_LT(rotationErrorDeg(r->transform.matrix, truth), 0.5);
    EXPECT_TRUE(r->quality.converged) << r->quality.stopReason;
    EXPECT_GT(r->quality.overlap, 0.8);
    EXPECT_LT(r->quality.finalMetric, r->quality.initialMetric);
    EXPECT_TRUE(r->quality.warnings.empty()) << r->quality.warnings.front();
    std::cout << "[ CT->MR  ] liver " << describe(r->quality, tl) << "\n";
}

namespace {

// The liver region of the phantom's label map (liver, its tumours and vessels) as a mask on the label grid.
Volume liverRegionMask(const LabelMap& lab) {
    const ImageGeometry& g = lab.geometry();
    std::vector<std::uint8_t> m(g.voxelCount(), 0);
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const int l = lab.labelAt(i, j, k);
                m[g.linearIndex(i, j, k)] = l >= 2 && l <= 7 ? 1 : 0; // liver, tumours 1-3, portal and hepatic veins
            }
    return Volume::create(g, std::move(m));
}

} // namespace

TEST(Registration, PhantomCtUltrasoundRigidFromApproximateLandmarksWithinOneAndAHalfMillimetres) {
    // The sweep sits 25 mm and 8 degrees from the CT in scanner coordinates: beyond what intensities alone can
    // bridge for ultrasound, so the workflow is landmarks first (here 4 pairs, each off by about 1.5 mm), then
    // mutual information over the liver (the CT's liver label as the fixed mask). Issue 5: within 1.5 mm.
    // Over the whole fan the abdominal wall, the ribs and their shadows (surfaces and shadows in ultrasound,
    // volumes in CT) pull the sweep about 1.5 mm along the sweep: that run must say so in a warning.
    const Phantom& p = phantom();
    ASSERT_FALSE(p.us.empty());
    const Transform truth = truthTransform("us");
    RegistrationOptions o;
    std::mt19937 rng(7);
    std::normal_distribution<double> noise(0, 1.5);
    for (const Vec3& x : {Vec3{-60, -20, 0}, Vec3{0, -30, 40}, Vec3{-30, 10, 60}, Vec3{-50, 0, -20}}) {
        const Vec3 y = truth.apply(x);
        o.landmarks.push_back({"", x, {y.x + noise(rng), y.y + noise(rng), y.z + noise(rng)}});
    }
    // Target points: CT points the ultrasound fan shows (non-zero ultrasound voxel at truth(x)).
    const ImageGeometry& ug = p.us.geometry();
    const auto pts = latticePoints(p.ct.geometry(), 6, [&](int i, int j, int k) {
        const Vec3 y = truth.apply(p.ct.geometry().indexToLps({double(i), double(j), double(k)}));
        const Vec3 c = ug.lpsToIndex(y);
        const int a = static_cast<int>(std::lround(c.x)), b = static_cast<int>(std::lround(c.y)),
                  d = static_cast<int>(std::lround(c.z));
        return ug.contains(a, b, d) && p.us.valueAt(a, b, d) > 0;
    });
    ASSERT_GT(pts.size(), 500u);

    auto whole = registerVolumes(p.ct, p.us, o);
    ASSERT_TRUE(whole.ok()) << whole.error().describe();
    const Tre tw = targetError(
        whole->transform, [&](const Vec3& x) { return truth.apply(x); }, pts);
    bool warned = false;
    for (const auto& w : whole->quality.warnings) warned = warned || w.find("organ's mask") != std::string::npos;
    EXPECT_TRUE(warned) << "an unmasked ultrasound registration must warn that it is not organ-accurate";
    EXPECT_LT(tw.maxMm, 3.0) << describe(whole->quality, tw);

    o.fixedMask = liverRegionMask(p.labels);
    auto r = registerVolumes(p.ct, p.us, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const Tre t = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, pts);
    EXPECT_LT(t.maxMm, 1.5) << describe(r->quality, t);
    EXPECT_LT(rotationErrorDeg(r->transform.matrix, truth), 0.5);
    // Overlap is measured between the masked fields of view: the share of the fan that shows the liver (63%).
    EXPECT_GT(whole->quality.overlap, 0.8) << "overlap is measured against the smaller field of view (the fan)";
    EXPECT_GT(r->quality.overlap, 0.5);
    for (const auto& w : r->quality.warnings) ADD_FAILURE() << "unexpected warning: " << w;
    std::cout << "[ CT->US  ] whole fan " << describe(whole->quality, tw) << "\n";
    std::cout << "[ CT->US  ] liver     " << describe(r->quality, t) << "\n";
}

// ---- Landmarks -----------------------------------------------------------------------------------------------

TEST(Registration, ExactLandmarksGiveTheExactTransformAndZeroResiduals) {
    const Transform truth = truthTransform("mr");
    std::vector<LandmarkPair> pairs;
    const Vec3 pts[] = {{-40, 20, 10}, {35, -15, 40}, {10, 60, -30}, {-5, -50, -60}, {70, 10, 5}};
    int n = 0;
    for (const auto& x : pts) pairs.push_back({"p" + std::to_string(++n), x, truth.apply(x)});
    auto fit = rigidFromLandmarks(pairs);
    ASSERT_TRUE(fit.ok()) << fit.error().describe();
    for (int r = 0; r < 3; ++r) {
        EXPECT_NEAR(fit->translation[r], truth.translation[r], 1e-9);
        for (int c = 0; c < 3; ++c) EXPECT_NEAR(fit->linear.m[r][c], truth.linear.m[r][c], 1e-12);
    }
    // Through registerVolumes, landmarks only: residual per point reported, all ~0.
    RegistrationOptions o;
    o.landmarks = pairs;
    o.landmarksOnly = true;
    auto r = registerVolumes(phantom().ct, phantom().mr, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_EQ(r->quality.landmarks.size(), pairs.size());
    for (const auto& l : r->quality.landmarks) EXPECT_LT(l.errorMm, 1e-9) << l.name;
    EXPECT_EQ(r->quality.landmarks[2].name, "p3");
    EXPECT_LT(r->quality.landmarkRmsMm, 1e-9);
}

TEST(Registration, LandmarkResidualsAreTheDistancesPerPoint) {
    std::vector<LandmarkPair> pairs = {{"a", {0, 0, 0}, {1, 0, 0}}, {"b", {10, 0, 0}, {10, 0, 2}}};
    SpatialTransform identity;
    const auto res = landmarkResiduals(identity, pairs);
    ASSERT_EQ(res.size(), 2u);
    EXPECT_DOUBLE_EQ(res[0].errorMm, 1.0);
    EXPECT_DOUBLE_EQ(res[1].errorMm, 2.0);
}

TEST(Registration, LandmarksStartTheRegistrationFromFarAway) {
    // Approximate landmarks (2 mm off) from a start where moments would not do: 40 mm and 20 degrees away.
    const Phantom& p = phantom();
    const Transform truth = truthTransform("mr");
    std::mt19937 rng(5);
    std::normal_distribution<double> noise(0, 1.2);
    std::vector<LandmarkPair> pairs;
    for (const Vec3& x : {Vec3{-40, 20, 10}, Vec3{35, -15, 40}, Vec3{10, 60, -30}, Vec3{-5, -50, -20}}) {
        const Vec3 y = truth.apply(x);
        pairs.push_back({"", x, {y.x + noise(rng), y.y + noise(rng), y.z + noise(rng)}});
    }
    RegistrationOptions o;
    o.landmarks = pairs;
    auto r = registerVolumes(p.ct, p.mr, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_NE(r->quality.initialisation.find("landmarks"), std::string::npos);
    const auto& lab = p.labels;
    const auto liver = latticePoints(lab.geometry(), 6, [&](int i, int j, int k) { return lab.labelAt(i, j, k) == 2; });
    const Tre t = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, liver);
    EXPECT_LT(t.maxMm, 0.5) << describe(r->quality, t);
    // Residuals are reported against the (noisy) landmarks: about their noise, not zero.
    ASSERT_EQ(r->quality.landmarks.size(), 4u);
    EXPECT_GT(r->quality.landmarkRmsMm, 0.2);
    EXPECT_LT(r->quality.landmarkRmsMm, 5.0);
}

TEST(Registration, TooFewOrCollinearLandmarksAreRefusedWithAReason) {
    auto two = rigidFromLandmarks({{"a", {0, 0, 0}, {0, 0, 0}}, {"b", {1, 0, 0}, {1, 0, 0}}});
    ASSERT_FALSE(two.ok());
    EXPECT_NE(two.error().message.find("at least 3"), std::string::npos) << two.error().message;
    auto line =
        rigidFromLandmarks({{"a", {0, 0, 0}, {0, 0, 0}}, {"b", {10, 0, 0}, {10, 0, 0}}, {"c", {20, 0, 0}, {20, 0, 0}}});
    ASSERT_FALSE(line.ok());
    EXPECT_NE(line.error().message.find("line"), std::string::npos) << line.error().message;
}

// ---- Deformable ----------------------------------------------------------------------------------------------

TEST(Registration, DeformableReducesAKnownSmoothWarpToWithinOneMillimetreRms) {
    // Issue 5: a known smooth warp recovered within 1 mm RMS. Measured: warp RMS 1.59 mm -> 0.88 mm RMS (max 3.5 mm)
    // in 27 s (105 s with another deformable run and other builds on the two cores).
    const Phantom& p = phantom();
    // Fixed: the phantom CT on a 2 mm grid (the deformable stage works at that scale anyway).
    ImageGeometry g;
    g.spacing = {2, 2, 2};
    const ImageGeometry& cg = p.ct.geometry();
    for (int d = 0; d < 3; ++d) g.size[d] = static_cast<int>((cg.size[d] - 1) * cg.spacing[d] / 2) + 1;
    g.origin = cg.origin;
    auto fixedR = resampleOnto(p.ct, g, SpatialTransform{}, -1024, false);
    ASSERT_TRUE(fixedR.ok());
    const Volume fixed = *fixedR;

    // The warp psi(p) = p + u(p): a smooth B-spline field of its own (50 mm control grid, coefficients up to 4.5
    // mm), unrelated to the registration's grid. moving(p) = fixed(psi(p)), so the true fixed->moving map is psi^-1.
    BSplineDeformation warp;
    warp.gridSize = {7, 7, 8};
    warp.gridSpacing = {50, 50, 50};
    warp.gridOrigin = {-160, -160, -185};
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> amp(-4.5, 4.5);
    for (int n = 0; n < 7 * 7 * 8; ++n) warp.coefficients.push_back({amp(rng), amp(rng), amp(rng)});
    SpatialTransform psi;
    psi.deformation = warp;
    auto movingR = resampleOnto(fixed, g, psi, -1024, false);
    ASSERT_TRUE(movingR.ok());

    RegistrationOptions o;
    o.mode = RegistrationMode::Deformable;
    o.metric = RegistrationMetric::MeanSquares;
    o.initialisation = Initialisation::Identity;
    auto r = registerVolumes(fixed, *movingR, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_TRUE(r->transform.isDeformable());

    // Check at moving points p inside the body: found(psi(p)) must be p.
    const float* fv = fixed.data<float>();
    std::vector<Vec3> movingPts, fixedPts;
    double warpRms = 0;
    for (int k = 6; k < g.size[2] - 6; k += 3)
        for (int j = 6; j < g.size[1] - 6; j += 3)
            for (int i = 6; i < g.size[0] - 6; i += 3) {
                const Vec3 pm = g.indexToLps({double(i), double(j), double(k)});
                const Vec3 x = psi.apply(pm);
                const Vec3 c = g.lpsToIndex(x);
                const int a = static_cast<int>(std::lround(c.x)), b = static_cast<int>(std::lround(c.y)),
                          d = static_cast<int>(std::lround(c.z));
                if (!g.contains(a, b, d) || fv[g.linearIndex(a, b, d)] < -300) continue; // body only
                movingPts.push_back(pm);
                fixedPts.push_back(x);
                warpRms += dot(x - pm, x - pm);
            }
    ASSERT_GT(movingPts.size(), 1000u);
    warpRms = std::sqrt(warpRms / movingPts.size());
    double sum2 = 0, worst = 0;
    for (std::size_t n = 0; n < movingPts.size(); ++n) {
        const double e = geometry::distance(r->transform.apply(fixedPts[n]), movingPts[n]);
        sum2 += e * e;
        worst = std::max(worst, e);
    }
    const double rms = std::sqrt(sum2 / movingPts.size());
    EXPECT_GT(warpRms, 1.0) << "the warp must be large enough to matter";
    for (const auto& w : r->quality.warnings)
        EXPECT_EQ(w.find("deformation"), std::string::npos) << "a smooth warp must not fold: " << w;
    EXPECT_LT(worst, 5.0) << "no point far off (the field must not run wild between samples)";
    EXPECT_TRUE(r->quality.converged) << r->quality.stopReason;
    EXPECT_LT(rms, 1.0) << "warp RMS " << warpRms << " mm; recovered to RMS " << rms << " mm (max " << worst
                                   << "), " << r->quality.iterations << " iterations, " << r->quality.seconds << " s";
    std::cout << "[ warp    ] warp RMS " << warpRms << " mm -> error RMS " << rms << " mm, max " << worst << " mm, "
              << r->quality.seconds << " s, " << r->quality.iterations << " it, " << r->quality.stopReason << "\n";
}

// ---- Real CT: IRCAD against a moved, MR-like copy of itself -------------------------------------------------

TEST(Registration, IrcadCtAgainstMovedMrLikeCopyWithinOneMillimetre) {
    JUMEAU_REQUIRE_SHARED_DATA(dir, "ircad-3dircadb1.17-liver-ct/PATIENT_DICOM");
    const Volume ct = loadSeries(dir);
    ASSERT_FALSE(ct.empty());
    // Truth: fixed (CT) point x shows in the copy at T x (MovedMrLikeCopy.h: 6, -4, 5 degrees and 12, -9, 15 mm, a
    // 1.5 mm grid, intensities remapped non-monotonically with noise).
    auto copy = test::movedMrLikeCopy(ct);
    ASSERT_TRUE(copy.ok()) << copy.error().describe();
    const Transform truth = copy->truth;
    const Volume& mrLike = copy->moving;
    const ImageGeometry& cg = ct.geometry();

    const auto t0 = std::chrono::steady_clock::now();
    auto r = registerVolumes(ct, mrLike, RegistrationOptions{});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    // Body points of the CT.
    const auto pts = latticePoints(cg, 12, [&](int i, int j, int k) { return ct.valueAt(i, j, k) > -300; });
    const Tre t = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, pts);
    EXPECT_LT(t.maxMm, 1.0) << describe(r->quality, t);
    EXPECT_LT(rotationErrorDeg(r->transform.matrix, truth), 0.5);
    std::cout << "[ IRCAD   ] " << describe(r->quality, t) << " (registration "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s)\n";
}

// ---- Bad input -------------------------------------------------------------------------------------------------

TEST(RegistrationBadInput, ImagesThatDoNotOverlapAreRefusedWithAdvice) {
    const ImageGeometry g = cubeGrid(40, 1.5);
    const Volume a = blob(g);
    ImageGeometry far = g;
    far.origin = far.origin + Vec3{500, 0, 0};
    const Volume b = blob(far, Transform::rigid(Mat3::identity(), {-500, 0, 0}));
    RegistrationOptions o;
    o.initialisation = Initialisation::Identity;
    auto r = registerVolumes(a, b, o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("overlap by only 0%"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("landmarks"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("Too many samples"), std::string::npos) << r.error().message;
    // Moments find the shifted copy (both bodies fully in view): registration then succeeds.
    auto m = registerVolumes(a, b, RegistrationOptions{});
    ASSERT_TRUE(m.ok()) << m.error().describe();
    EXPECT_NEAR(m->transform.matrix.translation.x, 500, 0.5);
}

TEST(RegistrationBadInput, TwoDimensionalImageIsRefused) {
    ImageGeometry flat = cubeGrid(40, 1.5);
    flat.size[2] = 1;
    auto r = registerVolumes(blob(cubeGrid(40, 1.5)), blob(flat), RegistrationOptions{});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("moving image is 2D"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("40 x 40 x 1"), std::string::npos) << r.error().message;
}

TEST(RegistrationBadInput, EmptyMaskIsRefused) {
    const ImageGeometry g = cubeGrid(40, 1.5);
    RegistrationOptions o;
    o.fixedMask = Volume::create(g, std::vector<std::uint8_t>(g.voxelCount(), 0));
    auto r = registerVolumes(blob(g), blob(g, Transform::rigid(Mat3::identity(), {2, 0, 0})), o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("fixed mask is empty"), std::string::npos) << r.error().message;
    // A mask somewhere else entirely.
    ImageGeometry elsewhere = g;
    elsewhere.origin = g.origin + Vec3{0, 0, 400};
    o.fixedMask = Volume::create(elsewhere, std::vector<std::uint8_t>(g.voxelCount(), 1));
    r = registerVolumes(blob(g), blob(g, Transform::rigid(Mat3::identity(), {2, 0, 0})), o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("does not cover"), std::string::npos) << r.error().message;
}

TEST(RegistrationBadInput, IdenticalImagesGiveTheIdentityWithAWarning) {
    const Volume a = blob(cubeGrid(40, 1.5));
    auto r = registerVolumes(a, a, RegistrationOptions{});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const auto m = r->transform.matrix.matrix4();
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(m[i][j], i == j ? 1.0 : 0.0);
    ASSERT_FALSE(r->quality.warnings.empty());
    EXPECT_NE(r->quality.warnings.front().find("same image"), std::string::npos);
    EXPECT_TRUE(r->quality.converged);
}

TEST(RegistrationBadInput, WildlyDifferentSpacingWarnsAndStillRegisters) {
    const ImageGeometry fine = cubeGrid(48, 1.0);
    ImageGeometry thick = cubeGrid(48, 1.0);
    thick.spacing.z = 9;
    thick.size[2] = 6;
    thick.origin.z = -22.5;
    const Transform truth = Transform::rigid(Mat3::identity(), {2, -1.5, 1});
    // moving(p) shows the object at truth^-1(p): the object is moved by `truth`.
    const Volume moving = blob(thick, *truth.inverse());
    const auto start = std::chrono::steady_clock::now();
    auto r = registerVolumes(blob(fine), moving, RegistrationOptions{});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    bool warned = false;
    for (const auto& w : r->quality.warnings) warned = warned || w.find("differ widely") != std::string::npos;
    EXPECT_TRUE(warned);
    EXPECT_LT(seconds, 60);
    EXPECT_LT(geometry::distance(r->transform.matrix.translation, truth.translation), 4.5)
        << "within half a thick slice";
}

TEST(RegistrationBadInput, CancelStopsAtTheNextIteration) {
    const Phantom& p = phantom();
    std::atomic<int> calls{0};
    auto r =
        registerVolumes(p.ct, p.mr, RegistrationOptions{}, [&](double, const std::string&) { return ++calls < 5; });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::Cancelled);
    EXPECT_EQ(calls.load(), 5);
}

TEST(RegistrationBadInput, IterationCapEndsTheRunAndSaysItDidNotConverge) {
    const ImageGeometry g = cubeGrid(40, 1.5);
    RegistrationOptions o;
    o.maxIterationsPerLevel = 2;
    auto r = registerVolumes(blob(g), blob(g, Transform::rigid(Mat3::rotationXYZ(0.1, 0, 0.05), {3, 1, 0})), o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_FALSE(r->quality.converged);
    EXPECT_LE(r->quality.iterations, 2 * o.levels);
    ASSERT_FALSE(r->quality.warnings.empty());
    EXPECT_NE(r->quality.warnings.back().find("without converging"), std::string::npos);
}

TEST(Registration, ResampledMovingLandsOnTheFixedGrid) {
    const ImageGeometry g = cubeGrid(40, 1.5);
    const Transform shift = Transform::rigid(Mat3::identity(), {3, 0, 0});
    const Volume moving = blob(g, *shift.inverse()); // the object moved by +3 mm in x
    auto out = resampleOnto(moving, g, SpatialTransform{shift, std::nullopt});
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out->holds<float>());
    const Volume fixed = blob(g);
    // Back on the fixed grid: the same voxels (up to interpolation at edges of the shapes).
    double diff = 0;
    for (int k = 5; k < 35; ++k)
        for (int j = 5; j < 35; ++j)
            for (int i = 5; i < 35; ++i) diff += std::fabs(out->valueAt(i, j, k) - fixed.valueAt(i, j, k));
    EXPECT_LT(diff / (30.0 * 30 * 30), 1.0);
}

TEST(Registration, PartialFieldOfViewRegistersAgainstTheWholeImage) {
    // MOVING shows a 27 mm cube of what FIXED shows in 90 mm (like an ultrasound sweep inside a CT): the smaller
    // view drives the sampling, and the result is inverted back to fixed->moving.
    const ImageGeometry big = cubeGrid(60, 1.5);
    ImageGeometry small = cubeGrid(24, 1.2);
    small.origin = small.origin + Vec3{4, 2, 0};
    const Transform truth = Transform::rigid(Mat3::rotationXYZ(0.05, -0.03, 0.04), {3, -2, 2.5});
    const Volume moving = blob(small, *truth.inverse());
    RegistrationOptions o;
    o.initialisation = Initialisation::Identity;
    auto r = registerVolumes(blob(big), moving, o);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const auto pts = latticePoints(big, 4, [&](int i, int j, int k) {
        return detail_inside(small, truth.apply(big.indexToLps({double(i), double(j), double(k)})));
    });
    ASSERT_GT(pts.size(), 50u);
    const Tre t = targetError(
        r->transform, [&](const Vec3& x) { return truth.apply(x); }, pts);
    EXPECT_LT(t.maxMm, 1.5) << describe(r->quality, t);
    // The same pair the other way round gives the inverse.
    auto r2 = registerVolumes(moving, blob(big), o);
    ASSERT_TRUE(r2.ok()) << r2.error().describe();
    const SpatialTransform inv{*r2->transform.matrix.inverse(), std::nullopt};
    const Tre t2 = targetError(
        inv, [&](const Vec3& x) { return truth.apply(x); }, pts);
    EXPECT_LT(t2.maxMm, 1.5) << describe(r2->quality, t2);
}
