#pragma once
// Validity and measures of a triangle surface, checked with CGAL (exact predicates).

#include <cstddef>
#include <string>
#include <vector>

#include "jumeau/geometry/Mesh.h"
#include "jumeau/geometry/Vec.h"

namespace jumeau::geometry {

struct MeshReport {
    bool closed = false;          // no border edge
    bool manifold = false;        // every edge in two triangles, every vertex a single fan
    bool outwardOriented = false; // consistent orientation, normals pointing out of the enclosed volume
    bool selfIntersecting = false;
    double volumeMl = 0;
    double areaCm2 = 0;
    std::size_t triangles = 0;
    std::size_t components = 0;

    bool valid() const { return triangles > 0 && closed && manifold && outwardOriented && !selfIntersecting; }
    // "closed, manifold, ..." or the list of what is wrong.
    std::string describe() const;
};

MeshReport analyseMesh(const Mesh& mesh);

// Indices of triangles that intersect another triangle (not counting shared edges/vertices).
std::vector<std::size_t> selfIntersectingTriangles(const Mesh& mesh);

struct PointQuery {
    double distanceMm = 0; // to the nearest point of the surface
    bool inside = false;   // strictly inside the closed surface
};
// For closed meshes; `inside` is false for every point when the mesh is not closed.
std::vector<PointQuery> queryPoints(const Mesh& mesh, const std::vector<Vec3>& points);

} // namespace jumeau::geometry
