#include <gtest/gtest.h>

#include <numbers>

#include "jumeau/geometry/Vec.h"

using namespace jumeau::geometry;

TEST(Mat3, RotationIsOrthonormalWithUnitDeterminant) {
    const Mat3 r = Mat3::rotationXYZ(0.1, -0.4, 1.2);
    EXPECT_NEAR(r.determinant(), 1.0, 1e-12);
    const Mat3 rtr = r.transposed() * r;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) EXPECT_NEAR(rtr.m[i][j], i == j ? 1.0 : 0.0, 1e-12);
}

TEST(Mat3, RotationAboutZTurnsXIntoY) {
    const Vec3 v = Mat3::rotationXYZ(0, 0, std::numbers::pi / 2) * Vec3{1, 0, 0};
    EXPECT_NEAR(v.x, 0, 1e-12);
    EXPECT_NEAR(v.y, 1, 1e-12);
    EXPECT_NEAR(v.z, 0, 1e-12);
}

TEST(Mat3, SingularMatrixHasNoInverse) {
    Mat3 m = Mat3::fromColumns({1, 0, 0}, {2, 0, 0}, {0, 0, 1});
    EXPECT_FALSE(m.inverse().has_value());
}

TEST(Transform, InverseUndoesAndComposes) {
    const Transform t = Transform::rigid(Mat3::rotationXYZ(0.2, 0.3, -0.5), {10, -20, 5});
    const auto inv = t.inverse();
    ASSERT_TRUE(inv.has_value());
    const Vec3 p{12.5, -3, 44};
    const Vec3 back = inv->apply(t.apply(p));
    EXPECT_NEAR(distance(back, p), 0, 1e-10);
    const Transform id = *inv * t;
    EXPECT_NEAR(distance(id.apply(p), p), 0, 1e-10);
}

TEST(Transform, Matrix4RoundTrip) {
    const Transform t = Transform::rigid(Mat3::rotationXYZ(0.7, 0, 0.1), {1, 2, 3});
    const auto m = t.matrix4();
    EXPECT_EQ(m[3][3], 1.0);
    EXPECT_EQ(m[0][3], 1.0);
    const Transform u = Transform::fromMatrix4(m);
    EXPECT_EQ(u.linear, t.linear);
    EXPECT_EQ(u.translation, t.translation);
}
