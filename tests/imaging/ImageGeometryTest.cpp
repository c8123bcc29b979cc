#include <gtest/gtest.h>

#include <numbers>

#include "jumeau/imaging/ImageGeometry.h"

using namespace jumeau::imaging;
using jumeau::geometry::distance;

namespace {
ImageGeometry axialCt() {
    ImageGeometry g;
    g.size = {256, 256, 160};
    g.spacing = {0.8, 0.8, 1.5};
    g.origin = {-102, -110, -200};
    return g;
}
} // namespace

TEST(ImageGeometry, AxialIndexToLps) {
    const ImageGeometry g = axialCt();
    const Vec3 p = g.indexToLps({10, 20, 30});
    EXPECT_DOUBLE_EQ(p.x, -102 + 8);
    EXPECT_DOUBLE_EQ(p.y, -110 + 16);
    EXPECT_DOUBLE_EQ(p.z, -200 + 45);
    EXPECT_EQ(g.voxelCount(), 256u * 256u * 160u);
    EXPECT_NEAR(g.voxelVolumeMm3(), 0.96, 1e-12);
}

TEST(ImageGeometry, ObliqueRoundTrip) {
    ImageGeometry g = axialCt();
    g.direction = Mat3::rotationXYZ(0.3, -0.2, 0.7);
    ASSERT_TRUE(g.isValid());
    for (const Vec3 idx : {Vec3{0, 0, 0}, Vec3{255, 0, 159}, Vec3{12.25, 100.5, 77.75}}) {
        const Vec3 lps = g.indexToLps(idx);
        EXPECT_NEAR(distance(g.lpsToIndex(lps), idx), 0, 1e-9);
    }
    // Moving one voxel along j moves spacing[1] mm along the j axis direction.
    const Vec3 step = g.indexToLps({0, 1, 0}) - g.indexToLps({0, 0, 0});
    EXPECT_NEAR(distance(step, g.axis(1) * 0.8), 0, 1e-12);
}

TEST(ImageGeometry, CoronalAcquisitionMapsAxesToPatient) {
    // Coronal slices: rows along +x (L), columns along -z (towards feet), slice normal along +y (posterior).
    ImageGeometry g;
    g.size = {10, 10, 5};
    g.direction = Mat3::fromColumns({1, 0, 0}, {0, 0, -1}, {0, 1, 0});
    ASSERT_TRUE(g.isValid());
    const auto axes = g.closestIndexAxes();
    EXPECT_EQ(axes[0], 0); // L-R is index i
    EXPECT_EQ(axes[1], 2); // A-P is index k
    EXPECT_EQ(axes[2], 1); // S-I is index j
}

TEST(ImageGeometry, InvalidDirectionOrSpacingDetected) {
    ImageGeometry g = axialCt();
    g.spacing.z = 0;
    EXPECT_FALSE(g.isValid());
    g = axialCt();
    g.direction = Mat3::fromColumns({1, 0, 0}, {0.5, 0.5, 0}, {0, 0, 1});
    EXPECT_FALSE(g.isValid());
}

TEST(ImageGeometry, SameGridTolerance) {
    const ImageGeometry a = axialCt();
    ImageGeometry b = a;
    b.origin.x += 1e-4;
    EXPECT_TRUE(a.sameGrid(b));
    b.origin.x += 0.01;
    EXPECT_FALSE(a.sameGrid(b));
}
