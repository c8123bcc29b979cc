#pragma once
// Synthetic masks with analytic answers for the meshing tests: a grid sampled at voxel centres from an implicit
// shape, and the distance from points to the analytic surface.

#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include "jumeau/geometry/LabelMesher.h"

namespace jumeau::geometry::testing {

// Grid of `size` voxels centred on `centre` (LPS mm), inside where inside(lps) is true.
inline BinaryGrid sampleGrid(std::array<int, 3> size, Vec3 spacing, Vec3 centre, const Mat3& direction,
                             const std::function<bool(const Vec3&)>& inside) {
    BinaryGrid g;
    g.size = size;
    g.spacing = spacing;
    g.direction = direction;
    const Vec3 halfExtent{(size[0] - 1) * spacing.x / 2, (size[1] - 1) * spacing.y / 2, (size[2] - 1) * spacing.z / 2};
    g.origin = centre - direction * halfExtent;
    g.voxels.resize(g.voxelCount());
    std::size_t n = 0;
    for (int k = 0; k < size[2]; ++k)
        for (int j = 0; j < size[1]; ++j)
            for (int i = 0; i < size[0]; ++i, ++n) {
                const Vec3 p = g.origin + direction * Vec3{i * spacing.x, j * spacing.y, k * spacing.z};
                g.voxels[n] = inside(p) ? Inside : Outside;
            }
    return g;
}

// Points spread evenly over the unit sphere (Fibonacci lattice).
inline std::vector<Vec3> unitSpherePoints(int n) {
    std::vector<Vec3> pts;
    const double golden = std::numbers::pi * (3 - std::sqrt(5.0));
    for (int i = 0; i < n; ++i) {
        const double z = 1 - 2 * (i + 0.5) / n, r = std::sqrt(1 - z * z), a = golden * i;
        pts.push_back({r * std::cos(a), r * std::sin(a), z});
    }
    return pts;
}

// Mesh vertices and face centroids: where the mesh surface is sampled against the analytic one.
inline std::vector<Vec3> meshSamples(const Mesh& m) {
    std::vector<Vec3> pts;
    for (const auto& p : m.points) pts.push_back({p[0], p[1], p[2]});
    for (const auto& t : m.triangles) {
        Vec3 c;
        for (int v : t) c += Vec3{m.points[v][0], m.points[v][1], m.points[v][2]} / 3.0;
        pts.push_back(c);
    }
    return pts;
}

} // namespace jumeau::geometry::testing
