// Fusion of a series over the reference slice (viz/Fusion.h): the overlay must be read where the transform says the
// same anatomy is, or the surgeon sees a fit that is not there. Checked against moved copies with known transforms.
#include <gtest/gtest.h>

#include <cmath>

#include "viz/Fusion.h"

using namespace jumeau;
using geometry::Vec3;

namespace {

// A smooth, non-periodic pattern (LPS mm): misplacing it by a few millimetres changes the values clearly.
double pattern(const Vec3& p) { return 400 * std::sin(p.x / 9.0) + 300 * std::cos(p.y / 7.0) + 10 * p.z; }

imaging::Volume makeVolume(const imaging::ImageGeometry& g, const Vec3& shift) {
    // Voxel at LPS q shows the anatomy of reference point q - shift: a copy moved by `shift`.
    std::vector<float> v(g.voxelCount());
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i)
                v[g.linearIndex(i, j, k)] = static_cast<float>(pattern(g.indexToLps({double(i), double(j), double(k)}) - shift));
    return imaging::Volume::create(g, std::move(v));
}

imaging::ImageGeometry referenceGrid() {
    imaging::ImageGeometry g;
    g.size = {60, 50, 20};
    g.spacing = {1.0, 1.0, 2.0};
    g.origin = {-30, -25, -20};
    return g;
}

// The moved copy: another grid (finer, shifted, rows running towards the patient's right) covering the reference.
imaging::ImageGeometry movingGrid() {
    imaging::ImageGeometry g;
    g.size = {90, 80, 40};
    g.spacing = {0.9, 0.8, 1.5};
    g.direction = imaging::Mat3::fromColumns({-1, 0, 0}, {0, 1, 0}, {0, 0, 1});
    g.origin = {45, -35, -30};
    return g;
}

const Vec3 kShift{7.3, -4.1, 2.0};

imaging::SpatialTransform translation(const Vec3& t) {
    imaging::SpatialTransform s;
    s.matrix.translation = t;
    return s;
}

std::vector<unsigned char> referenceRgba(const imaging::Volume& ref, const viz::SliceAxes& a, int slice,
                                         const viz::WindowLevel& wl) {
    std::vector<unsigned char> rgba(static_cast<std::size_t>(a.width) * a.height * 4);
    for (int v = 0; v < a.height; ++v)
        for (int u = 0; u < a.width; ++u) {
            const auto idx = viz::screenToIndex(a, u, v, slice);
            unsigned char* px = rgba.data() + viz::rgbaOffset(a, u, v);
            px[0] = px[1] = px[2] = viz::windowed(ref.valueAt(idx[0], idx[1], idx[2]), wl);
            px[3] = 255;
        }
    return rgba;
}

} // namespace

TEST(Fusion, TrilinearSamplingIsExactOnALinearFieldAndEmptyOutside) {
    imaging::ImageGeometry g = movingGrid();
    std::vector<float> v(g.voxelCount());
    for (int k = 0; k < g.size[2]; ++k)
        for (int j = 0; j < g.size[1]; ++j)
            for (int i = 0; i < g.size[0]; ++i) {
                const Vec3 p = g.indexToLps({double(i), double(j), double(k)});
                v[g.linearIndex(i, j, k)] = static_cast<float>(2 * p.x - 3 * p.y + 0.5 * p.z);
            }
    const auto vol = imaging::Volume::create(g, std::move(v));
    for (const Vec3 p : {Vec3{0.37, 1.91, -3.3}, Vec3{-20.05, 10.4, 12.6}, Vec3{30.2, -20.7, 7.77}}) {
        const auto s = viz::sampleTrilinear(vol, p);
        ASSERT_TRUE(s.has_value());
        EXPECT_NEAR(*s, 2 * p.x - 3 * p.y + 0.5 * p.z, 1e-3);
    }
    EXPECT_FALSE(viz::sampleTrilinear(vol, {100, 0, 0}).has_value());   // beyond the right edge (x < -35)
    EXPECT_FALSE(viz::sampleTrilinear(vol, {0, 0, 40}).has_value());    // above the last slice
    EXPECT_TRUE(viz::sampleTrilinear(vol, {45.3, -35.3, -30.5}).has_value()); // within half a voxel of the corner
}

TEST(Fusion, OverlaySliceOfAMovedCopyThroughItsTransformShowsTheReferenceAnatomy) {
    const auto refGrid = referenceGrid();
    const auto moving = makeVolume(movingGrid(), kShift);
    for (auto o : {viz::SliceOrientation::Axial, viz::SliceOrientation::Coronal, viz::SliceOrientation::Sagittal}) {
        const auto a = viz::sliceAxesFor(refGrid, o);
        const int slice = a.sliceCount / 2;
        const auto right = viz::sampleOverlaySlice(refGrid, a, slice, moving, translation(kShift));
        const auto wrong = viz::sampleOverlaySlice(refGrid, a, slice, moving, translation({}));
        ASSERT_EQ(right.size(), static_cast<std::size_t>(a.width) * a.height);
        double worstRight = 0, worstWrong = 0;
        for (int v = 0; v < a.height; ++v)
            for (int u = 0; u < a.width; ++u) {
                const auto idx = viz::screenToIndex(a, u, v, slice);
                const double expected = pattern(refGrid.indexToLps({double(idx[0]), double(idx[1]), double(idx[2])}));
                const float s = right[static_cast<std::size_t>(v) * a.width + u];
                ASSERT_FALSE(std::isnan(s)) << viz::toString(o) << " " << u << "," << v;
                worstRight = std::max(worstRight, std::abs(s - expected));
                const float w = wrong[static_cast<std::size_t>(v) * a.width + u];
                if (!std::isnan(w)) worstWrong = std::max(worstWrong, std::abs(w - expected));
            }
        // Linear interpolation of the smooth pattern on 0.8–1.5 mm voxels: a few units out of a ±700 range.
        EXPECT_LT(worstRight, 8.0) << viz::toString(o);
        EXPECT_GT(worstWrong, 150.0) << viz::toString(o) << ": ignoring the transform must show";
    }
}

TEST(Fusion, DeformablePathAgreesWithTheLinearPath) {
    // A B-spline whose coefficients are all the same vector displaces every supported point by that vector.
    const auto refGrid = referenceGrid();
    const auto moving = makeVolume(movingGrid(), kShift);
    imaging::SpatialTransform deformable;
    imaging::BSplineDeformation d;
    d.gridSize = {8, 8, 8};
    d.gridSpacing = {20, 20, 20};
    d.gridOrigin = {-60, -60, -60};
    d.coefficients.assign(512, Vec3{2.0, -1.0, 0.5});
    ASSERT_TRUE(d.valid());
    deformable.deformation = d;
    deformable.matrix.translation = kShift - Vec3{2.0, -1.0, 0.5};
    const auto a = viz::sliceAxesFor(refGrid, viz::SliceOrientation::Axial);
    const auto viaSpline = viz::sampleOverlaySlice(refGrid, a, 7, moving, deformable);
    const auto viaMatrix = viz::sampleOverlaySlice(refGrid, a, 7, moving, translation(kShift));
    ASSERT_EQ(viaSpline.size(), viaMatrix.size());
    for (std::size_t i = 0; i < viaSpline.size(); ++i) ASSERT_NEAR(viaSpline[i], viaMatrix[i], 1e-2) << i;
}

TEST(Fusion, CheckerboardAlternatesReferenceAndSeriesSquares) {
    const auto refGrid = referenceGrid();
    const auto ref = makeVolume(refGrid, {});
    const auto moving = makeVolume(movingGrid(), kShift);
    const auto a = viz::sliceAxesFor(refGrid, viz::SliceOrientation::Axial);
    const int slice = 9;
    const viz::WindowLevel wl{0, 1400};
    viz::FusionSettings s;
    s.mode = viz::FusionMode::Checkerboard;
    s.checkerMm = 10;
    s.window = {100, 800}; // the series has its own window: its squares are visibly different
    const auto samples = viz::sampleOverlaySlice(refGrid, a, slice, moving, translation(kShift));
    const auto before = referenceRgba(ref, a, slice, wl);
    auto fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    // 10 mm squares of 1 mm pixels: (5, 5) is in the top-left (reference) square, (15, 5) in its right neighbour.
    EXPECT_FALSE(viz::checkerShowsOverlay(a, 5, 5, 10));
    EXPECT_TRUE(viz::checkerShowsOverlay(a, 15, 5, 10));
    EXPECT_TRUE(viz::checkerShowsOverlay(a, 5, 15, 10));
    EXPECT_FALSE(viz::checkerShowsOverlay(a, 15, 15, 10));
    std::size_t refPixels = 0, seriesPixels = 0;
    for (int v = 0; v < a.height; ++v)
        for (int u = 0; u < a.width; ++u) {
            const auto off = viz::rgbaOffset(a, u, v);
            if (!viz::checkerShowsOverlay(a, u, v, 10)) {
                ASSERT_EQ(fused[off], before[off]) << u << "," << v;
                ++refPixels;
            } else {
                // The series' grey at the same anatomy: the reference pattern through the series' window.
                const auto idx = viz::screenToIndex(a, u, v, slice);
                const double anatomy = pattern(refGrid.indexToLps({double(idx[0]), double(idx[1]), double(idx[2])}));
                ASSERT_NEAR(fused[off], viz::windowed(anatomy, s.window), 3.0) << u << "," << v;
                ASSERT_EQ(fused[off], viz::windowed(samples[static_cast<std::size_t>(v) * a.width + u], s.window));
                ++seriesPixels;
            }
        }
    EXPECT_GT(refPixels, 1000u);
    EXPECT_GT(seriesPixels, 1000u);
}

TEST(Fusion, BlendAndColourOverlayMixAsTheSliderSays) {
    const auto refGrid = referenceGrid();
    const auto ref = makeVolume(refGrid, {});
    const auto moving = makeVolume(movingGrid(), kShift);
    const auto a = viz::sliceAxesFor(refGrid, viz::SliceOrientation::Coronal);
    const int slice = 20;
    const viz::WindowLevel wl{0, 1400};
    const auto samples = viz::sampleOverlaySlice(refGrid, a, slice, moving, translation(kShift));
    const auto before = referenceRgba(ref, a, slice, wl);
    viz::FusionSettings s;
    s.window = {300, 600};
    for (const double opacity : {0.0, 0.3, 1.0}) {
        s.mode = viz::FusionMode::Blend;
        s.opacity = opacity;
        auto fused = before;
        viz::fuseSlice(a, samples, s, fused.data());
        for (int v = 0; v < a.height; v += 3)
            for (int u = 0; u < a.width; u += 3) {
                const auto off = viz::rgbaOffset(a, u, v);
                const double series = viz::windowed(samples[static_cast<std::size_t>(v) * a.width + u], s.window);
                ASSERT_NEAR(fused[off], (1 - opacity) * before[off] + opacity * series, 0.51) << opacity;
                ASSERT_EQ(fused[off], fused[off + 1]); // grey
            }
    }
    // Colour overlay: values below the series window leave the reference grey; bright ones turn it hot-coloured.
    s.mode = viz::FusionMode::ColourOverlay;
    s.opacity = 0.8;
    auto fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    std::size_t below = 0, coloured = 0;
    for (int v = 0; v < a.height; ++v)
        for (int u = 0; u < a.width; ++u) {
            const auto off = viz::rgbaOffset(a, u, v);
            const float value = samples[static_cast<std::size_t>(v) * a.width + u];
            if (value <= s.window.centre - s.window.width / 2) {
                ASSERT_EQ(fused[off], before[off]);
                ASSERT_EQ(fused[off + 2], before[off + 2]);
                ++below;
            } else if (value > 300 && value < 500) { // the middle of the map: red to yellow
                EXPECT_GT(fused[off], fused[off + 2]) << "hot colours are red/yellow, not blue";
                ++coloured;
            }
        }
    EXPECT_GT(below, 100u);
    EXPECT_GT(coloured, 100u);
    // The colour map runs black → red → yellow → white.
    EXPECT_EQ(viz::hotColour(0), (std::array<unsigned char, 3>{0, 0, 0}));
    EXPECT_EQ(viz::hotColour(1.0 / 3), (std::array<unsigned char, 3>{255, 0, 0}));
    EXPECT_EQ(viz::hotColour(1), (std::array<unsigned char, 3>{255, 255, 255}));
}

TEST(Fusion, CheckerboardShowsBlackWhereTheSeriesHasNoImage) {
    const auto refGrid = referenceGrid();
    const auto ref = makeVolume(refGrid, {});
    const auto moving = makeVolume(movingGrid(), kShift);
    const auto a = viz::sliceAxesFor(refGrid, viz::SliceOrientation::Axial);
    // Moved 200 mm away: no overlay anywhere on the slice.
    const auto samples = viz::sampleOverlaySlice(refGrid, a, 5, moving, translation({200, 0, 0}));
    for (float f : samples) ASSERT_TRUE(std::isnan(f));
    const auto before = referenceRgba(ref, a, 5, {0, 1400});
    viz::FusionSettings s;
    s.mode = viz::FusionMode::Checkerboard;
    s.checkerMm = 10;
    auto fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    EXPECT_EQ(fused[viz::rgbaOffset(a, 15, 5)], 0);
    EXPECT_EQ(fused[viz::rgbaOffset(a, 5, 5)], before[viz::rgbaOffset(a, 5, 5)]);
    s.mode = viz::FusionMode::Blend;
    fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    EXPECT_EQ(fused, before);
}

TEST(Fusion, PaddingValuesAreNotImage) {
    // An ultrasound-like series: image inside a region, its minimum (0) around it. Blend leaves the reference there.
    const auto refGrid = referenceGrid();
    const auto ref = makeVolume(refGrid, {});
    const auto a = viz::sliceAxesFor(refGrid, viz::SliceOrientation::Axial);
    std::vector<float> samples(static_cast<std::size_t>(a.width) * a.height, 0.0f);
    for (int v = 10; v < 30; ++v)
        for (int u = 10; u < 40; ++u) samples[static_cast<std::size_t>(v) * a.width + u] = 300.0f;
    const auto before = referenceRgba(ref, a, 5, {0, 1400});
    viz::FusionSettings s;
    s.mode = viz::FusionMode::Blend;
    s.opacity = 1.0;
    s.window = {150, 300};
    s.paddingAtOrBelow = 0;
    auto fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    EXPECT_EQ(fused[viz::rgbaOffset(a, 5, 5)], before[viz::rgbaOffset(a, 5, 5)]); // padding: the reference
    EXPECT_EQ(fused[viz::rgbaOffset(a, 20, 20)], 255);                          // image: the series
    s.mode = viz::FusionMode::Checkerboard;
    s.checkerMm = 10;
    fused = before;
    viz::fuseSlice(a, samples, s, fused.data());
    EXPECT_EQ(fused[viz::rgbaOffset(a, 35, 5)], 0);   // a series square over padding: black, no image there
    EXPECT_EQ(fused[viz::rgbaOffset(a, 15, 25)], 255); // a series square over image
}
