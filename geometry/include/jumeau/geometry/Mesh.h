#pragma once
// Triangle surface in LPS millimetres: float points, int triangles (indices into points).

#include <array>
#include <cstddef>
#include <vector>

#include "jumeau/geometry/Vec.h"

namespace jumeau::geometry {

struct Mesh {
    std::vector<std::array<float, 3>> points;
    std::vector<std::array<int, 3>> triangles;

    bool empty() const { return triangles.empty(); }
    std::size_t pointCount() const { return points.size(); }
    std::size_t triangleCount() const { return triangles.size(); }

    // True when every triangle index refers to an existing point.
    bool indicesValid() const;
    // Enclosed volume in mm^3 by the divergence theorem; positive for a closed outward-oriented surface.
    double signedVolumeMm3() const;
    double areaMm2() const;
    // Every undirected edge is shared by exactly two triangles, used once in each direction.
    bool isClosedAndOriented() const;
    void transform(const Transform& t);
};

} // namespace jumeau::geometry
