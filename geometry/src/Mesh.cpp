#include "jumeau/geometry/Mesh.h"

#include <cstdint>
#include <unordered_map>

namespace jumeau::geometry {

namespace {
Vec3 toVec(const std::array<float, 3>& p) { return {p[0], p[1], p[2]}; }
} // namespace

bool Mesh::indicesValid() const {
    const auto n = static_cast<long long>(points.size());
    for (const auto& t : triangles)
        for (int v : t)
            if (v < 0 || v >= n) return false;
    return true;
}

double Mesh::signedVolumeMm3() const {
    double sum = 0;
    for (const auto& t : triangles) {
        const Vec3 a = toVec(points[t[0]]), b = toVec(points[t[1]]), c = toVec(points[t[2]]);
        sum += dot(a, cross(b, c));
    }
    return sum / 6.0;
}

double Mesh::areaMm2() const {
    double sum = 0;
    for (const auto& t : triangles) {
        const Vec3 a = toVec(points[t[0]]), b = toVec(points[t[1]]), c = toVec(points[t[2]]);
        sum += 0.5 * norm(cross(b - a, c - a));
    }
    return sum;
}

bool Mesh::isClosedAndOriented() const {
    if (triangles.empty() || !indicesValid()) return false;
    // Directed edge (a,b) counts; a closed, consistently oriented 2-manifold has each directed edge once
    // and its reverse once.
    std::unordered_map<std::uint64_t, int> directed;
    directed.reserve(triangles.size() * 3);
    auto key = [](int a, int b) { return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b); };
    for (const auto& t : triangles)
        for (int e = 0; e < 3; ++e) {
            const int a = t[e], b = t[(e + 1) % 3];
            if (a == b) return false;
            if (++directed[key(a, b)] > 1) return false;
        }
    for (const auto& [k, count] : directed) {
        const int a = static_cast<int>(k >> 32), b = static_cast<int>(k & 0xffffffffu);
        if (directed.find(key(b, a)) == directed.end()) return false;
        (void)count;
    }
    return true;
}

void Mesh::transform(const Transform& t) {
    for (auto& p : points) {
        const Vec3 q = t.apply(toVec(p));
        p = {static_cast<float>(q.x), static_cast<float>(q.y), static_cast<float>(q.z)};
    }
    if (t.linear.determinant() < 0)
        for (auto& tri : triangles) std::swap(tri[1], tri[2]); // keep outward orientation under mirroring
}

} // namespace jumeau::geometry
