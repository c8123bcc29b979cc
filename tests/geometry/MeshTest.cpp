#include <gtest/gtest.h>

#include "jumeau/geometry/Mesh.h"

using namespace jumeau::geometry;

namespace {
// Axis-aligned box [0,a]x[0,b]x[0,c], outward-oriented.
Mesh box(float a, float b, float c) {
    Mesh m;
    m.points = {{0, 0, 0}, {a, 0, 0}, {a, b, 0}, {0, b, 0}, {0, 0, c}, {a, 0, c}, {a, b, c}, {0, b, c}};
    m.triangles = {{0, 2, 1}, {0, 3, 2}, {4, 5, 6}, {4, 6, 7}, {0, 1, 5}, {0, 5, 4},
                   {1, 2, 6}, {1, 6, 5}, {2, 3, 7}, {2, 7, 6}, {3, 0, 4}, {3, 4, 7}};
    return m;
}
} // namespace

TEST(Mesh, BoxVolumeAndArea) {
    const Mesh m = box(2, 3, 4);
    EXPECT_NEAR(m.signedVolumeMm3(), 24.0, 1e-9);
    EXPECT_NEAR(m.areaMm2(), 2 * (6 + 8 + 12), 1e-9);
    EXPECT_TRUE(m.isClosedAndOriented());
}

TEST(Mesh, OpenMeshIsNotClosed) {
    Mesh m = box(1, 1, 1);
    m.triangles.pop_back();
    EXPECT_FALSE(m.isClosedAndOriented());
}

TEST(Mesh, FlippedTriangleBreaksOrientation) {
    Mesh m = box(1, 1, 1);
    std::swap(m.triangles[0][1], m.triangles[0][2]);
    EXPECT_FALSE(m.isClosedAndOriented());
}

TEST(Mesh, InvalidIndexDetected) {
    Mesh m = box(1, 1, 1);
    m.triangles[3][1] = 99;
    EXPECT_FALSE(m.indicesValid());
    EXPECT_FALSE(m.isClosedAndOriented());
}

TEST(Mesh, MirrorTransformKeepsOutwardOrientation) {
    Mesh m = box(2, 3, 4);
    Transform mirror; // LPS -> RAS flips x and y: determinant +1, so use a single-axis mirror here
    mirror.linear = Mat3::fromColumns({-1, 0, 0}, {0, 1, 0}, {0, 0, 1});
    m.transform(mirror);
    EXPECT_NEAR(m.signedVolumeMm3(), 24.0, 1e-9);
    EXPECT_TRUE(m.isClosedAndOriented());
}
