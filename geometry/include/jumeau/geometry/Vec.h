#pragma once
// Small fixed-size linear algebra in double precision for patient-space geometry (LPS, millimetres).

#include <array>
#include <cmath>
#include <optional>

namespace jumeau::geometry {

struct Vec3 {
    double x = 0, y = 0, z = 0;

    constexpr double operator[](int i) const { return i == 0 ? x : (i == 1 ? y : z); }
    constexpr double& operator[](int i) { return i == 0 ? x : (i == 1 ? y : z); }
    constexpr Vec3 operator+(const Vec3& o) const { return {x + o.x, y + o.y, z + o.z}; }
    constexpr Vec3 operator-(const Vec3& o) const { return {x - o.x, y - o.y, z - o.z}; }
    constexpr Vec3 operator-() const { return {-x, -y, -z}; }
    constexpr Vec3 operator*(double s) const { return {x * s, y * s, z * s}; }
    constexpr Vec3 operator/(double s) const { return {x / s, y / s, z / s}; }
    constexpr Vec3& operator+=(const Vec3& o) { x += o.x; y += o.y; z += o.z; return *this; }
    constexpr bool operator==(const Vec3&) const = default;
};

constexpr Vec3 operator*(double s, const Vec3& v) { return v * s; }
constexpr double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
constexpr Vec3 cross(const Vec3& a, const Vec3& b) {
    return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double norm(const Vec3& v) { return std::sqrt(dot(v, v)); }
inline Vec3 normalized(const Vec3& v) { const double n = norm(v); return n > 0 ? v / n : v; }
inline double distance(const Vec3& a, const Vec3& b) { return norm(a - b); }

// Row-major 3x3 matrix: m[r][c].
struct Mat3 {
    std::array<std::array<double, 3>, 3> m{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};

    static constexpr Mat3 identity() { return Mat3{}; }
    static Mat3 fromColumns(const Vec3& c0, const Vec3& c1, const Vec3& c2);
    // Rotation about x, then y, then z (angles in radians): R = Rz * Ry * Rx.
    static Mat3 rotationXYZ(double ax, double ay, double az);

    Vec3 column(int c) const { return {m[0][c], m[1][c], m[2][c]}; }
    // Inline: the meshing chain maps every vertex and triangle through one.
    constexpr Vec3 operator*(const Vec3& v) const {
        return {m[0][0] * v.x + m[0][1] * v.y + m[0][2] * v.z, m[1][0] * v.x + m[1][1] * v.y + m[1][2] * v.z,
                m[2][0] * v.x + m[2][1] * v.y + m[2][2] * v.z};
    }
    Mat3 operator*(const Mat3& o) const;
    Mat3 transposed() const;
    double determinant() const;
    std::optional<Mat3> inverse() const;
    bool operator==(const Mat3&) const = default;
};

// Affine transform of points: p' = linear * p + translation. For rigid transforms linear is a rotation.
struct Transform {
    Mat3 linear;
    Vec3 translation;

    static Transform identity() { return {}; }
    static Transform rigid(const Mat3& rotation, const Vec3& translation) { return {rotation, translation}; }
    // 4x4 row-major homogeneous matrix (last row 0 0 0 1).
    static Transform fromMatrix4(const std::array<std::array<double, 4>, 4>& m);
    std::array<std::array<double, 4>, 4> matrix4() const;

    Vec3 apply(const Vec3& p) const { return linear * p + translation; }
    Vec3 applyToVector(const Vec3& v) const { return linear * v; }
    Transform operator*(const Transform& o) const; // (this * o)(p) = this(o(p))
    std::optional<Transform> inverse() const;
};

} // namespace jumeau::geometry
