#include "jumeau/geometry/Vec.h"

namespace jumeau::geometry {

Mat3 Mat3::fromColumns(const Vec3& c0, const Vec3& c1, const Vec3& c2) {
    Mat3 r;
    for (int i = 0; i < 3; ++i) {
        r.m[i][0] = c0[i];
        r.m[i][1] = c1[i];
        r.m[i][2] = c2[i];
    }
    return r;
}

Mat3 Mat3::rotationXYZ(double ax, double ay, double az) {
    Mat3 rx, ry, rz;
    rx.m = {{{1, 0, 0}, {0, std::cos(ax), -std::sin(ax)}, {0, std::sin(ax), std::cos(ax)}}};
    ry.m = {{{std::cos(ay), 0, std::sin(ay)}, {0, 1, 0}, {-std::sin(ay), 0, std::cos(ay)}}};
    rz.m = {{{std::cos(az), -std::sin(az), 0}, {std::sin(az), std::cos(az), 0}, {0, 0, 1}}};
    return rz * ry * rx;
}

Mat3 Mat3::operator*(const Mat3& o) const {
    Mat3 r;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) r.m[i][j] = m[i][0] * o.m[0][j] + m[i][1] * o.m[1][j] + m[i][2] * o.m[2][j];
    return r;
}

Mat3 Mat3::transposed() const {
    Mat3 r;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) r.m[i][j] = m[j][i];
    return r;
}

double Mat3::determinant() const {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

std::optional<Mat3> Mat3::inverse() const {
    const double det = determinant();
    if (std::abs(det) < 1e-12) return std::nullopt;
    Mat3 r;
    r.m[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
    r.m[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    r.m[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    r.m[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
    r.m[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    r.m[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    r.m[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
    r.m[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    r.m[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    return r;
}

Transform Transform::fromMatrix4(const std::array<std::array<double, 4>, 4>& m) {
    Transform t;
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) t.linear.m[i][j] = m[i][j];
        t.translation[i] = m[i][3];
    }
    return t;
}

std::array<std::array<double, 4>, 4> Transform::matrix4() const {
    std::array<std::array<double, 4>, 4> r{};
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) r[i][j] = linear.m[i][j];
        r[i][3] = translation[i];
    }
    r[3] = {0, 0, 0, 1};
    return r;
}

Transform Transform::operator*(const Transform& o) const {
    return {linear * o.linear, linear * o.translation + translation};
}

std::optional<Transform> Transform::inverse() const {
    const auto inv = linear.inverse();
    if (!inv) return std::nullopt;
    return Transform{*inv, -(*inv * translation)};
}

} // namespace jumeau::geometry
