// The analytic phantom and its rasterisers: exact volumes, plausible intensities, transforms that hold.

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "jumeau/simulation/DemoCase.h"
#include "jumeau/simulation/Phantom.h"

using namespace jumeau;
using namespace jumeau::simulation;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Mean of the voxels within `radius` index steps of the voxel nearest to an LPS point.
double meanAround(const imaging::Volume& v, const Vec3& lps, int radius = 1, int radiusK = -1) {
    if (radiusK < 0) radiusK = radius;
    const Vec3 idx = v.geometry().lpsToIndex(lps);
    const int ci = static_cast<int>(std::lround(idx.x)), cj = static_cast<int>(std::lround(idx.y)),
              ck = static_cast<int>(std::lround(idx.z));
    double sum = 0;
    int n = 0;
    for (int k = ck - radiusK; k <= ck + radiusK; ++k)
        for (int j = cj - radius; j <= cj + radius; ++j)
            for (int i = ci - radius; i <= ci + radius; ++i)
                if (v.geometry().contains(i, j, k)) {
                    sum += v.valueAt(i, j, k);
                    ++n;
                }
    EXPECT_GT(n, 0) << "point outside the volume";
    return n ? sum / n : 0;
}

std::vector<Vec3> fibonacciSphere(int n) {
    std::vector<Vec3> out;
    const double golden = kPi * (3.0 - std::sqrt(5.0));
    for (int i = 0; i < n; ++i) {
        const double z = 1.0 - 2.0 * (i + 0.5) / n, rho = std::sqrt(1 - z * z);
        out.push_back({rho * std::cos(golden * i), rho * std::sin(golden * i), z});
    }
    return out;
}

const StructureVolume& volumeOf(const CtRaster& r, std::uint16_t label) {
    for (const auto& v : r.volumes)
        if (v.label == label) return v;
    throw std::runtime_error("no volume for label " + std::to_string(label));
}

} // namespace

// ---- The model ---------------------------------------------------------------------------------------------

TEST(PhantomModel, TumoursLieInLiverParenchymaForManySeeds) {
    for (std::uint64_t seed = 1; seed <= 25; ++seed) {
        const auto ph = AbdominalPhantom::create(seed);
        ASSERT_EQ(ph.tumours().size(), 3u);
        for (const auto& t : ph.tumours()) {
            SCOPED_TRACE("seed " + std::to_string(seed) + ", " + t.name);
            EXPECT_GE(t.radiusMm, 7.0);
            EXPECT_LE(t.radiusMm, 18.0);
            EXPECT_EQ(ph.labelAt(t.centre), t.label);
            EXPECT_EQ(ph.tissueAt(t.centre), Tissue::Tumour);
            // Just outside the sphere there is only liver: the tumour is wholly inside the liver and touches no
            // vessel, so its labelled region is exactly the sphere.
            int notLiver = 0;
            for (const Vec3& d : fibonacciSphere(300)) {
                if (ph.labelAt(t.centre + d * (t.radiusMm + 0.3)) != PhantomLabels::liver) ++notLiver;
                if (ph.labelAt(t.centre + d * (t.radiusMm - 0.3)) != t.label) ++notLiver;
            }
            EXPECT_EQ(notLiver, 0);
        }
    }
}

TEST(PhantomModel, SeedJittersTumoursSlightlyAndDeterministically) {
    const auto a = AbdominalPhantom::create(1), b = AbdominalPhantom::create(2), a2 = AbdominalPhantom::create(1);
    bool anyDifferent = false;
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(a.tumours()[i].centre, a2.tumours()[i].centre);
        EXPECT_EQ(a.tumours()[i].radiusMm, a2.tumours()[i].radiusMm);
        const double moved = geometry::distance(a.tumours()[i].centre, b.tumours()[i].centre);
        EXPECT_LE(moved, 2 * 3 * std::sqrt(3.0) + 1e-9); // both within ±3 mm of the nominal centre
        EXPECT_LE(std::abs(a.tumours()[i].radiusMm - b.tumours()[i].radiusMm), 2.0 + 1e-9);
        anyDifferent = anyDifferent || moved > 0.1;
    }
    EXPECT_TRUE(anyDifferent);
}

TEST(PhantomModel, AnalyticVolumesAreClosedForm) {
    const auto ph = AbdominalPhantom::create(3);
    const Box fov = fieldOfView(demoCtGeometry());
    for (const auto& t : ph.tumours()) {
        const auto v = ph.analyticVolumeMl(t.label, fov);
        ASSERT_TRUE(v.has_value()) << t.name;
        EXPECT_DOUBLE_EQ(*v, 4.0 / 3.0 * kPi * std::pow(t.radiusMm, 3) / 1000.0);
    }
    const auto aorta = ph.analyticVolumeMl(PhantomLabels::aorta, fov);
    ASSERT_TRUE(aorta.has_value());
    EXPECT_NEAR(*aorta, kPi * ph.aortaRadiusMm() * ph.aortaRadiusMm() * 240.0 / 1000.0, 1e-9);
    EXPECT_FALSE(ph.analyticVolumeMl(PhantomLabels::liver, fov).has_value());
    // A field of view that cuts the aorta has no closed form.
    Box narrow = fov;
    narrow.hi.x = ph.aortaAxisPoint().x;
    EXPECT_FALSE(ph.analyticVolumeMl(PhantomLabels::aorta, narrow).has_value());
}

TEST(PhantomModel, StructureTableFollowsTheSpecification) {
    const auto s = AbdominalPhantom::create(1).structures();
    ASSERT_EQ(s.size(), 9u);
    const std::vector<std::pair<std::uint16_t, std::string>> expected{
        {1, "Body"},        {2, "Liver"},         {3, "Tumour 1"}, {4, "Tumour 2"}, {5, "Tumour 3"},
        {6, "Portal vein"}, {7, "Hepatic veins"}, {8, "Aorta"},    {9, "Spine"}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(s[i].label, expected[i].first);
        EXPECT_EQ(s[i].name, expected[i].second);
    }
    using imaging::StructureCategory;
    EXPECT_EQ(s[0].category, StructureCategory::Body);
    EXPECT_EQ(s[1].category, StructureCategory::Organ);
    EXPECT_EQ(s[2].category, StructureCategory::Tumour);
    EXPECT_EQ(s[5].category, StructureCategory::Vessel);
    EXPECT_EQ(s[8].category, StructureCategory::Bone);
    EXPECT_NEAR(s[1].colour[0], 0.87, 0.05);       // liver brownish red
    EXPECT_GT(s[7].colour[0], 2 * s[7].colour[2]); // aorta red
    EXPECT_GT(s[6].colour[2], s[6].colour[0]);     // hepatic veins blue
}

TEST(PhantomModel, PrecedenceWhereShapesMeet) {
    const auto ph = AbdominalPhantom::create(1);
    // The hepatic veins end on the IVC axis: the IVC (unlabelled) wins there, so the point is body, not vein.
    const Vec3 ostium = ph.hepaticVeins().segments.front().a;
    EXPECT_EQ(ph.tissueAt(ostium), Tissue::Ivc);
    EXPECT_EQ(ph.labelAt(ostium), PhantomLabels::body);
    // Portal vein inside the liver: vessel beats liver.
    const auto& branch = ph.portalVein().segments[2];
    const Vec3 mid = (branch.a + branch.b) * 0.5;
    EXPECT_LT(ph.liverSignedDistance(mid), 0);
    EXPECT_EQ(ph.labelAt(mid), PhantomLabels::portalVein);
    // Far outside the body: background.
    EXPECT_EQ(ph.labelAt({0, -100, 0}), PhantomLabels::background);
    EXPECT_EQ(ph.labelAt(ph.vertebralBodyPoint()), PhantomLabels::spine);
}

// ---- CT and labels (rasterised once per process: the full demo grid takes ~2 s) ------------------------------

class PhantomCt : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_phantom = std::make_unique<AbdominalPhantom>(AbdominalPhantom::create(1));
        auto r = rasteriseCt(*s_phantom, demoCtGeometry());
        ASSERT_TRUE(r.ok()) << r.error().describe();
        s_raster = std::make_unique<CtRaster>(std::move(*r));
    }
    static void TearDownTestSuite() {
        s_raster.reset();
        s_phantom.reset();
    }
    static std::unique_ptr<AbdominalPhantom> s_phantom;
    static std::unique_ptr<CtRaster> s_raster;
};
std::unique_ptr<AbdominalPhantom> PhantomCt::s_phantom;
std::unique_ptr<CtRaster> PhantomCt::s_raster;

TEST_F(PhantomCt, VolumesModelSupersampledAndVoxelAgree) {
    ASSERT_TRUE(s_raster);
    const auto& r = *s_raster;
    EXPECT_TRUE(r.ct.holds<std::int16_t>());
    EXPECT_TRUE(r.labels.labels().holds<std::uint8_t>());
    EXPECT_TRUE(r.labels.geometry().sameGrid(demoCtGeometry()));
    ASSERT_EQ(r.volumes.size(), 9u);
    for (const auto& t : s_phantom->tumours()) {
        const auto& v = volumeOf(r, t.label);
        EXPECT_TRUE(v.analytic);
        EXPECT_DOUBLE_EQ(v.modelMl, 4.0 / 3.0 * kPi * std::pow(t.radiusMm, 3) / 1000.0) << t.name;
    }
    for (const auto& v : r.volumes) {
        SCOPED_TRACE("label " + std::to_string(v.label));
        // The supersampler is accurate to < 0.5 % where the closed form is known.
        if (v.analytic)
            EXPECT_NEAR(v.supersampledMl, v.modelMl, 0.005 * v.modelMl);
        else
            EXPECT_EQ(v.supersampledMl, v.modelMl);
        // Centre-sampled voxels differ from the continuous model by partial volume only.
        const double tolerance = v.modelMl > 50 ? 0.02 : 0.03;
        EXPECT_NEAR(v.voxelMl, v.modelMl, tolerance * v.modelMl);
        EXPECT_NEAR(v.voxelMl, r.labels.volumeMl(v.label), 1e-9);
    }
    // Plausible sizes: a small adult's liver, a 10 mm aorta through 240 mm.
    EXPECT_GT(volumeOf(r, PhantomLabels::liver).modelMl, 600);
    EXPECT_LT(volumeOf(r, PhantomLabels::liver).modelMl, 900);
    EXPECT_NEAR(volumeOf(r, PhantomLabels::aorta).modelMl, kPi * 100 * 240 / 1000, 1e-6);
}

TEST_F(PhantomCt, HounsfieldUnitsAtKnownPoints) {
    ASSERT_TRUE(s_raster);
    const imaging::Volume& ct = s_raster->ct;
    const AbdominalPhantom& ph = *s_phantom;

    const double liver = meanAround(ct, ph.liverParenchymaPoint());
    EXPECT_NEAR(liver, 110, 10) << "contrast-enhanced liver";
    for (const auto& t : ph.tumours()) {
        const double tumour = meanAround(ct, t.centre);
        EXPECT_NEAR(tumour, 40, 10) << t.name;
        EXPECT_LT(tumour, liver - 40) << t.name << " must be hypodense";
    }
    const Vec3 aortaPoint = ph.aortaAxisPoint() + Vec3{0, 0, 20};
    const double aorta = meanAround(ct, aortaPoint);
    const auto& trunk = ph.portalVein().segments.front();
    const double portal = meanAround(ct, (trunk.a + trunk.b) * 0.5);
    EXPECT_GE(aorta, 200);
    EXPECT_GT(aorta, portal + 20) << "the aorta is the brightest vessel";
    EXPECT_GE(portal, 170);
    EXPECT_GT(portal, liver + 50);
    EXPECT_NEAR(meanAround(ct, {-101, -101, 0}), -1000, 12) << "air outside the body";
    EXPECT_NEAR(meanAround(ct, {0, -70, 0}), -100, 12) << "subcutaneous fat";
    EXPECT_NEAR(meanAround(ct, {0, -61, 0}, 1, 1), 50, 15) << "abdominal wall muscle";
    EXPECT_NEAR(meanAround(ct, ph.vertebralBodyPoint()), 420, 30) << "cancellous bone";
    // The cortical shell of the vertebral body is denser than its core.
    const Vec3 shell = ph.vertebralBodyPoint() + Vec3{0, 12.3, 0};
    EXPECT_GT(ct.valueAt(128, static_cast<int>(std::lround(ct.geometry().lpsToIndex(shell).y)),
                         static_cast<int>(std::lround(ct.geometry().lpsToIndex(shell).z))),
              600);

    // Noise: about 10 HU in a uniform region (the mean of the nine neighbours removes the anatomy).
    const Vec3 c = ct.geometry().lpsToIndex(ph.liverParenchymaPoint());
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int k = -2; k <= 2; ++k)
        for (int j = -4; j <= 4; ++j)
            for (int i = -4; i <= 4; ++i) {
                const double v =
                    ct.valueAt(static_cast<int>(c.x) + i, static_cast<int>(c.y) + j, static_cast<int>(c.z) + k);
                sum += v;
                sum2 += v * v;
                ++n;
            }
    const double sd = std::sqrt(sum2 / n - (sum / n) * (sum / n));
    EXPECT_GT(sd, 7);
    EXPECT_LT(sd, 13);
}

// ---- Small grids: determinism, noise seed, cancellation -----------------------------------------------------

namespace {
ImageGeometry coarseGrid() {
    ImageGeometry g;
    g.size = {64, 64, 24};
    g.spacing = {3.2, 3.2, 10};
    g.origin = {-100.8, -100.8, -115};
    return g;
}
} // namespace

TEST(PhantomRaster, DeterministicForASeedAndNoiseFollowsTheSeed) {
    const auto ph = AbdominalPhantom::create(5);
    CtRasterOptions a;
    a.noiseSeed = 5;
    CtRasterOptions b = a;
    b.noiseSeed = 6;
    auto r1 = rasteriseCt(ph, coarseGrid(), a), r2 = rasteriseCt(ph, coarseGrid(), a),
         r3 = rasteriseCt(ph, coarseGrid(), b);
    ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok());
    const std::size_t n = coarseGrid().voxelCount();
    EXPECT_TRUE(std::equal(r1->ct.data<std::int16_t>(), r1->ct.data<std::int16_t>() + n, r2->ct.data<std::int16_t>()));
    EXPECT_FALSE(std::equal(r1->ct.data<std::int16_t>(), r1->ct.data<std::int16_t>() + n, r3->ct.data<std::int16_t>()));
    EXPECT_TRUE(std::equal(r1->labels.labels().data<std::uint8_t>(), r1->labels.labels().data<std::uint8_t>() + n,
                           r3->labels.labels().data<std::uint8_t>()));
}

TEST(PhantomRaster, LabelsMatchTheModelAtVoxelCentres) {
    const auto ph = AbdominalPhantom::create(2);
    auto r = rasteriseCt(ph, coarseGrid());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    const auto& labels = r->labels;
    const auto& g = labels.geometry();
    int mismatches = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                if (labels.labelAt(i, j, k) != ph.labelAt(g.indexToLps({double(i), double(j), double(k)})))
                    ++mismatches;
    EXPECT_EQ(mismatches, 0) << "of " << g.voxelCount();
    EXPECT_EQ(labels.labelAt(0, 0, 0), PhantomLabels::background);
    // Every structure is present, even on this coarse grid.
    for (const auto& s : labels.structures()) EXPECT_GT(labels.voxelCount(s.label), 0u) << s.name;
}

TEST(PhantomRaster, ObliqueGridsWorkWithoutClosedForms) {
    const auto ph = AbdominalPhantom::create(1);
    ImageGeometry g = coarseGrid();
    g.size = {40, 40, 10};
    g.origin = {-64, -64, -50};
    g.direction = geometry::Mat3::rotationXYZ(0.2, 0.1, -0.3);
    auto r = rasteriseCt(ph, g);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    for (const auto& v : r->volumes) EXPECT_FALSE(v.analytic) << v.label;
    int mismatches = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                mismatches += r->labels.labelAt(i, j, k) != ph.labelAt(g.indexToLps({double(i), double(j), double(k)}));
    EXPECT_EQ(mismatches, 0);
}

TEST(PhantomRaster, CancelReturnsCancelled) {
    const auto ph = AbdominalPhantom::create(1);
    auto cancelAfter = [](int calls) {
        auto count = std::make_shared<int>(0);
        return ProgressFn([count, calls](double, const std::string&) { return ++*count < calls; });
    };
    auto ct = rasteriseCt(ph, demoCtGeometry(), {}, cancelAfter(3));
    ASSERT_FALSE(ct.ok());
    EXPECT_EQ(ct.error().code, ErrorCode::Cancelled);
    auto mr = rasteriseMr(ph, demoMrGeometry(), demoCtToMr(), {}, cancelAfter(2));
    ASSERT_FALSE(mr.ok());
    EXPECT_EQ(mr.error().code, ErrorCode::Cancelled);
    auto us = rasteriseUs(ph, demoUsSweep(1), cancelAfter(2));
    ASSERT_FALSE(us.ok());
    EXPECT_EQ(us.error().code, ErrorCode::Cancelled);
}

// ---- MR: the transform convention holds ---------------------------------------------------------------------

TEST(PhantomMr, TumourCentreMappedByTmrFallsOnTheDarkTumour) {
    const auto ph = AbdominalPhantom::create(1);
    const Transform ctToMr = demoCtToMr();
    auto mr = rasteriseMr(ph, demoMrGeometry(), ctToMr);
    ASSERT_TRUE(mr.ok()) << mr.error().describe();
    ASSERT_TRUE(mr->holds<std::uint16_t>());
    EXPECT_TRUE(mr->geometry().sameGrid(demoMrGeometry()));

    const double liver = meanAround(*mr, ctToMr.apply(ph.liverParenchymaPoint()), 1, 0);
    EXPECT_GT(liver, 450);
    for (const auto& t : ph.tumours()) {
        const double tumour = meanAround(*mr, ctToMr.apply(t.centre), 1, 0);
        EXPECT_LT(tumour, 0.6 * liver) << t.name << " at T_mr * centre";
    }
    // Fat is bright and air is dark (noise floor only) on this T1-like image.
    EXPECT_GT(meanAround(*mr, ctToMr.apply({0, -70, 0}), 1, 0), 1.2 * liver);
    EXPECT_LT(meanAround(*mr, ctToMr.apply({-100, -100, 0}), 1, 0), 60);
    // The MR grid must not simply be the CT frame: T_mr moves the anatomy by more than a tumour radius.
    EXPECT_GT(geometry::distance(ctToMr.apply(ph.tumours()[0].centre), ph.tumours()[0].centre), 15);
}

// ---- Ultrasound: the fan, the speckle and the shadows --------------------------------------------------------

TEST(PhantomUs, FanSpeckleAndAcousticShadowBehindBone) {
    const auto ph = AbdominalPhantom::create(1);
    const UsSweep sweep = demoUsSweep(1);
    auto us = rasteriseUs(ph, sweep);
    ASSERT_TRUE(us.ok()) << us.error().describe();
    ASSERT_TRUE(us->holds<std::uint8_t>());
    const auto& g = us->geometry();
    ASSERT_TRUE(g.sameGrid(sweep.gridInCt));

    // Nothing outside the sector.
    std::size_t outsideNonZero = 0, insideNonZero = 0, inside = 0;
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const double v = us->valueAt(i, j, k);
                if (sweep.insideFan(i, j)) {
                    ++inside;
                    insideNonZero += v > 0;
                } else {
                    outsideNonZero += v > 0;
                }
            }
    EXPECT_EQ(outsideNonZero, 0u);
    EXPECT_GT(static_cast<double>(insideNonZero) / inside, 0.6);

    // Along rays from the apex: liver speckle where nothing blocks the beam, near silence past bone.
    std::vector<double> liverValues, shadowValues, openValues;
    int shadowedRays = 0;
    for (int k = 0; k < g.size[2]; k += 2)
        for (double deg = -30; deg <= 30; deg += 5) {
            const double th = deg * kPi / 180;
            const Vec3 dir{std::sin(th), std::cos(th), 0};
            double boneAt = -1;
            for (double r = 0; r <= sweep.fanRadiusMm - 1; r += 0.5) {
                const Vec3 p = sweep.apex(k) + dir * r;
                const Tissue t = ph.tissueAt(p);
                if (boneAt < 0 && (t == Tissue::Rib || t == Tissue::CorticalBone || t == Tissue::CancellousBone ||
                                   t == Tissue::Lung || t == Tissue::Air)) {
                    boneAt = r;
                }
                const Vec3 idx = g.lpsToIndex(p);
                const double v =
                    us->valueAt(static_cast<int>(std::lround(idx.x)), static_cast<int>(std::lround(idx.y)), k);
                if (boneAt >= 0 && r > boneAt + 8) shadowValues.push_back(v);
                if (boneAt < 0 && r > 20) openValues.push_back(v);
                if (boneAt < 0 && t == Tissue::Liver && ph.liverSignedDistance(p) < -3) liverValues.push_back(v);
            }
            if (boneAt >= 0 && boneAt < sweep.fanRadiusMm - 20) ++shadowedRays;
        }
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v) s += x;
        return v.empty() ? 0.0 : s / v.size();
    };
    ASSERT_GT(shadowedRays, 10) << "the sweep is expected to cross the costal margin";
    ASSERT_GT(liverValues.size(), 1000u);
    EXPECT_LT(mean(shadowValues), 10) << "acoustic shadow behind bone";
    EXPECT_GT(mean(openValues), 60);
    const double liverMean = mean(liverValues);
    EXPECT_GT(liverMean, 70);
    EXPECT_LT(liverMean, 190);
    double var = 0;
    std::size_t zeros = 0;
    for (double x : liverValues) {
        var += (x - liverMean) * (x - liverMean);
        zeros += x == 0;
    }
    EXPECT_GT(std::sqrt(var / liverValues.size()), 10) << "speckle, not a flat grey";
    EXPECT_LT(static_cast<double>(zeros) / liverValues.size(), 0.05);

    // Tumour 1 (hypoechoic) is darker than the liver around it.
    const auto& t1 = ph.tumours()[0];
    const Vec3 idx = g.lpsToIndex(t1.centre);
    ASSERT_TRUE(g.contains(static_cast<int>(idx.x), static_cast<int>(idx.y), static_cast<int>(idx.z)));
    ASSERT_TRUE(sweep.insideFan(idx.x, idx.y));
    EXPECT_LT(meanAround(*us, t1.centre, 6, 0), 0.7 * liverMean);
}
